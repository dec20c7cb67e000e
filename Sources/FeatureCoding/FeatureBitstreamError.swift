// Typed errors of the feature bitstream container (FeatureBitstream.swift). Each case says what was expected
// and what was found; the decoder throws one of these for any byte sequence that is not a valid frame within
// the caller's limits. Quantiser errors are `QuantizerError`; the symbol codecs' own errors reach the caller
// wrapped in `.payloadCorrupt`. "Unknown model" is not an error here: the caller routes on `modelID`.

/// A feature frame could not be encoded or decoded.
public enum FeatureBitstreamError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The first four bytes are not "AEFC".
    case badMagic(found: [UInt8])
    /// The version byte names a format this decoder does not implement.
    case unsupportedVersion(found: Int, supported: [Int])
    /// The input ends before `field` is complete.
    case truncated(field: String, needed: Int, available: Int)
    /// The input is longer than the frame-length field says.
    case trailingBytes(frameLength: Int, inputLength: Int)
    /// The CRC-32 stored at the end differs from the CRC-32 of the bytes before it.
    case crcMismatch(stored: UInt32, computed: UInt32)
    /// A size exceeds a caller-given limit (or the format's own maximum).
    case oversized(field: String, value: Int, limit: Int)
    /// A field holds a value the format does not allow.
    case invalidField(field: String, expected: String, found: String)
    /// The codec id byte is not one of the codecs in docs/bitstream.md.
    case unknownCodec(UInt8)
    /// The quantiser mode byte is not one of the modes in docs/bitstream.md.
    case unknownQuantizerMode(UInt8)
    /// The payload decodes (or declares it decodes) to a different number of symbols than `K·H·W`.
    case payloadSizeMismatch(expected: Int, found: Int)
    /// The symbol codec rejected the payload.
    case payloadCorrupt(codec: String, underlying: FeatureCodingError)
    /// A compact frame's model key (`keyBits` 16 in version 3, 32 in version 2) matches none of the receiver's models.
    case unknownModelKey(UInt32, keyBits: Int, known: [String])
    /// A version-3 frame's CRC, started from the model key of each model with the frame's short key, matches none:
    /// the frame was damaged, or encoded for another model that shares the short key.
    case compactCRCMismatch(stored: UInt32, models: [String])

    public var description: String {
        switch self {
        case .badMagic(let f):
            return "not a feature frame: magic bytes \(hexString(f)), expected 41 45 46 43 (\"AEFC\") or a compact frame's A3, A4 (or A2). Fix: check that the sender speaks this format."
        case .unsupportedVersion(let f, let s):
            return "feature frame format version \(f) is not supported; this decoder reads \(s.map(String.init).joined(separator: ", ")). Fix: upgrade the edge server or configure the device to send version \(s.last ?? 1)."
        case .truncated(let field, let n, let a):
            return "feature frame truncated in \(field): expected \(n) bytes, found \(a). Fix: check the transport for cut-off messages."
        case .trailingBytes(let l, let i):
            return "feature frame length field says \(l) bytes, found \(i) bytes of input. Fix: pass exactly one frame per decode call."
        case .crcMismatch(let s, let c):
            return "feature frame CRC-32 mismatch: stored 0x\(hex32(s)), computed 0x\(hex32(c)). The frame was damaged after encoding. Fix: check the transport; resend."
        case .oversized(let field, let v, let l):
            return "feature frame \(field) is \(v), above the limit \(l). Fix: raise the decoder's limit if the frame is legitimate."
        case .invalidField(let field, let e, let f):
            return "feature frame field \(field): expected \(e), found \(f). Fix: the encoder wrote an invalid frame; see docs/bitstream.md."
        case .unknownCodec(let id):
            return "feature frame codec id \(id) is unknown; expected 0 (raw), 1 (zstd), 2 (arithmetic order-0), 3, 4 or 5 (arithmetic context models). Fix: upgrade the decoder or pick a supported codec on the device."
        case .unknownQuantizerMode(let m):
            return "feature frame quantiser mode \(m) is unknown; expected 0 (per tensor), 1 (per channel), 2 (fixed per tensor) or 3 (fixed per channel). Fix: upgrade the decoder or pick a supported mode."
        case .payloadSizeMismatch(let e, let f):
            return "feature frame payload holds \(f) symbols, expected K·H·W = \(e). Fix: the encoder's shape, channel list and payload disagree."
        case .payloadCorrupt(let codec, let err):
            return "feature frame payload (\(codec)) rejected: \(err)"
        case .unknownModelKey(let key, let bits, let known):
            let show: (UInt32) -> String = { bits == 16 ? hex16(UInt16(truncatingIfNeeded: $0)) : hex32($0) }
            return "compact feature frame for model key 0x\(show(key)), which is none of the models known here (\(known.isEmpty ? "none" : known.map { "\($0) = 0x\(show(FrameContext.key($0)))" }.joined(separator: ", "))). Fix: send to the server that serves this model, or send self-describing frames."
        case .compactCRCMismatch(let stored, let models):
            return "compact feature frame CRC-32 0x\(hex32(stored)) matches no model with its key (\(models.joined(separator: ", "))): the frame was damaged after encoding, or encoded for another model whose 16-bit key is the same. Fix: check the transport and resend; or send to the server that serves the frame's model."
        }
    }
}

func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: 8 - s.count) + s
}

func hex16(_ v: UInt16) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: 4 - s.count) + s
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}
