// SHA-256 against the FIPS 180-2 / NIST test vectors, chunked streaming against one-shot, and file hashing.

import Checkpoint
import Foundation
import XCTest
import _TestSupport

final class SHA256Tests: XCTestCase {
    func testFIPSVectors() {
        XCTAssertEqual(SHA256.hexDigest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hexDigest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hexDigest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hexDigest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testOneMillionAInUnevenChunks() {
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 997)
        var left = 1_000_000
        while left > 0 {
            let n = min(left, chunk.count)
            h.update(Array(chunk[0..<n]))
            left -= n
        }
        XCTAssertEqual(SHA256.hex(h.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testStreamingEqualsOneShotAtEverySplit() {
        var rng = SystemRandomNumberGenerator()
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 200] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let whole = SHA256.hash(bytes)
            for split in 0...length {
                var h = SHA256()
                h.update(Array(bytes[0..<split]))
                h.update(Array(bytes[split...]))
                XCTAssertEqual(h.finalize(), whole, "length \(length) split \(split)")
            }
        }
    }

    func testFileDigestMatchesBytesDigest() throws {
        let dir = makeTemporaryDirectory("sha")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }
        let url = dir.appendingPathComponent("blob")
        try Data(bytes).write(to: url)
        XCTAssertEqual(try SHA256.hexDigest(ofFile: url), SHA256.hexDigest(bytes))
        let empty = dir.appendingPathComponent("empty")
        try Data().write(to: empty)
        XCTAssertEqual(try SHA256.hexDigest(ofFile: empty), SHA256.hexDigest(""))
    }

    func testMissingFileIsTypedError() {
        let url = URL(fileURLWithPath: "/nonexistent-dir/nothing")
        XCTAssertThrowsError(try SHA256.hexDigest(ofFile: url)) { error in
            guard let e = error as? FileIOError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, ENOENT)
            XCTAssertTrue(e.description.contains("/nonexistent-dir/nothing"), e.description)
        }
    }
}
