// The feature bitstream container: one self-describing, versioned frame per feature tensor sent from the
// device to the edge server — who it is for (model id, split point), what it holds (shape, carried channels,
// quantiser, codec) and the coded symbols, closed by a CRC-32. The byte layout is specified in
// docs/bitstream.md, precisely enough to write an independent decoder. This file does not decide which model
// a frame belongs to (the caller routes on `modelID`) and does not touch tensors.
//
// Decoding never trusts a length: every count is checked against the bytes that remain and the caller's
// limits before anything is allocated; the CRC is checked as soon as the frame's extent is known.

import CZstd

/// The symbol codec of a frame and its parameter (the bitstream's codec id and parameter fields).
public enum FeatureCodec: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Id 0: the symbols themselves, one byte per element.
    case raw
    /// Id 1: one zstd frame of the symbol bytes (RFC 8878). `level` (−32768…32767) is informational only.
    case zstd(level: Int)
    /// Id 2: `ArithmeticSymbolCodec(model: .order0)` (docs/coders.md).
    case arithmeticOrder0
    /// Id 3: `ArithmeticSymbolCodec(model: .context3(rateLimit:))`, the previous context model; `rateLimit`
    /// ∈ 1…1022 is needed to decode.
    case arithmeticContext3(rateLimit: Int)
    /// Id 4: `ArithmeticSymbolCodec(model: .context4(cdfShift:))`, the context model with modelled signs;
    /// `cdfShift` ∈ 1…14 is needed to decode.
    case arithmeticContext4(cdfShift: Int)
    /// Id 5: `ArithmeticSymbolCodec(model: .context(cdfShift:))`, the context model (raw signs); `cdfShift`
    /// ∈ 1…14 is needed to decode.
    case arithmeticContext(cdfShift: Int)

    /// The context coder with its default adaptation (CDF shift 6).
    public static var arithmeticContext: FeatureCodec { .arithmeticContext(cdfShift: 6) }

    /// The codec id byte.
    public var id: UInt8 {
        switch self {
        case .raw: return 0
        case .zstd: return 1
        case .arithmeticOrder0: return 2
        case .arithmeticContext3: return 3
        case .arithmeticContext4: return 4
        case .arithmeticContext: return 5
        }
    }

    public var description: String {
        switch self {
        case .raw: return "raw"
        case .zstd(let l): return "zstd-\(l)"
        case .arithmeticOrder0: return "arith-order0"
        case .arithmeticContext3(let r): return r == 30 ? "arith-context3" : "arith-context3-r\(r)"
        case .arithmeticContext4(let s): return s == 6 ? "arith-context4" : "arith-context4-s\(s)"
        case .arithmeticContext(let s): return s == 6 ? "arith-context" : "arith-context-s\(s)"
        }
    }

    /// The parameter a compact frame leaves out (marker `A3`, docs/bitstream.md §8): raw and order-0 0, zstd
    /// level 19, the tag-3 coder's rate limit 30, the context coders' CDF shift 6.
    static func defaultParameter(id: UInt8) -> UInt16 {
        switch id {
        case 1: return 19
        case 3: return 30
        case 4, 5: return 6
        default: return 0
        }
    }

    /// The 16-bit parameter field, or nil when the parameter is out of its range.
    var parameter: UInt16? {
        switch self {
        case .raw, .arithmeticOrder0: return 0
        case .zstd(let l): return Int16(exactly: l).map { UInt16(bitPattern: $0) }
        case .arithmeticContext3(let r): return (1...1022).contains(r) ? UInt16(r) : nil
        case .arithmeticContext(let s), .arithmeticContext4(let s): return (1...14).contains(s) ? UInt16(s) : nil
        }
    }

    /// The codec for an id and parameter field.
    static func from(id: UInt8, parameter: UInt16) throws -> FeatureCodec {
        switch id {
        case 0, 2:
            guard parameter == 0 else {
                throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "0 for codec id \(id)", found: "\(parameter)")
            }
            return id == 0 ? .raw : .arithmeticOrder0
        case 1: return .zstd(level: Int(Int16(bitPattern: parameter)))
        case 3:
            guard (1...1022).contains(parameter) else {
                throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "rate limit 1…1022 for the tag-3 context coder", found: "\(parameter)")
            }
            return .arithmeticContext3(rateLimit: Int(parameter))
        case 4, 5:
            guard (1...14).contains(parameter) else {
                throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "CDF shift 1…14 for the context coder", found: "\(parameter)")
            }
            return id == 4 ? .arithmeticContext4(cdfShift: Int(parameter)) : .arithmeticContext(cdfShift: Int(parameter))
        default: throw FeatureBitstreamError.unknownCodec(id)
        }
    }

    /// The `SymbolCodec` that codes the payload (nil for raw).
    var symbolCodec: (any SymbolCodec)? {
        switch self {
        case .raw: return nil
        case .zstd(let l): return ZstdSymbolCodec(level: l)
        case .arithmeticOrder0: return ArithmeticSymbolCodec(model: .order0)
        case .arithmeticContext3(let r): return ArithmeticSymbolCodec(model: .context3(rateLimit: r))
        case .arithmeticContext4(let s): return ArithmeticSymbolCodec(model: .context4(cdfShift: s))
        case .arithmeticContext(let s): return ArithmeticSymbolCodec(model: .context(cdfShift: s))
        }
    }
}

