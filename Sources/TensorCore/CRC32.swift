// CRC-32 (IEEE 802.3, the zlib/PNG/gzip polynomial) through zlib's implementation.

import CZlib
import Foundation

public enum CRC32 {
    /// CRC-32 of `bytes`, continuing from `initial` (0 to start).
    public static func checksum<C: ContiguousBytes>(_ bytes: C, initial: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { raw -> UInt32 in
            var crc = UInt(initial)
            var p = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            var left = raw.count
            while left > 0, let q = p {
                let n = min(left, Int(Int32.max))
                crc = CZlib.crc32(crc, q, UInt32(n))
                p = q + n
                left -= n
            }
            return UInt32(truncatingIfNeeded: crc)
        }
    }
}
