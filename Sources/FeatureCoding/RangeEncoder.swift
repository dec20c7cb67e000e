// The range encoder: a 64-bit `low` / 32-bit `range` coder with byte-wise output and carry propagation
// (Subbotin/Schindler as used in LZMA). Integer arithmetic only, so every machine produces the same bytes.
// It knows nothing about models: it codes either one binary decision with a 16-bit probability, or one
// interval (cumulative frequency, frequency, total) of a multi-symbol table. Models live in
// FrequencyModels.swift and FeatureContextModel.swift. The decoder is RangeDecoder.swift; the exact format
// is specified in docs/coders.md.

/// Range encoder with carry propagation.
///
/// State and invariants (after every public call):
/// - `range` ∈ [2^24, 2^32 − 1]: renormalisation shifts a byte out whenever `range < 2^24`.
/// - `low` < 2^32 + 2^32: bits 0…31 are the not-yet-final bytes of the code value, bit 32 is a carry
///   that has not yet been added into the bytes already held back.
/// - The encoded number is `0.b0 b1 b2 …` (base 256); the current interval is `[low, low + range)` in units
///   of 2^-32 after the bytes shifted out so far. It only ever shrinks, so the emitted prefix is final up to
///   a carry: the last byte that is not 0xFF (`cache`) and the run of 0xFF bytes after it (`pendingFF`) are
///   held back until a carry is ruled out or applied.
/// - The first byte the LZMA scheme would emit is always 0 (the value stays below 1) and is not written.
///
/// Termination (`finish`): `low` is rounded up to a multiple of 2^24, which stays inside the interval
/// because `range ≥ 2^24`; the held-back bytes and the top byte of `low` are written; the three zero bytes
/// below it are not. The decoder reads exactly three virtual zero bytes past the end and then holds the
/// rounded-up value less `low`, below 2^24; checking both, it accepts exactly these bytes for these symbols.
public struct RangeEncoder {
    /// Largest `total` accepted by `encode(cumulative:frequency:total:)` (keeps `range / total ≥ 2^8`).
    public static let maxTotal: UInt32 = 1 << 16
    /// Probability scale of `encodeBit`: probabilities are integers in 1 … 2^16 − 1 out of 2^16.
    public static let probabilityBits: UInt32 = 16

    @usableFromInline var low: UInt64 = 0
    @usableFromInline var range: UInt32 = 0xFFFF_FFFF
    /// Output bytes, in a buffer whose append is a store and a compare (an `Array` append calls into the
    /// runtime, which makes the compiler keep the coder's state in memory across every decision).
    @usableFromInline let sink: ByteSink

    /// Bytes written so far (without held-back bytes).
    public var bytes: [UInt8] { sink.codedBytes }

    /// - Parameter capacityHint: expected output size, to avoid regrowing.
    public init(capacityHint: Int = 0) {
        sink = ByteSink(capacity: max(64, capacityHint))
    }

    @inline(__always) @usableFromInline
    mutating func shiftLow() {
        if low < 0xFF00_0000 || low >= 0x1_0000_0000 {
            let carry = UInt8(truncatingIfNeeded: low >> 32)
            // The first byte appended is the always-zero leading byte (a carry into it cannot happen); it is
            // dropped when the bytes are read out, which keeps a branch out of this path.
            sink.append(sink.cache &+ carry)
            while sink.pendingFF > 0 {
                sink.append(0xFF &+ carry)
                sink.pendingFF -= 1
            }
            sink.cache = UInt8(truncatingIfNeeded: low >> 24)
        } else {
            sink.pendingFF += 1
        }
        low = (low & 0x00FF_FFFF) << 8
    }

    @inline(__always) @usableFromInline
    mutating func normalize() {
        while range < (1 << 24) {
            range <<= 8
            shiftLow()
        }
    }

    /// Codes one binary decision.
    /// - Parameters:
    ///   - bit: 0 or 1 (any non-zero value counts as 1).
    ///   - p0: probability that the bit is 0, in 1 … 65535 (units of 2^-16). Values outside are clamped.
    @inline(__always)
    public mutating func encodeBit(_ bit: Int, p0: UInt32) {
        let p = min(max(p0, 1), 0xFFFF)
        let bound = (range >> 16) &* p
        if bit == 0 {
            range = bound
        } else {
            low &+= UInt64(bound)
            range &-= bound
        }
        normalize()
    }

    /// Codes `bits` raw bits of `value` (MSB first) at probability ½ each.
    public mutating func encodeDirect(_ value: UInt32, bits: Int) {
        var i = bits
        while i > 0 {
            i -= 1
            encodeBit(Int((value >> UInt32(i)) & 1), p0: 0x8000)
        }
    }

    /// Codes one symbol given its interval in a frequency table.
    /// - Parameters: `cumulative` = sum of the frequencies of all smaller symbols, `frequency` ≥ 1,
    ///   `total` ≤ `maxTotal`, and `cumulative + frequency ≤ total`.
    /// - Throws: `FeatureCodingError.invalidModel` when these do not hold (nothing is coded then).
    public mutating func encode(cumulative: UInt32, frequency: UInt32, total: UInt32) throws {
        guard total >= 1, total <= Self.maxTotal, frequency >= 1, cumulative <= total - frequency else {
            throw FeatureCodingError.invalidModel("interval cum=\(cumulative) freq=\(frequency) total=\(total) (need freq ≥ 1, cum + freq ≤ total ≤ \(Self.maxTotal))")
        }
        encodeUnchecked(cumulative: cumulative, frequency: frequency, total: total)
    }

    /// As `encode(cumulative:frequency:total:)` for arguments the caller has already validated.
    @inline(__always) @usableFromInline
    mutating func encodeUnchecked(cumulative: UInt32, frequency: UInt32, total: UInt32) {
        let r = range / total
        low &+= UInt64(r &* cumulative)
        range = r &* frequency
        normalize()
    }

    /// Terminates the stream (see the type's doc comment) and returns all bytes. The encoder must not be used afterwards.
    public mutating func finish() -> [UInt8] {
        low = (low &+ 0x00FF_FFFF) & ~UInt64(0x00FF_FFFF)
        shiftLow()
        shiftLow()
        return sink.codedBytes
    }
}

/// A growable byte buffer owned by one `RangeEncoder` (not shared: copies of an encoder share it, and an
/// encoder is used by one owner from start to `finish`). It also holds the encoder's held-back byte and
/// 0xFF count, which change once per output byte: kept here rather than in the encoder's struct, they cost
/// the coding loops no register.
@usableFromInline
final class ByteSink {
    @usableFromInline var cache: UInt8 = 0
    @usableFromInline var pendingFF = 0
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var count = 0
    @usableFromInline var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    @inline(__always) @usableFromInline
    func append(_ byte: UInt8) {
        if count == capacity { grow() }
        base[count] = byte
        count &+= 1
    }

    @inline(never) @usableFromInline
    func grow() {
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }

    /// The bytes after the first (the encoder's always-zero leading byte, not part of the stream).
    var codedBytes: [UInt8] {
        let skip = min(count, 1)
        return Array(UnsafeBufferPointer(start: base + skip, count: count - skip))
    }
}
