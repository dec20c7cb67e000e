// Raw (uncoded) bits kept beside the range-coded streams, for the context model of payload tag 4: the low
// mantissa bits are close to uniform, so they are stored as they are. Writing or reading one field is a
// shift and a mask with no branch and no division (a range coder's equiprobable "bypass" step needs a
// division to decode), and it does not lengthen the range coder's serial dependency chain.
//
// Format (docs/coders.md, section 6): fields of 0 … 8 bits are concatenated least significant bit first —
// field bit i goes to stream bit `pos + i`, stream bit j is bit `j mod 8` of byte `⌊j / 8⌋` — and the
// stream is padded with zero bits to a whole byte.

/// Writes or reads raw bit fields (the encoder's writer and the decoder's reader share one traversal).
protocol RawBitCoder {
    /// Writes the `count` low bits of `value` (writer), or reads `count` bits (reader, `value` ignored);
    /// returns the field. `count` ∈ 0 … 8; a 0-bit field is 0 and changes nothing.
    mutating func field(_ value: Int, count: Int) -> Int
}

/// Accumulates raw bits in a zeroed buffer sized for the worst case (8 bits per element).
struct RawBitWriter: RawBitCoder {
    let base: UnsafeMutablePointer<UInt8>
    var position = 0 // in bits

    /// - Parameter maxFields: the most fields that will be written (each ≤ 8 bits).
    init(maxFields: Int) {
        base = .allocate(capacity: maxFields + 16)
        base.initialize(repeating: 0, count: maxFields + 16)
    }

    @inline(__always)
    mutating func field(_ value: Int, count: Int) -> Int {
        let p = UnsafeMutableRawPointer(base + (position >> 3))
        let word = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        p.storeBytes(of: (word | (UInt64(truncatingIfNeeded: value) & ((1 << UInt64(count)) &- 1)) << UInt64(position & 7)).littleEndian, as: UInt64.self)
        position &+= count
        return value
    }

    /// The written bytes (the last one zero-padded). Deallocates the buffer: the writer must not be used again.
    func finish() -> [UInt8] {
        defer { base.deallocate() }
        return Array(UnsafeBufferPointer(start: base, count: (position + 7) >> 3))
    }
}

/// Reads raw bit fields from an untrusted byte range: reads past the end see zero bits (the buffer is padded
/// to cover every field the caller can ask for), and `finish` reports whether exactly the stored bytes were used.
struct RawBitReader: RawBitCoder {
    let base: UnsafeMutablePointer<UInt8>
    let count: Int // stored bytes
    var position = 0 // in bits

    /// - Parameters: `bytes` the stored stream; `maxFields` the most fields that will be read (each ≤ 8 bits),
    ///   which sizes the zero padding so that no read leaves the buffer, whatever the stream holds.
    init(_ bytes: ArraySlice<UInt8>, maxFields: Int) {
        let n = bytes.count
        let capacity = max(n, maxFields) + 16
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        buffer.initialize(repeating: 0, count: capacity)
        bytes.withUnsafeBufferPointer { if let b = $0.baseAddress { buffer.update(from: b, count: n) } }
        count = n
        base = buffer
    }

    @inline(__always)
    mutating func field(_ value: Int, count: Int) -> Int {
        let word = UInt64(littleEndian: UnsafeRawPointer(base + (position >> 3)).loadUnaligned(as: UInt64.self))
        let v = Int(truncatingIfNeeded: (word >> UInt64(position & 7)) & ((1 << UInt64(count)) &- 1))
        position &+= count
        return v
    }

    /// Checks that the fields ended in the last stored byte and its unused bits are 0, and frees the buffer.
    /// - Throws: `.truncated` when more bits were read than stored, `.corrupt` for extra bytes or set
    ///   padding bits.
    func finish() throws {
        defer { base.deallocate() }
        let used = (position + 7) >> 3
        if used > count {
            throw FeatureCodingError.truncated(needed: used, available: count)
        }
        if used < count {
            throw FeatureCodingError.corrupt("\(count - used) unexpected bytes after the end of the raw-bit stream")
        }
        if position & 7 != 0, base[count - 1] >> UInt8(position & 7) != 0 {
            throw FeatureCodingError.corrupt("non-zero padding bits at the end of the raw-bit stream")
        }
    }
}
