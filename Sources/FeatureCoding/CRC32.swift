// CRC-32 as in zlib, PNG and Ethernet (IEEE 802.3): reflected polynomial 0xEDB88320, initial value
// 0xFFFFFFFF, final XOR 0xFFFFFFFF; check value of the ASCII bytes "123456789" is 0xCBF43926. Used by the
// feature bitstream (docs/bitstream.md, section 3) to detect damaged frames. Computed by zlib's `crc32`
// (table-driven with braiding); the tests compare it with a bitwise reference.

import CZlib

/// CRC-32 (IEEE, reflected, polynomial 0xEDB88320), zlib's `crc32`.
public enum CRC32 {
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
        var c = uLong(crc)
        guard var p = bytes.baseAddress else { return crc }
        var left = bytes.count
        while left > 0 {   // zlib takes a 32-bit length
            let n = min(left, 1 << 30)
            c = crc32(c, p, uInt(n))
            p += n
            left -= n
        }
        return UInt32(truncatingIfNeeded: c)
    }
}
