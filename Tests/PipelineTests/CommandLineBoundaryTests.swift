// The built `aecnn` binary given boundary values: every case ends within seconds with exit status 1 or 2
// and a message naming the option and the fix; none crashes (status ≥ 128) or hangs. The pipeline-field
// boundaries are tested where the YAML is parsed (PipelineSpecErrorTests).

import XCTest
import Foundation
import _TestSupport

final class CommandLineBoundaryTests: XCTestCase {
    func testBoundaryValuesEndWithAMessage() throws {
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let dir = makeTemporaryDirectory("cli-boundaries")
        defer { try? FileManager.default.removeItem(at: dir) }
        let aFile = dir.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: aFile)
        let traversal = dir.appendingPathComponent("traversal.yaml")
        try """
        name: traversal
        dataset: {kind: fashion-mnist, path: \(dir.path)}
        model: {arch: resnet20, width: 0.25}
        splits: ["../../../../victim"]
        ratios: [2]
        """.write(to: traversal, atomically: true, encoding: .utf8)
        let valid = dir.appendingPathComponent("valid.yaml")
        try """
        name: valid
        dataset: {kind: fashion-mnist, path: \(dir.path)}
        model: {arch: resnet20, width: 0.25}
        splits: [stem]
        ratios: [2]
        """.write(to: valid, atomically: true, encoding: .utf8)
        let codingPipeline = dir.appendingPathComponent("coding.yaml")
        try (String(contentsOf: valid, encoding: .utf8) + "\ncoding: {codecs: [zstd], bits: [8]}\n")
            .replacingOccurrences(of: "name: valid", with: "name: coding").write(to: codingPipeline, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["stage", "fine-tune", "--pipeline", valid.path, "--split", "stme"], "did you mean 'stem'?"),
            (["stage", "prune", "--pipeline", valid.path, "--variant", "l1"], "Fix: add l1 to aecnn.rank.methods"),
            (["stage", "prune", "--pipeline", valid.path, "--variant", "bec"], "prune in \(valid.path) has variants attention"),
            (["stage", "fine-tune", "--pipeline", valid.path, "--ratio", "8"], "has ratios 2"),
            (["serve", "--pipeline", codingPipeline.path, "--only", "stem/3"], "is not a configuration"),
            (["bench", "--batch", "0"], "--batch"), (["bench", "--batch", "-1"], "--batch"),
            (["bench", "--batch", "100000000", "--steps", "1"], "--batch"), (["bench", "--steps", "0"], "--steps"),
            (["bench", "--threads", "0"], "--threads"), (["bench", "--threads", "1000000000"], "--threads"),
            (["bench", "--latency-samples", "0"], "--latency-samples"), (["bench", "--arch", "vgg"], "--arch"),
            (["bench", "--batch", "nan"], "batch"), (["bench", "--batch", ""], "batch"),
            (["stage", "train-base", "--pipeline", traversal.path, "--checkpoints", ""], "--checkpoints"),
            (["stage", "train-base", "--pipeline", traversal.path, "--checkpoints", aFile.path], "is a file"),
            (["stage", "train-base", "--pipeline", traversal.path, "--threads", "0"], "--threads"),
            (["stage", "train-base", "--pipeline", traversal.path, "--checkpoints", dir.appendingPathComponent("ck").path], "cannot name a split folder"),
            (["status", "--pipeline", traversal.path], "cannot name a split folder"),
            (["stage", "fine-tun", "--pipeline", traversal.path], "did you mean 'fine-tune'?"),
            (["export-features", "--pipeline", traversal.path, "--out", dir.appendingPathComponent("f.bin").path, "--images", "0"], "--images"),
            (["offload", "--pipeline", traversal.path, "--mode", "local", "--images", "0"], "--images"),
            (["offload", "--pipeline", traversal.path, "--mode", "local", "--uplink-mbps", "0"], "--uplink-mbps"),
            (["offload", "--pipeline", traversal.path, "--mode", "local", "--uplink-mbps", "nan"], "--uplink-mbps"),
            (["offload", "--pipeline", traversal.path, "--mode", "local", "--uplink-mbps", "1e-9"], "--uplink-mbps"),
            (["offload", "--pipeline", traversal.path, "--mode", "local", "--rtt-ms", "1e12"], "--rtt-ms"),
            (["serve", "--pipeline", traversal.path, "--port", "70000"], "--port"),
            (["serve", "--pipeline", traversal.path, "--max-in-flight", "0"], "--max-in-flight"),
            (["bench-server", "--server", "http://127.0.0.1:1", "--frame", aFile.path, "--clients", "0"], "--clients"),
            (["bench-server", "--server", "http://127.0.0.1:1", "--frame", aFile.path, "--seconds", "inf"], "--seconds"),
            (["profile", "--pipeline", traversal.path, "--images", "0"], "--images"),
            (["plan", "--pipeline", traversal.path, "--uplink-mbps", "0", "--deadline-ms", "100"], "--uplink-mbps"),
            (["encode", "--pipeline", traversal.path, "--split", "stem", "--ratio", "2", "--out", dir.path, "--images", "0"], "--images"),
            (["submit", "--pipeline", valid.path], "--slurm"),
            (["submit", "--pipeline", valid.path, "--slurm", "--cpus-per-task", "0"], "--cpus-per-task"),
            (["submit", "--pipeline", valid.path, "--slurm", "--time", "2h"], "--time"),
            (["submit", "--pipeline", valid.path, "--slurm", "--mem", "-1"], "--mem"),
            (["submit", "--pipeline", valid.path, "--slurm", "--partition", "a b"], "--partition"),
            (["submit", "--pipeline", valid.path, "--slurm", "--dry-run", "--checkpoints", dir.appendingPathComponent("ck").path], "every node"),
        ]
        for (args, mention) in cases {
            let start = Date()
            let r = try runProcess(exe, args)
            let what = args.joined(separator: " ")
            XCTAssertTrue(r.status == 1 || r.status == 2, "\(what): exit \(r.status)\n\(r.err)")
            XCTAssertTrue(r.err.contains(mention), "\(what): '\(r.err)' does not mention \(mention)")
            XCTAssertLessThan(Date().timeIntervalSince(start), 20, what)
        }
        // Nothing was written outside the folder given as --checkpoints.
        let outside = dir.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("victim")
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside.path))
    }
}