/// What a receiver knows about a model once per deployment, so that compact frames need not repeat it: the
/// model id, split point, full shape and carried channels. A compact frame (version 3) names its model by
/// `shortKey`, the low 16 bits of the CRC-32 of the model id's UTF-8 bytes, and its CRC-32 covers the model
/// id before the frame's bytes, so that a frame is accepted only by the context it was encoded for even when
/// two models share a short key. (Version-2 frames carried the whole 32-bit `key`.)
public struct FrameContext: Equatable, Hashable, Sendable {
    public var modelID: String
    public var splitPoint: String
    public var shape: FeatureShape
    public var channels: [Int]

    public init(modelID: String, splitPoint: String, shape: FeatureShape, channels: [Int]) {
        self.modelID = modelID; self.splitPoint = splitPoint; self.shape = shape; self.channels = channels
    }

    /// CRC-32 of the model id: the model key of version-2 frames, and where a version-3 frame's CRC starts.
    public var key: UInt32 { FrameContext.key(modelID) }

    /// The model key version-3 frames carry: the low 16 bits of `key`.
    public var shortKey: UInt16 { UInt16(truncatingIfNeeded: key) }

    /// CRC-32 of the UTF-8 bytes of `modelID`.
    public static func key(_ modelID: String) -> UInt32 { CRC32.checksum(Array(modelID.utf8)) }

    /// The first field in which a frame's header is not for this model (field, expected, found), or nil. The
    /// one check every receiver applies (the edge server, `aecnn decode`, a link).
    public func mismatch(_ h: FeatureFrameHeader) -> (field: String, expected: String, found: String)? {
        if h.modelID != modelID { return ("model id", modelID, h.modelID) }
        if h.splitPoint != splitPoint { return ("split point", splitPoint, h.splitPoint) }
        if h.shape != shape { return ("split tensor shape", "\(shape)", "\(h.shape)") }
        if h.channels != channels { return ("carried channels", "\(channels)", "\(h.channels)") }
        return nil
    }
}

/// Everything in a frame except the payload.
public struct FeatureFrameHeader: Equatable, Sendable {
    /// Format version: 1, the self-describing frame (`FeatureBitstream.version`), or a compact frame whose
    /// model id, split point, shape and channels the receiver knows from a `FrameContext`: 3
    /// (`FeatureBitstream.compactVersion`, a 16-bit model key and a CRC covering the model id) or 2
    /// (`FeatureBitstream.compactVersion2`, a 32-bit model key).
    public var version: Int
    /// Which model (and weights) produced the features; UTF-8, ≤ 255 bytes. aecnn's ids are
    /// `<pipeline>/<split>/V<ratio>@<first 12 hex digits of train-recovery's outputs_sha256>`, e.g.
    /// `"quickstart/stem/V4@9f6ed9079901"`. The edge server looks it up; an unknown model is the caller's error to raise.
    public var modelID: String
    /// The split point's name, e.g. `"stem"`; UTF-8, ≤ 255 bytes.
    public var splitPoint: String
    /// The full split tensor `C × H × W` (every dimension 1…2^32 − 1).
    public var shape: FeatureShape
    /// The carried channels: strictly increasing indices `< C`, at least one.
    public var channels: [Int]
    /// Quantiser bit width, 1…8.
    public var bits: Int
    /// How the quantiser's ranges were chosen.
    public var quantizerMode: QuantizerMode
    /// The ranges the frame carries: 1 (per tensor), one per carried channel (per channel), none (fixed).
    public var ranges: [QuantizerRange]
    /// The payload's codec.
    public var codec: FeatureCodec

    /// - Parameters: see the properties; `version` defaults to the current format version.
    public init(version: Int = FeatureBitstream.version, modelID: String, splitPoint: String, shape: FeatureShape,
                channels: [Int], bits: Int, quantizerMode: QuantizerMode, ranges: [QuantizerRange], codec: FeatureCodec) {
        self.version = version
        self.modelID = modelID
        self.splitPoint = splitPoint
        self.shape = shape
        self.channels = channels
        self.bits = bits
        self.quantizerMode = quantizerMode
        self.ranges = ranges
        self.codec = codec
    }

    /// The shape of the carried symbols, `K × H × W`.
    public var carriedShape: FeatureShape { FeatureShape(channels: channels.count, height: shape.height, width: shape.width) }
}

/// One decoded (or to-be-encoded) feature frame: header plus quantised symbols.
public struct FeatureFrame: Equatable, Sendable {
    public var header: FeatureFrameHeader
    /// The carried channels' symbols, channel-major `K × H × W`, each `< 2^bits`.
    public var symbols: [UInt8]
    /// Bytes of the coded payload (set by `FeatureBitstream.decode`; nil for a frame built locally).
    public var payloadSize: Int?

