// CRC-32 as in zlib, PNG and Ethernet (IEEE 802.3): reflected polynomial 0xEDB88320, initial value
// 0xFFFFFFFF, final XOR 0xFFFFFFFF; check value of the ASCII bytes "123456789" is 0xCBF43926. Used by the
// feature bitstream (docs/bitstream.md) to detect damaged frames. Table-driven, one byte at a time: this
// module does not link zlib, and frames are small enough that slicing-by-8 would not pay off.

/// CRC-32 (IEEE, reflected, polynomial 0xEDB88320), bit-compatible with zlib's `crc32`.
public enum CRC32 {
    /// The 256-entry table: `table[i]` is the CRC register after shifting the byte `i` through it.
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { update(0, $0) }
    }

    /// The CRC-32 of `bytes[range]`.
    public static func checksum(_ bytes: [UInt8], range: Range<Int>) -> UInt32 {
        bytes.withUnsafeBufferPointer { update(0, UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// Continues a CRC: `update(checksum(a), b) == checksum(a + b)`; start from 0.
    /// - Parameters:
    ///   - crc: the CRC of the bytes before `bytes` (0 for none).
    ///   - bytes: the next bytes.
    public static func update(_ crc: UInt32, _ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c = ~crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }
}
