// TensorCore's CRC32 (zlib's crc32) against a bitwise reference from the definition (reflected polynomial
// 0xEDB88320, register 0xFFFFFFFF, final XOR) on random inputs, continued in pieces, and the check value.

import XCTest
import Foundation
import TensorCore

final class CRC32Tests: XCTestCase {
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
        XCTAssertEqual(CRC32.checksum(Data("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
    }

    func testMatchesTheBitwiseReferenceOnRandomInputs() {
        var rng = SystemRandomNumberGenerator()
        for length in Array(0...70) + [255, 256, 1023, 4096, 65_537] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = Self.referenceCRC(bytes)
            XCTAssertEqual(CRC32.checksum(bytes), expected, "length \(length)")
            let cut = Int.random(in: 0...length, using: &rng)
            XCTAssertEqual(CRC32.checksum(Array(bytes[cut...]), initial: CRC32.checksum(Array(bytes[..<cut]))), expected, "split at \(cut)")
            XCTAssertEqual(Self.referenceCRC(Array(bytes[cut...]), continuing: Self.referenceCRC(Array(bytes[..<cut]))), expected)
        }
    }
}