    /// A frame from already quantised symbols.
    public init(header: FeatureFrameHeader, symbols: [UInt8], payloadSize: Int? = nil) {
        self.header = header
        self.symbols = symbols
        self.payloadSize = payloadSize
    }

    /// Quantises feature values into a frame.
    ///
    /// - Parameters:
    ///   - values: the carried channels only, channel-major `K × H × W`, in the order of `channels`; finite.
    ///   - shape: the full split tensor `C × H × W`.
    ///   - channels: carried channel indices, strictly increasing, `< C`; nil carries all channels.
    ///   - modelID: model identity for routing (UTF-8, ≤ 255 bytes).
    ///   - splitPoint: split point name (UTF-8, ≤ 255 bytes).
    ///   - quantizer: bits and range policy.
    ///   - codec: payload codec.
    /// - Throws: `QuantizerError` for values the quantiser cannot use. Header fields are checked by `encode`.
    public init(values: [Float], shape: FeatureShape, channels: [Int]? = nil, modelID: String, splitPoint: String,
                quantizer: Quantizer, codec: FeatureCodec) throws {
        let carried = channels ?? Array(0..<max(shape.channels, 0))
        let q = try quantizer.quantize(values, shape: shape, channels: carried)
        header = FeatureFrameHeader(modelID: modelID, splitPoint: splitPoint, shape: shape, channels: carried,
                                    bits: quantizer.bits, quantizerMode: quantizer.ranges.mode,
                                    ranges: q.transmittedRanges, codec: codec)
        symbols = q.symbols
        payloadSize = nil
    }

    /// The range of each carried channel (`K` entries).
    ///
    /// - Parameter fixed: for the fixed modes, the model's calibrated ranges (`.fixedPerTensor` or
    ///   `.fixedPerChannel` with `C` entries, matching the frame's mode); ignored for the min–max modes.
    /// - Throws: `QuantizerError.missingFixedRanges`, `.countMismatch`, `.invalidRange`.
    public func channelRanges(fixed: QuantizationRanges? = nil) throws -> [QuantizerRange] {
        let h = header
        let k = h.channels.count
        switch h.quantizerMode {
        case .perTensor:
            guard h.ranges.count == 1 else { throw QuantizerError.countMismatch(what: "per-tensor ranges in the frame", expected: 1, found: h.ranges.count) }
            return Array(repeating: h.ranges[0], count: k)
        case .perChannel:
            guard h.ranges.count == k else { throw QuantizerError.countMismatch(what: "per-channel ranges in the frame", expected: k, found: h.ranges.count) }
            return h.ranges
        case .fixedPerTensor:
            guard case .fixedPerTensor(let r)? = fixed else {
                throw QuantizerError.missingFixedRanges(expected: "fixedPerTensor(range)", found: fixed.map { "\($0.mode)" } ?? "none")
            }
            try r.validate("fixed tensor range")
            return Array(repeating: r, count: k)
        case .fixedPerChannel:
            guard case .fixedPerChannel(let rs)? = fixed else {
                throw QuantizerError.missingFixedRanges(expected: "fixedPerChannel(\(h.shape.channels) ranges)", found: fixed.map { "\($0.mode)" } ?? "none")
            }
            guard rs.count == h.shape.channels else {
                throw QuantizerError.countMismatch(what: "calibrated channel ranges", expected: h.shape.channels, found: rs.count)
            }
            return try h.channels.map { c in
                guard c >= 0, c < rs.count else { throw QuantizerError.invalidChannel("channel index \(c) is outside 0..<\(rs.count)") }
                try rs[c].validate("fixed range of channel \(c)")
                return rs[c]
            }
        }
    }

    /// The dequantised carried channels, `K × H × W` (formula in `Quantizer`'s doc and docs/bitstream.md §4).
    /// - Parameter fixed: the model's calibrated ranges for the fixed modes (see `channelRanges(fixed:)`).
    public func dequantized(fixed: QuantizationRanges? = nil) throws -> [Float] {
        try Quantizer.dequantize(symbols, channelRanges: channelRanges(fixed: fixed),
                                 planeSize: header.shape.height * header.shape.width, bits: header.bits)
    }

    /// The dequantised full tensor `C × H × W`: carried channels in place, the others set to `fill`.
    /// - Parameters:
    ///   - fixed: the model's calibrated ranges for the fixed modes.
    ///   - fill: value of the channels the frame does not carry (0: the zero-fill bridge).
    public func dequantizedFullTensor(fixed: QuantizationRanges? = nil, fill: Float = 0) throws -> [Float] {
        let carried = try dequantized(fixed: fixed)
        guard let n = header.shape.elementCount else {
            throw QuantizerError.countMismatch(what: "elements of shape \(header.shape)", expected: 0, found: carried.count)
        }
        let plane = header.shape.height * header.shape.width
        var out = [Float](repeating: fill, count: n)
        for (k, c) in header.channels.enumerated() {
            guard c >= 0, c < header.shape.channels else { throw QuantizerError.invalidChannel("channel index \(c) is outside 0..<\(header.shape.channels)") }
            out.replaceSubrange((c * plane)..<((c + 1) * plane), with: carried[(k * plane)..<((k + 1) * plane)])
        }
        return out
    }
}

