// `aecnn run --jobs 2` through the binary on a tiny pipeline with `threads: 2`: every instance ends done at one
// thread per child, with outputs identical to a sequential `run --threads 1`; a child killed with -9 fails
// its instance (status 1, naming it and its log), the rest goes on, and the same command then completes it.
// Instances done with the pipeline's threads are not trained again with threads/N unless asked.

import XCTest
import Foundation
import _TestSupport

final class ParallelRunTests: XCTestCase {
    func testJobsSplitThreadsAndMatchASequentialRunAndSurviveAKilledChild() throws {
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let dir = makeTemporaryDirectory("parallel-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try TinyDataset.write(to: dir.appendingPathComponent("data"), train: 64, test: 32, side: 8)
        let extra = """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 2, batch_size: 16}
          train-recovery: {epochs: 1, batch_size: 16}
        splits: [stem, block2]
        ratios: [2, 4]
        aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 3}}
        """
        let pipeline = dir.appendingPathComponent("par.yaml")
        try TinyDataset.pipelineYAML(name: "par", dataDirectory: data, epochs: 1, extra: extra)
            .write(to: pipeline, atomically: true, encoding: .utf8)
        XCTAssertTrue(try String(contentsOf: pipeline, encoding: .utf8).contains("threads: 2"))
        let parallel = dir.appendingPathComponent("parallel").path, sequential = dir.appendingPathComponent("sequential").path

        let r = try runProcess(exe, ["run", "--pipeline", pipeline.path, "--checkpoints", parallel, "--jobs", "2"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("each with 1 thread"), r.err)
        XCTAssertTrue(r.err.contains("start fine-tune stem V=2"), r.err)
        XCTAssertEqual(try runProcess(exe, ["run", "--pipeline", pipeline.path, "--checkpoints", sequential, "--threads", "1"]).status, 0)
        let status = try runProcess(exe, ["status", "--pipeline", pipeline.path, "--checkpoints", parallel, "--threads", "1"]).out
        let lines = status.split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        XCTAssertTrue(lines.allSatisfy { $0.contains(" done") }, status)
        // Each instance's outputs as a run alone at one thread.
        let results = try FileManager.default.subpathsOfDirectory(atPath: sequential).filter { $0.hasSuffix("result.json") && !$0.hasPrefix("par/report/") }
        XCTAssertGreaterThan(results.count, 10)
        for path in results {
            func hash(_ root: String) throws -> String? {
                let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/" + path))) as? [String: Any]
                return object?["outputs_sha256"] as? String
            }
            XCTAssertEqual(try hash(parallel), try hash(sequential), path)
        }

        // A child killed with -9: its instance fails, the command says which and ends with 1; rerun completes it.
        let again = dir.appendingPathComponent("killed").path
        let p = Process()
        p.executableURL = exe
        p.arguments = ["run", "--pipeline", pipeline.path, "--checkpoints", again, "--jobs", "2"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Kill the first fine-tune child as soon as it runs.
        var killed = false
        let deadline = Date().addingTimeInterval(120)
        while !killed, p.isRunning, Date() < deadline {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry), let cmd = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8) else { continue }
                let args = cmd.split(separator: "\0")
                if args.contains("fine-tune"), args.contains("stage"), args.contains(Substring(again)) { kill(pid, SIGKILL); killed = true; break }
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertTrue(killed, "no fine-tune child seen\n\(message)")
        XCTAssertEqual(p.terminationStatus, 1, message)
        XCTAssertTrue(message.contains("killed by signal 9"), message)
        XCTAssertTrue(message.contains("did not complete"), message)
        let resumed = try runProcess(exe, ["run", "--pipeline", pipeline.path, "--checkpoints", again, "--jobs", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        for path in results {
            let a = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: again + "/" + path))) as? [String: Any]
            let b = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sequential + "/" + path))) as? [String: Any]
            XCTAssertEqual(a?["outputs_sha256"] as? String, b?["outputs_sha256"] as? String, path)
        }
        XCTAssertEqual(try runProcess(exe, ["run", "--pipeline", pipeline.path, "--checkpoints", parallel, "--jobs", "3"]).status, 2, "--jobs above threads")
    }

    func testJobsRefuseToRetrainWhatIsDoneWithThePipelinesThreads() throws {
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let dir = makeTemporaryDirectory("parallel-done")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try TinyDataset.write(to: dir.appendingPathComponent("data"), train: 64, test: 32, side: 8)
        let extra = """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 1, batch_size: 16}
          train-recovery: {epochs: 1, batch_size: 16}
        splits: [stem]
        ratios: [2]
        aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 3}}
        """
        let pipeline = dir.appendingPathComponent("done.yaml").path
        try TinyDataset.pipelineYAML(name: "done", dataDirectory: data, epochs: 1, extra: extra).write(toFile: pipeline, atomically: true, encoding: .utf8)
        let checkpoints = dir.appendingPathComponent("ck").path
        XCTAssertEqual(try runProcess(exe, ["stage", "train-base", "--pipeline", pipeline, "--checkpoints", checkpoints]).status, 0)
        let result = URL(fileURLWithPath: checkpoints).appendingPathComponent("done/train-base/result.json")
        let before = try Data(contentsOf: result)

        // train-base is done with threads 2: --jobs 2 (1 thread each) names it and the two ways on, and runs nothing.
        let refused = try runProcess(exe, ["run", "--pipeline", pipeline, "--checkpoints", checkpoints, "--jobs", "2"])
        XCTAssertEqual(refused.status, 2, refused.err)
        for part in ["done with 2", "train-base", "run without --jobs", "--rerun-at-job-threads"] { XCTAssertTrue(refused.err.contains(part), refused.err) }
        XCTAssertFalse(refused.err.contains("start "), refused.err)
        XCTAssertEqual(try Data(contentsOf: result), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoints + "/done/.jobs"))

        // Asked to, it reruns everything with 1 thread.
        let rerun = try runProcess(exe, ["run", "--pipeline", pipeline, "--checkpoints", checkpoints, "--jobs", "2", "--rerun-at-job-threads"])
        XCTAssertEqual(rerun.status, 0, rerun.err)
        XCTAssertTrue(rerun.err.contains("start train-base"), rerun.err)
        let status = try runProcess(exe, ["status", "--pipeline", pipeline, "--checkpoints", checkpoints, "--threads", "1"]).out
        XCTAssertTrue(status.split(separator: "\n").allSatisfy { $0.contains(" done") }, status)
        // Done with 1 thread, a second --jobs 2 has nothing to refuse or run.
        let again = try runProcess(exe, ["run", "--pipeline", pipeline, "--checkpoints", checkpoints, "--jobs", "2"])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertFalse(again.err.contains("start "), again.err)
    }
}
