// `aecnn --version` through the built binary: the package version and the git commit stamped at build
// time by the VersionStamp plugin (12 hex digits, or "unknown" outside a git checkout), exit status 0.

import XCTest
import Foundation
import BuildStamp
import _TestSupport

final class VersionTests: XCTestCase {
    func testVersionPrintsTheVersionAndCommitAndExitsZero() throws {
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let r = try runProcess(exe, ["--version"])
        XCTAssertEqual(r.status, 0, r.err)
        let line = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let pattern = #"^aecnn [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}|unknown)(\+dirty)?\)$"#
        XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), "'\(line)'")
        // The binary and the tests were built from the same stamp.
        XCTAssertEqual(line, BuildInfo.description)
    }

    func testBuildInfoFields() {
        XCTAssertTrue(BuildInfo.commit == "unknown" || (BuildInfo.commit.count == 12 && BuildInfo.commit.allSatisfy { "0123456789abcdef".contains($0) }), BuildInfo.commit)
        XCTAssertFalse(BuildInfo.commit == "unknown" && BuildInfo.dirty, "dirty is only known with a commit")
        XCTAssertTrue(BuildInfo.description.hasPrefix("aecnn \(BuildInfo.version) (commit \(BuildInfo.commit)"))
        XCTAssertEqual(BuildInfo.description.hasSuffix("+dirty)"), BuildInfo.dirty)
    }
}
