// CRC32 (zlib's crc32) against a bitwise reference written from the definition in docs/bitstream.md
// section 3, on random inputs of many lengths, split at random points, and on the standard check value.

import XCTest
import FeatureCoding

final class CRC32Tests: XCTestCase {
    /// The definition, one bit at a time: reflected polynomial 0xEDB88320, register 0xFFFFFFFF, final XOR.
    static func referenceCRC(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    func testCheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(Self.referenceCRC(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([]), 0)
    }

    func testMatchesTheBitwiseReferenceOnRandomInputs() {
        var rng = SystemRandomNumberGenerator()
        for length in Array(0...70) + [255, 256, 1023, 4096, 65_537] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = Self.referenceCRC(bytes)
            XCTAssertEqual(CRC32.checksum(bytes), expected, "length \(length)")
            let cut = Int.random(in: 0...length, using: &rng)
            let continued = bytes[cut...].withContiguousStorageIfAvailable { CRC32.update(CRC32.checksum(Array(bytes[..<cut])), $0) }
            XCTAssertEqual(continued, expected, "length \(length) split at \(cut)")
            let lo = Int.random(in: 0...length, using: &rng), hi = Int.random(in: lo...length, using: &rng)
            XCTAssertEqual(CRC32.checksum(bytes, range: lo..<hi), Self.referenceCRC(Array(bytes[lo..<hi])), "range \(lo)..<\(hi)")
        }
    }

    func testEmptyUpdateKeepsTheCRC() {
        let crc = CRC32.checksum(Array("abc".utf8))
        XCTAssertEqual(CRC32.update(crc, UnsafeBufferPointer(start: nil, count: 0)), crc)
    }
}
