// The range decoder matching RangeEncoder.swift. It reads untrusted bytes: every read is clamped to a
// zero byte kept after the input (the module is built with -Ounchecked in release), reads past the end are
// counted, and `finish()` reports truncation, trailing bytes and impossible states as typed errors. It never
// allocates from anything in the payload.

/// Range decoder.
///
/// State: `code` = (encoded value − `low`) scaled like the encoder's `range`; the decoder mirrors the
/// encoder's `range` exactly, renormalising (and reading one byte) at the same moments.
/// Invariant for a valid stream: `code < range` at every step. Reading a byte in renormalisation keeps it
/// (`code ≤ range − 1` gives `code·256 + byte < range·256`), and so does every decoding step whose decoded
/// value lies in the coded table; the steps check exactly that (a target past the table, a bypass value
/// out of range) and set `invalid`. So the invariant is checked once after the first four bytes, by the
/// steps, and in `finish()` — not on every renormalisation.
/// End of stream: a valid stream makes the decoder read exactly 3 bytes past the end (implicit zeros) and
/// leaves `code < 2^24` (the encoder ends on its final `low` rounded up to a multiple of 2^24). With both,
/// the input is byte for byte what the encoder writes for the decoded symbols.
public struct RangeDecoder {
    /// Owns a copy of the input (and the `invalid` flag); `base` and `count` are cached from it so that
    /// reading a byte is a clamp and a load. Copies of a decoder share it: a decoder is used by one owner.
    @usableFromInline let source: ByteSource
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let count: Int
    /// Bytes read so far, including the zero bytes read past the end.
    @usableFromInline var position = 0
    @usableFromInline var range: UInt32 = 0xFFFF_FFFF
    @usableFromInline var code: UInt32 = 0
    @usableFromInline var r: UInt32 = 1
    /// Set when the decoder met an impossible state (sticky). Kept in `source`, not in the struct: a flag
    /// that is almost never written then costs the decoding loops no register.
    @usableFromInline var invalid: Bool {
        @inline(__always) get { source.invalid }
        @inline(__always) nonmutating set { source.invalid = newValue }
    }

    /// Starts decoding `bytes` (reads the first 4).
    public init<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        source = ByteSource(bytes)
        base = UnsafePointer(source.base)
        count = source.count
        for _ in 0..<4 { code = (code << 8) | UInt32(nextByte()) }
        if code >= range { invalid = true }
    }

    /// The next input byte, or 0 past the end (`base[count]` is 0).
    @inline(__always) @usableFromInline
    mutating func nextByte() -> UInt8 {
        let p = position
        position = p &+ 1
        return base[min(p, count)]
    }

    @inline(__always) @usableFromInline
    mutating func normalize() {
        while range < (1 << 24) {
            range <<= 8
            code = (code << 8) | UInt32(nextByte())
        }
    }

    /// Decodes one binary decision coded with probability `p0` (of a 0) in 1 … 65535; same clamping as the encoder.
    @inline(__always)
    public mutating func decodeBit(p0: UInt32) -> Int {
        let p = min(max(p0, 1), 0xFFFF)
        let bound = (range >> 16) &* p
        if code < bound {
            range = bound
            normalize()
            return 0
        } else {
            code &-= bound
            range &-= bound
            normalize()
            return 1
        }
    }

    /// Decodes `bits` raw bits coded by `RangeEncoder.encodeDirect`.
    public mutating func decodeDirect(bits: Int) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<max(0, bits) { v = (v << 1) | UInt32(decodeBit(p0: 0x8000)) }
        return v
    }

    /// First half of decoding a multi-symbol interval: returns the target `t` ∈ [0, total) that lies in the
    /// coded symbol's interval `[cumulative, cumulative + frequency)`. Follow with `consume`.
    /// `total` must be in 1 … `RangeEncoder.maxTotal` (clamped otherwise).
    @inline(__always)
    public mutating func decodeTarget(total: UInt32) -> UInt32 {
        let t = min(max(total, 1), RangeEncoder.maxTotal)
        r = range / t
        let v = code / r
        if v >= t {
            invalid = true
            return t &- 1
        }
        return v
    }

    /// Second half: removes the decoded symbol's interval (same arguments the encoder used).
    @inline(__always)
    public mutating func consume(cumulative: UInt32, frequency: UInt32) {
        code &-= r &* cumulative
        range = r &* max(frequency, 1)
        normalize()
    }

    /// Checks that the stream ended exactly where and as the encoder ends it and that no impossible state
    /// occurred: then the input is the encoder's output for the decoded symbols, and no other byte string is.
    /// - Throws: `.truncated` when bytes are missing, `.corrupt` for trailing bytes, another last byte than
    ///   the encoder's, or an invalid state.
    public func finish() throws {
        if invalid || code >= range {
            throw FeatureCodingError.corrupt("range decoder left its valid state (code ≥ range)")
        }
        let pastEnd = position - count
        if pastEnd > 3 {
            throw FeatureCodingError.truncated(needed: count + pastEnd - 3, available: count)
        }
        if pastEnd < 3 {
            throw FeatureCodingError.corrupt("\(3 - pastEnd) unexpected bytes after the end of the range-coded stream")
        }
        if code >= 1 << 24 {
            throw FeatureCodingError.corrupt("the range-coded stream does not end as the encoder ends it (its last byte is not the rounded-up final interval's)")
        }
    }
}

/// A private copy of a decoder's input bytes followed by one zero byte, and the decoder's `invalid` flag;
/// freed with the last decoder that uses it.
@usableFromInline
final class ByteSource {
    @usableFromInline let base: UnsafeMutablePointer<UInt8>
    @usableFromInline let count: Int
    @usableFromInline var invalid = false

    init<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        count = bytes.count
        base = .allocate(capacity: count + 1)
        _ = UnsafeMutableBufferPointer(start: base, count: count).initialize(from: bytes)
        base[count] = 0
    }

    deinit { base.deallocate() }
}
