// AtomicFile: replace semantics, parent creation, and that failures leave the old file and no temp files.

import Checkpoint
import Foundation
import XCTest
import _TestSupport

final class AtomicFileTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = makeTemporaryDirectory("atomic") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    private func listing(_ d: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: d.path).sorted()
    }

    func testWriteCreatesParentsAndReplaces() throws {
        let url = dir.appendingPathComponent("a/b/c/file.bin")
        try AtomicFile.write([1, 2, 3], to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data([1, 2, 3]))
        try AtomicFile.write(Data("longer contents".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("longer contents".utf8))
        try AtomicFile.write([UInt8](), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data())
        XCTAssertEqual(try listing(url.deletingLastPathComponent()), ["file.bin"], "no temporary files left")
    }

    func testStreamingWriteOfLargeAndSmallPieces() throws {
        let url = dir.appendingPathComponent("big.bin")
        var expected = [UInt8]()
        let n = try AtomicFile.write(to: url) { out in
            for i in 0..<40 {
                let piece = [UInt8](repeating: UInt8(i), count: i % 3 == 0 ? 700_000 : 13)
                expected += piece
                try out.write(piece)
            }
        }
        XCTAssertEqual(n, expected.count)
        XCTAssertEqual(try Data(contentsOf: url), Data(expected))
    }

    func testParentIsRegularFileFailsAndChangesNothing() throws {
        let blocker = dir.appendingPathComponent("blocker")
        try Data("i am a file".utf8).write(to: blocker)
        let other = dir.appendingPathComponent("other.txt")
        try Data("keep".utf8).write(to: other)
        let before = try listing(dir)
        XCTAssertThrowsError(try AtomicFile.write([9, 9], to: blocker.appendingPathComponent("x.bin"))) { error in
            guard let e = error as? FileIOError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, ENOTDIR)
            XCTAssertTrue(e.description.contains(blocker.path), e.description)
        }
        XCTAssertThrowsError(try AtomicFile.write([9], to: blocker.appendingPathComponent("deeper/x.bin")))
        XCTAssertEqual(try listing(dir), before)
        XCTAssertEqual(try Data(contentsOf: blocker), Data("i am a file".utf8))
        XCTAssertEqual(try Data(contentsOf: other), Data("keep".utf8))
    }

    func testTargetIsDirectoryFailsAndRemovesTemp() throws {
        let target = dir.appendingPathComponent("adir")
        try FileManager.default.createDirectory(at: target.appendingPathComponent("inside"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write([1], to: target)) { error in
            XCTAssertTrue(error is FileIOError, "\(error)")
        }
        XCTAssertEqual(try listing(dir), ["adir"])
        XCTAssertEqual(try listing(target), ["inside"])
    }

    func testFailureInBodyKeepsOldFile() throws {
        struct Boom: Error {}
        let url = dir.appendingPathComponent("f.txt")
        try AtomicFile.write(Data("old".utf8), to: url)
        XCTAssertThrowsError(try AtomicFile.write(to: url) { out in
            try out.write(Array("new partial".utf8))
            try out.write([UInt8](repeating: 1, count: 3 << 20))
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try Data(contentsOf: url), Data("old".utf8))
        XCTAssertEqual(try listing(dir), ["f.txt"])
    }

    func testAppendLine() throws {
        let url = dir.appendingPathComponent("logs/metrics.jsonl")
        try AtomicFile.appendLine(#"{"step":1,"loss":0.5}"#, to: url)
        try AtomicFile.appendLine(#"{"step":2,"loss":0.25}"#, to: url, sync: true)
        try AtomicFile.appendLine("", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "{\"step\":1,\"loss\":0.5}\n{\"step\":2,\"loss\":0.25}\n\n")
        XCTAssertThrowsError(try AtomicFile.appendLine("two\nlines", to: url)) { error in
            XCTAssertTrue("\(error)".contains("newline"), "\(error)")
        }
        XCTAssertThrowsError(try AtomicFile.appendLine("cr\r", to: url))
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).count, 4)
    }

    /// A folder that cannot be created is a FileIOError with the system's reason and the caller's fix, not
    /// Foundation's text: here a regular file stands where a parent folder belongs.
    func testCreateDirectoryNamesTheReason() throws {
        let dir = makeTemporaryDirectory("mkdir")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try FileIOError.createDirectory(at: file.appendingPathComponent("sub"), detail: "Fix: pick another folder")) { error in
            guard let e = error as? FileIOError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.path, file.appendingPathComponent("sub").path)
            XCTAssertTrue(e.description.contains("create the folder failed") && e.description.contains("Fix: pick another folder"), e.description)
            XCTAssertNotEqual(e.code, 0, e.description)
        }
        XCTAssertNoThrow(try FileIOError.createDirectory(at: dir.appendingPathComponent("a/b/c")))
    }
}