/// Bounds the decoder checks before it allocates anything.
public struct FeatureBitstreamLimits: Equatable, Sendable {
    /// Largest accepted frame, in bytes.
    public var maxBytes: Int
    /// Largest accepted `C·H·W` of the full tensor (the carried `K·H·W` is at most this).
    public var maxElements: Int
    /// Longest accepted model id, in UTF-8 bytes (the format's maximum is 255).
    public var maxModelIDBytes: Int
    /// Longest accepted split point name, in UTF-8 bytes (the format's maximum is 255).
    public var maxSplitPointBytes: Int

    /// Defaults: 64 MiB frames, 2^26 elements, 255-byte strings.
    public init(maxBytes: Int = 64 << 20, maxElements: Int = 1 << 26, maxModelIDBytes: Int = 255, maxSplitPointBytes: Int = 255) {
        self.maxBytes = maxBytes
        self.maxElements = maxElements
        self.maxModelIDBytes = maxModelIDBytes
        self.maxSplitPointBytes = maxSplitPointBytes
    }
}

/// Encoder and decoder of the feature frame format (docs/bitstream.md).
public enum FeatureBitstream {
    /// The four magic bytes, "AEFC".
    public static let magic: [UInt8] = [0x41, 0x45, 0x46, 0x43]
    /// The self-describing format version.
    public static let version = 1
    /// The compact format version the encoders write: first byte `compactMarker` (or
    /// `compactMarkerWithParameter`), a 16-bit model key instead of the model's description, and a CRC
    /// that covers the model id (docs/bitstream.md §8): 8 bytes besides ranges and payload.
    public static let compactVersion = 3
    /// The first byte of a version-3 frame whose codec parameter is the codec's default, left out (a
    /// version-1 frame starts with "A", 0x41).
    public static let compactMarker: UInt8 = 0xA3
    /// The first byte of a version-3 frame that carries its codec parameter.
    public static let compactMarkerWithParameter: UInt8 = 0xA4
    /// Marker, short key, packed bits/mode/codec, CRC: the smallest version-3 frame.
    public static let minimumCompactFrameSize = 1 + 2 + 1 + 4
    /// The first compact format (still read, and written on request): a 32-bit model key, the codec
    /// parameter always present, a CRC of the frame's bytes only; 11 bytes besides ranges and payload.
    public static let compactVersion2 = 2
    /// The first byte of a version-2 frame.
    public static let compactMarker2: UInt8 = 0xA2
    /// Marker, key, packed bits/mode/codec, a 1-byte codec parameter, CRC: the smallest version-2 frame.
    public static let minimumCompactFrameSize2 = 1 + 4 + 1 + 1 + 4
    /// The versions `encode` writes and `decode` reads.
    public static let versions = [version, compactVersion2, compactVersion]
    /// The smallest well-formed frame length: magic, version, length (9), two empty strings (2), C H W K (16),
    /// bits and mode (2), codec id and parameter (3), payload length (4), empty payload, CRC (4).
    public static let minimumFrameSize = 9 + 2 + 16 + 2 + 3 + 4 + 4

    /// Quantises and encodes a feature tensor (`FeatureFrame(values:…)` then `encode(_:)`).
    public static func encode(values: [Float], shape: FeatureShape, channels: [Int]? = nil, modelID: String, splitPoint: String,
                              quantizer: Quantizer, codec: FeatureCodec) throws -> [UInt8] {
        try encode(FeatureFrame(values: values, shape: shape, channels: channels, modelID: modelID,
                                splitPoint: splitPoint, quantizer: quantizer, codec: codec))
    }

