// Kill the real `aecnn` process with SIGKILL at random moments during train-base, rerun the same command,
// and check the final checkpoint is bit-identical to an uninterrupted run.

import XCTest
import Foundation
import Checkpoint
import _TestSupport

final class KillResumeTests: XCTestCase {
    /// The aecnn executable built next to the test bundle.
    static func executable() -> URL? {
        var candidates: [URL] = []
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(Bundle(for: KillResumeTests.self).bundleURL.deletingLastPathComponent())
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for dir in candidates {
            let url = dir.appendingPathComponent("aecnn")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    func run(_ exe: URL, _ args: [String], killAfter: Double? = nil) throws -> Int32 {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        if let killAfter {
            Thread.sleep(forTimeInterval: killAfter)
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Runs `args` up to `attempts` times, each killed after a random moment in `[lower, upper]` seconds, until
    /// `wanted` kills have landed or a run that resumed after a kill finishes. A run that finishes before any
    /// kill landed (the reference run, timed cold, can be slower than these) proves nothing: its outputs are
    /// removed and the next attempt kills earlier. Returns the number of kills that landed.
    func killRepeatedly(_ exe: URL, _ args: [String], outputs: String, lower: Double, upper: Double,
                        wanted: Int, attempts: Int) throws -> Int {
        var rng = SystemRandomNumberGenerator()
        var kills = 0, upper = upper
        for _ in 0..<attempts where kills < wanted {
            let at = Double.random(in: lower...max(lower * 2, upper), using: &rng)
            if try run(exe, args, killAfter: at) != 0 {
                kills += 1
            } else if kills == 0 {
                try? FileManager.default.removeItem(atPath: outputs)
                upper /= 2
            } else {
                break
            }
        }
        return kills
    }

    func testSIGKILLAtRandomMomentsThenResumeIsBitIdentical() throws {
        guard let exe = Self.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let root = makeTemporaryDirectory("kill-resume")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 160, test: 32)
        func pipeline(_ name: String) throws -> String {
            let path = root.appendingPathComponent("\(name).yaml")
            try TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 3, batch: 16).write(to: path, atomically: true, encoding: .utf8)
            return path.path
        }
        let ckpt = root.appendingPathComponent("ckpt").path
        let t0 = Date()
        XCTAssertEqual(try run(exe, ["stage", "train-base", "--pipeline", try pipeline("straight"), "--checkpoints", ckpt]), 0)
        let duration = Date().timeIntervalSince(t0)
        let reference = try SHA256.hexDigest(ofFile: URL(fileURLWithPath: "\(ckpt)/straight/train-base/model.safetensors"))

        let name = "killed"
        let file = try pipeline(name)
        let kills = try killRepeatedly(exe, ["stage", "train-base", "--pipeline", file, "--checkpoints", ckpt], outputs: "\(ckpt)/\(name)",
                                       lower: 0.05, upper: duration * 0.9, wanted: 3, attempts: 8)
        XCTAssertGreaterThan(kills, 0, "no kill landed before the run finished: the test would prove nothing")
        XCTAssertEqual(try run(exe, ["stage", "train-base", "--pipeline", file, "--checkpoints", ckpt]), 0)
        let resumed = try SHA256.hexDigest(ofFile: URL(fileURLWithPath: "\(ckpt)/\(name)/train-base/model.safetensors"))
        XCTAssertEqual(resumed, reference, "after \(kills) kills")
    }

    /// `aecnn run` over the whole AECNN pipeline, killed at random moments, then finished: every stage's
    /// outputs are bit-identical to an uninterrupted run.
    func testSIGKILLDuringTheWholePipelineThenResumeIsBitIdentical() throws {
        guard let exe = Self.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let root = makeTemporaryDirectory("kill-run")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 64, test: 32, side: 8)
        let extra = """
          train-attention: {epochs: 2, batch_size: 16}
          fine-tune: {epochs: 2, batch_size: 16}
          train-recovery: {epochs: 2, batch_size: 16}
        splits: [stem]
        ratios: [2, 4]
        aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16}}
        """
        func pipeline(_ name: String) throws -> String {
            let path = root.appendingPathComponent("\(name).yaml")
            try TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 2, extra: extra).write(to: path, atomically: true, encoding: .utf8)
            return path.path
        }
        let ckpt = root.appendingPathComponent("ckpt").path
        func outputs(_ name: String) throws -> [String: String] {
            var out: [String: String] = [:]
            let base = URL(fileURLWithPath: "\(ckpt)/\(name)")
            let files = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)!
            // evaluate's and compare's outputs carry the pipeline's name: compare their name-free CSVs instead.
            out["table.csv"] = try String(contentsOf: base.appendingPathComponent("evaluate/table.csv"), encoding: .utf8)
            out["comparison.csv"] = try String(contentsOf: base.appendingPathComponent("report/comparison.csv"), encoding: .utf8)
            for case let url as URL in files where url.lastPathComponent == "result.json" && !url.path.contains("/evaluate/") && !url.path.contains("/report/") {
                let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
                out[String(url.path.dropFirst(base.path.count))] = obj["outputs_sha256"] as? String
            }
            return out
        }
        let t0 = Date()
        XCTAssertEqual(try run(exe, ["run", "--pipeline", try pipeline("straight"), "--checkpoints", ckpt]), 0)
        let duration = Date().timeIntervalSince(t0)
        let reference = try outputs("straight")
        XCTAssertEqual(reference.count, 1 + 1 + 1 + 2 + 2 + 2 + 2)   // 9 stage results + the two tables

        let file = try pipeline("killed")
        let kills = try killRepeatedly(exe, ["run", "--pipeline", file, "--checkpoints", ckpt], outputs: "\(ckpt)/killed",
                                       lower: 0.1, upper: duration * 0.6, wanted: 4, attempts: 10)
        XCTAssertGreaterThan(kills, 0, "no kill landed before the run finished: the test would prove nothing")
        XCTAssertEqual(try run(exe, ["run", "--pipeline", file, "--checkpoints", ckpt]), 0)
        XCTAssertEqual(try outputs("killed"), reference, "after \(kills) kills")
    }
}