    /// Encodes a frame. Deterministic: the same frame gives the same bytes.
    ///
    /// - Throws: `FeatureBitstreamError.invalidField` / `.oversized` / `.unsupportedVersion` for a header the
    ///   format cannot hold (the same checks the decoder applies), and the codec's `FeatureCodingError`.
    public static func encode(_ frame: FeatureFrame) throws -> [UInt8] {
        let h = frame.header
        guard versions.contains(h.version) else {
            throw FeatureBitstreamError.unsupportedVersion(found: h.version, supported: versions)
        }
        let model = Array(h.modelID.utf8), split = Array(h.splitPoint.utf8)
        guard model.count <= 255 else { throw FeatureBitstreamError.oversized(field: "model id (UTF-8 bytes)", value: model.count, limit: 255) }
        guard split.count <= 255 else { throw FeatureBitstreamError.oversized(field: "split point (UTF-8 bytes)", value: split.count, limit: 255) }
        let n = try validate(h, maxElements: .max)
        guard frame.symbols.count == n else {
            throw FeatureBitstreamError.payloadSizeMismatch(expected: n, found: frame.symbols.count)
        }
        if h.bits < 8, let i = frame.symbols.firstIndex(where: { Int($0) >> h.bits != 0 }) {
            throw FeatureBitstreamError.invalidField(field: "symbol \(i)", expected: "< 2^\(h.bits)", found: "\(frame.symbols[i])")
        }
        let payload = try h.codec.symbolCodec?.encode(frame.symbols, shape: h.carriedShape, bits: h.bits) ?? frame.symbols
        if h.version != version { return compact(h, payload: payload) }

        var out: [UInt8] = magic
        out.append(UInt8(version))
        putU32(&out, 0) // frame length, patched below
        out.append(UInt8(model.count)); out += model
        out.append(UInt8(split.count)); out += split
        putU32(&out, UInt32(h.shape.channels)); putU32(&out, UInt32(h.shape.height)); putU32(&out, UInt32(h.shape.width))
        putU32(&out, UInt32(h.channels.count))
        if h.channels.count != h.shape.channels { for c in h.channels { putU32(&out, UInt32(c)) } }
        out.append(UInt8(h.bits)); out.append(h.quantizerMode.rawValue)
        for r in h.ranges { putU32(&out, r.lo.bitPattern); putU32(&out, r.hi.bitPattern) }
        out.append(h.codec.id); putU16(&out, h.codec.parameter!) // validate checked the parameter
        guard payload.count <= Int(UInt32.max) - out.count - 8 else {
            throw FeatureBitstreamError.oversized(field: "frame length", value: out.count + payload.count + 8, limit: Int(UInt32.max))
        }
        putU32(&out, UInt32(payload.count)); out += payload
        let total = UInt32(out.count + 4)
        for i in 0..<4 { out[5 + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt32(i))) }
        putU32(&out, CRC32.checksum(out))
        return out
    }

    /// A compact frame (docs/bitstream.md §8). Version 3: marker (`A3`, or `A4` when the codec parameter
    /// is not the codec's default), 16-bit model key, packed bits/mode/codec id, [codec parameter, LEB128],
    /// ranges, payload, CRC-32 of the model id followed by all of that. Version 2: marker `A2`, 32-bit model
    /// key, packed byte, codec parameter, ranges, payload, CRC-32 of those bytes. The header has been validated.
    static func compact(_ h: FeatureFrameHeader, payload: [UInt8]) -> [UInt8] {
        let parameter = h.codec.parameter!   // validate checked the parameter
        let key = FrameContext.key(h.modelID)
        let explicit = h.version == compactVersion2 || parameter != FeatureCodec.defaultParameter(id: h.codec.id)
        var out: [UInt8]
        if h.version == compactVersion2 {
            out = [compactMarker2]
            putU32(&out, key)
        } else {
            out = [explicit ? compactMarkerWithParameter : compactMarker]
            putU16(&out, UInt16(truncatingIfNeeded: key))
        }
        out.append(UInt8(h.bits - 1) | h.quantizerMode.rawValue << 3 | h.codec.id << 5)
        if explicit { appendLEB128(Int(parameter), to: &out) }
        for r in h.ranges { putU32(&out, r.lo.bitPattern); putU32(&out, r.hi.bitPattern) }
        out += payload
        // Version 3's CRC starts from the CRC of the model id: CRC-32(model id ‖ frame bytes).
        let crc = out.withUnsafeBufferPointer { CRC32.update(h.version == compactVersion2 ? 0 : key, $0) }
        putU32(&out, crc)
        return out
    }

    /// Decodes one frame: exactly one frame, all of `bytes`.
    ///
    /// Checks, in order: size limit, magic, version, frame length, CRC-32, then every field (lengths against
    /// the remaining bytes and `limits` before allocating), then the payload. Fixed-mode frames carry no
    /// ranges: dequantise them with the model's calibration (`FeatureFrame.dequantized(fixed:)`).
    /// - Parameters:
    ///   - bytes: one frame.
    ///   - limits: the caller's bounds.
    /// - Throws: `FeatureBitstreamError` (every case), never traps; allocates at most a small multiple of
    ///   `bytes.count` plus `K·H·W ≤ limits.maxElements` symbols (and the codec's working memory, docs/coders.md).
    /// A compact frame (first byte A3 or A4; A2 for version 2) is read with the context whose key it carries
    /// (and, for version 3, whose model id its CRC covers); `contexts` may be empty for a decoder that only takes
    /// self-describing frames.
    public static func decode(_ bytes: [UInt8], contexts: [FrameContext] = [], limits: FeatureBitstreamLimits = FeatureBitstreamLimits()) throws -> FeatureFrame {
        let (header, payloadRange) = try decodeHeader(bytes, contexts: contexts, limits: limits)
        let shape = header.carriedShape
        let n = shape.elementCount! // ≤ C·H·W, checked against the limit
        let payload = Array(bytes[payloadRange])
        let symbols: [UInt8]
        switch header.codec {
        case .raw:
            guard payload.count == n else { throw FeatureBitstreamError.payloadSizeMismatch(expected: n, found: payload.count) }
            if header.bits < 8, let i = payload.firstIndex(where: { Int($0) >> header.bits != 0 }) {
                throw FeatureBitstreamError.invalidField(field: "payload symbol \(i)", expected: "< 2^\(header.bits)", found: "\(payload[i])")
            }
            symbols = payload
        case .zstd, .arithmeticOrder0, .arithmeticContext3, .arithmeticContext4, .arithmeticContext:
            if case .zstd = header.codec {
                let declared = payload.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
                if declared < UInt64.max - 1, declared != UInt64(n) { // not "unknown" (−1) or "error" (−2)
                    throw FeatureBitstreamError.payloadSizeMismatch(expected: n, found: Int(clamping: declared))
                }
            }
            let codec = header.codec.symbolCodec!
            do {
                symbols = try codec.decode(payload, shape: shape, bits: header.bits)
            } catch let e as FeatureCodingError {
                throw FeatureBitstreamError.payloadCorrupt(codec: codec.name, underlying: e)
            }
        }
        return FeatureFrame(header: header, symbols: symbols, payloadSize: payload.count)
    }

    /// Decodes and checks everything but the payload (including the CRC over the whole frame): enough to
    /// route a frame by `modelID` before spending time on its payload.
    /// - Returns: the header and where the payload lies in `bytes`.
    public static func decodeHeader(_ bytes: [UInt8], contexts: [FrameContext] = [], limits: FeatureBitstreamLimits = FeatureBitstreamLimits()) throws -> (header: FeatureFrameHeader, payload: Range<Int>) {
        guard bytes.count <= limits.maxBytes else { throw FeatureBitstreamError.oversized(field: "frame (bytes)", value: bytes.count, limit: limits.maxBytes) }
        if let first = bytes.first, [compactMarker, compactMarkerWithParameter, compactMarker2].contains(first) {
            return try decodeCompactHeader(bytes, contexts: contexts, limits: limits)
        }
        let head = Array(bytes.prefix(4))
        guard head == Array(magic.prefix(head.count)) else { throw FeatureBitstreamError.badMagic(found: head) }
        guard bytes.count >= 9 else { throw FeatureBitstreamError.truncated(field: "magic, version and frame length", needed: 9, available: bytes.count) }
        // Compact frames are told apart by their first byte; behind "AEFC" only version 1 is defined.
        guard Int(bytes[4]) == version else { throw FeatureBitstreamError.unsupportedVersion(found: Int(bytes[4]), supported: [version]) }
        var r = Reader(bytes: bytes, position: 5, end: bytes.count)
        let length = Int(try r.u32("frame length"))
        guard length >= minimumFrameSize else {
            throw FeatureBitstreamError.invalidField(field: "frame length", expected: "≥ \(minimumFrameSize)", found: "\(length)")
        }
        guard length <= limits.maxBytes else { throw FeatureBitstreamError.oversized(field: "frame length field", value: length, limit: limits.maxBytes) }
        guard length <= bytes.count else { throw FeatureBitstreamError.truncated(field: "frame", needed: length, available: bytes.count) }
        guard length == bytes.count else { throw FeatureBitstreamError.trailingBytes(frameLength: length, inputLength: bytes.count) }
        let body = bytes.count - 4
        let stored = UInt32(bytes[body]) | UInt32(bytes[body + 1]) << 8 | UInt32(bytes[body + 2]) << 16 | UInt32(bytes[body + 3]) << 24
        let computed = CRC32.checksum(bytes, range: 0..<body)
        guard stored == computed else { throw FeatureBitstreamError.crcMismatch(stored: stored, computed: computed) }

        r.end = body
        let modelID = try r.string("model id", limit: limits.maxModelIDBytes)
        let splitPoint = try r.string("split point", limit: limits.maxSplitPointBytes)
        var dims: [Int] = []
        for name in ["C", "H", "W"] {
            let d = Int(try r.u32(name))
            guard d >= 1 else { throw FeatureBitstreamError.invalidField(field: name, expected: "≥ 1", found: "0") }
            dims.append(d)
        }
        let shape = FeatureShape(channels: dims[0], height: dims[1], width: dims[2])
        guard let total = shape.elementCount, total <= limits.maxElements else {
            throw FeatureBitstreamError.oversized(field: "C·H·W of \(shape)", value: shape.elementCount ?? .max, limit: limits.maxElements)
        }
        let k = Int(try r.u32("carried channel count K"))
        guard k >= 1, k <= shape.channels else {
            throw FeatureBitstreamError.invalidField(field: "carried channel count K", expected: "1…C = 1…\(shape.channels)", found: "\(k)")
        }
        var channels: [Int]
        if k == shape.channels {
            channels = Array(0..<k)
        } else {
            try r.need(4 * k, "channel indices")
            channels = []
            channels.reserveCapacity(k)
            for _ in 0..<k { channels.append(Int(try r.u32("channel index"))) }
        }
        let bits = Int(try r.u8("quantiser bits"))
        let modeByte = try r.u8("quantiser mode")
        guard let mode = QuantizerMode(rawValue: modeByte) else { throw FeatureBitstreamError.unknownQuantizerMode(modeByte) }
        let rangeCount = mode.transmittedRangeCount(channelCount: k)
        try r.need(8 * rangeCount, "quantiser ranges")
        var ranges: [QuantizerRange] = []
        ranges.reserveCapacity(rangeCount)
        for _ in 0..<rangeCount {
            let lo = Float(bitPattern: try r.u32("range lo")), hi = Float(bitPattern: try r.u32("range hi"))
            ranges.append(QuantizerRange(lo: lo, hi: hi))
        }
        let codecID = try r.u8("codec id")
        let codec = try FeatureCodec.from(id: codecID, parameter: try r.u16("codec parameter"))
        let payloadLength = Int(try r.u32("payload length"))
        guard payloadLength == r.end - r.position else {
            throw FeatureBitstreamError.invalidField(field: "payload length", expected: "\(r.end - r.position) (the bytes between it and the CRC)", found: "\(payloadLength)")
        }
        let header = FeatureFrameHeader(modelID: modelID, splitPoint: splitPoint, shape: shape, channels: channels, bits: bits,
                                        quantizerMode: mode, ranges: ranges, codec: codec)
        _ = try validate(header, maxElements: limits.maxElements)
        return (header, r.position..<r.end)
    }

    /// The header of a compact frame. Version 2: the CRC, then the 32-bit key looked up in `contexts`.
    /// Version 3: the 16-bit key looked up in `contexts`, then the CRC started from each candidate's model
    /// key, which picks the context. Then the fields.
    static func decodeCompactHeader(_ bytes: [UInt8], contexts: [FrameContext], limits: FeatureBitstreamLimits) throws -> (header: FeatureFrameHeader, payload: Range<Int>) {
        let v2 = bytes[0] == compactMarker2
        let minimum = v2 ? minimumCompactFrameSize2 : minimumCompactFrameSize
        guard bytes.count >= minimum else {
            throw FeatureBitstreamError.truncated(field: "compact frame (marker, key, fields and CRC)", needed: minimum, available: bytes.count)
        }
        let body = bytes.count - 4
        let stored = UInt32(bytes[body]) | UInt32(bytes[body + 1]) << 8 | UInt32(bytes[body + 2]) << 16 | UInt32(bytes[body + 3]) << 24
        var r = Reader(bytes: bytes, position: 1, end: body)
        let context: FrameContext
        if v2 {
            let computed = CRC32.checksum(bytes, range: 0..<body)
            guard stored == computed else { throw FeatureBitstreamError.crcMismatch(stored: stored, computed: computed) }
            let key = try r.u32("model key")
            let matching = contexts.filter { $0.key == key }
            guard let first = matching.first else {
                throw FeatureBitstreamError.unknownModelKey(key, keyBits: 32, known: contexts.map(\.modelID))
            }
            guard matching.count == 1 else {
                throw FeatureBitstreamError.invalidField(field: "model key", expected: "one model per key", found: "0x\(hex32(key)) shared by \(matching.map(\.modelID).joined(separator: ", "))")
            }
            context = first
        } else {
            let key = try r.u16("model key")
            let candidates = contexts.filter { $0.shortKey == key }
            guard !candidates.isEmpty else {
                throw FeatureBitstreamError.unknownModelKey(UInt32(key), keyBits: 16, known: contexts.map(\.modelID))
            }
            let matching = bytes.withUnsafeBufferPointer { all in
                candidates.filter { CRC32.update($0.key, UnsafeBufferPointer(rebasing: all[0..<body])) == stored }
            }
            guard let first = matching.first else {
                throw FeatureBitstreamError.compactCRCMismatch(stored: stored, models: candidates.map(\.modelID))
            }
            guard matching.count == 1 else {   // two models with the same key and the same CRC: about 2^-32
                throw FeatureBitstreamError.invalidField(field: "model key and CRC", expected: "one model", found: matching.map(\.modelID).joined(separator: ", "))
            }
            context = first
        }
        let packed = try r.u8("bits, mode and codec id")
        let bits = Int(packed & 0x07) + 1
        let modeByte = (packed >> 3) & 0x03
        guard let mode = QuantizerMode(rawValue: modeByte) else { throw FeatureBitstreamError.unknownQuantizerMode(modeByte) }
        let defaultParameter = FeatureCodec.defaultParameter(id: packed >> 5)
        var parameter: UInt32 = 0
        if bytes[0] == compactMarker {
            parameter = UInt32(defaultParameter)
        } else {
            for k in 0..<3 {
                let b = try r.u8("codec parameter")
                parameter |= UInt32(b & 0x7F) << (7 * UInt32(k))
                if b & 0x80 == 0 {
                    // One encoding per frame: a last byte of 0 after another byte only lengthens the number.
                    guard b != 0 || k == 0 else {
                        throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "LEB128 in its shortest form (no final 00 byte after another byte)", found: "\(k + 1) bytes for \(parameter)")
                    }
                    break
                }
                guard k < 2 else { throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "at most 3 LEB128 bytes", found: "more") }
            }
        }
        guard let p16 = UInt16(exactly: parameter) else {
            throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "≤ 65535", found: "\(parameter)")
        }
        // One encoding per frame: the default parameter is left out (marker A3), never written out.
        guard bytes[0] != compactMarkerWithParameter || p16 != defaultParameter else {
            throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "not the codec's default \(defaultParameter) after marker A4 (such a frame starts with A3 and leaves it out)", found: "\(p16)")
        }
        let codec = try FeatureCodec.from(id: packed >> 5, parameter: p16)
        let rangeCount = mode.transmittedRangeCount(channelCount: context.channels.count)
        try r.need(8 * rangeCount, "quantiser ranges")
        var ranges: [QuantizerRange] = []
        for _ in 0..<rangeCount {
            let lo = Float(bitPattern: try r.u32("range lo")), hi = Float(bitPattern: try r.u32("range hi"))
            ranges.append(QuantizerRange(lo: lo, hi: hi))
        }
        let header = FeatureFrameHeader(version: v2 ? compactVersion2 : compactVersion, modelID: context.modelID, splitPoint: context.splitPoint, shape: context.shape,
                                        channels: context.channels, bits: bits, quantizerMode: mode, ranges: ranges, codec: codec)
        _ = try validate(header, maxElements: limits.maxElements)
        return (header, r.position..<r.end)
    }

    /// The semantic checks shared by encoder and decoder; returns `K·H·W`.
    static func validate(_ h: FeatureFrameHeader, maxElements: Int) throws -> Int {
        for (name, d) in [("C", h.shape.channels), ("H", h.shape.height), ("W", h.shape.width)] where d < 1 || d > Int(UInt32.max) {
            throw FeatureBitstreamError.invalidField(field: name, expected: "1…4294967295", found: "\(d)")
        }
        guard let total = h.shape.elementCount, total <= maxElements else {
            throw FeatureBitstreamError.oversized(field: "C·H·W of \(h.shape)", value: h.shape.elementCount ?? .max, limit: maxElements)
        }
        let k = h.channels.count
        guard k >= 1, k <= h.shape.channels else {
            throw FeatureBitstreamError.invalidField(field: "carried channel count K", expected: "1…C = 1…\(h.shape.channels)", found: "\(k)")
        }
        var previous = -1
        for (i, c) in h.channels.enumerated() {
            guard c < h.shape.channels else {
                throw FeatureBitstreamError.invalidField(field: "channel index \(i)", expected: "< C = \(h.shape.channels)", found: "\(c)")
            }
            guard c > previous else {
                throw FeatureBitstreamError.invalidField(field: "channel index \(i)", expected: "strictly increasing (> \(previous))", found: "\(c)")
            }
            previous = c
        }
        guard (1...8).contains(h.bits) else { throw FeatureBitstreamError.invalidField(field: "quantiser bits", expected: "1…8", found: "\(h.bits)") }
        let expectedRanges = h.quantizerMode.transmittedRangeCount(channelCount: k)
        guard h.ranges.count == expectedRanges else {
            throw FeatureBitstreamError.invalidField(field: "quantiser ranges", expected: "\(expectedRanges) for mode \(h.quantizerMode) and K = \(k)", found: "\(h.ranges.count)")
        }
        for (i, r) in h.ranges.enumerated() {
            if let p = r.problem {
                throw FeatureBitstreamError.invalidField(field: "quantiser range \(i)", expected: "finite lo ≤ hi with finite hi − lo", found: "\(r) (\(p))")
            }
        }
        guard h.codec.parameter != nil else {
            throw FeatureBitstreamError.invalidField(field: "codec parameter", expected: "zstd level −32768…32767, context CDF shift 1…14 or tag-3 rate limit 1…1022", found: "\(h.codec)")
        }
        return total / h.shape.channels * k
    }

    private static func putU16(_ out: inout [UInt8], _ v: UInt16) {
        out.append(UInt8(truncatingIfNeeded: v)); out.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    private static func putU32(_ out: inout [UInt8], _ v: UInt32) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }
}

/// Little-endian field reader over `bytes[position..<end]`; every read checks the remaining length first.
private struct Reader {
    let bytes: [UInt8]
    var position: Int
    var end: Int

    func need(_ n: Int, _ field: String) throws {
        guard n <= end - position else { throw FeatureBitstreamError.truncated(field: field, needed: n, available: end - position) }
    }

    mutating func u8(_ field: String) throws -> UInt8 {
        try need(1, field)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16(_ field: String) throws -> UInt16 {
        try need(2, field)
        defer { position += 2 }
        return UInt16(bytes[position]) | UInt16(bytes[position + 1]) << 8
    }

    mutating func u32(_ field: String) throws -> UInt32 {
        try need(4, field)
        defer { position += 4 }
        return UInt32(bytes[position]) | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2]) << 16 | UInt32(bytes[position + 3]) << 24
    }

    /// A length byte, then that many bytes of UTF-8.
    mutating func string(_ field: String, limit: Int) throws -> String {
        let n = Int(try u8("\(field) length"))
        guard n <= limit else { throw FeatureBitstreamError.oversized(field: "\(field) (UTF-8 bytes)", value: n, limit: limit) }
        try need(n, field)
        let raw = Array(bytes[position..<(position + n)])
        position += n
        let s = String(decoding: raw, as: UTF8.self)
        guard Array(s.utf8) == raw else { throw FeatureBitstreamError.invalidField(field: field, expected: "valid UTF-8", found: "bytes \(hexString(raw))") }
        return s
    }
}
