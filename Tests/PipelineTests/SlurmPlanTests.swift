// The plan of `aecnn submit --slurm`, without a cluster: which instances become jobs and what each waits for
// (done upstreams: nothing; others: their jobs), jobs of an earlier submission still queued are kept rather
// than submitted twice, an instance another process holds is left out with everything downstream of it; the
// batch script's lines and quoting; the options Slurm would refuse; paths nodes would not see. The real
// cluster run is scripts/slurm-test.sh.

import XCTest
import Foundation
import Pipeline
import PipelineSpec
import _TestSupport

final class SlurmPlanTests: XCTestCase {
    var root: URL!
    var data: URL!

    override func setUpWithError() throws {
        root = makeTemporaryDirectory("slurm-plan")
        data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 64, test: 32, side: 8)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    func context() throws -> RunContext {
        let extra = """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 1, batch_size: 16}
          train-recovery: {epochs: 1, batch_size: 16}
        splits: [stem]
        ratios: [2, 4]
        aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 3}}
        """
        let yaml = TinyDataset.pipelineYAML(name: "plan", dataDirectory: data, epochs: 1, extra: extra)
        return RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "plan.yaml"), checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
    }

    func testPlanWaitsOnlyForInstancesThatAreNotDone() throws {
        let ctx = try context()
        let fresh = try SlurmPlanner.plan([ctx], previous: nil, alive: []).jobs
        let all = StageRunner.allInstances(ctx.spec)
        XCTAssertEqual(fresh.map(\.instance), all)
        let names = fresh.map(\.instance.description)
        func waits(_ name: String, in plan: [SlurmPlanner.Planned]) -> [String] {
            plan.first { $0.instance.description == name }!.waitsFor.map { plan[$0].instance.description }
        }
        XCTAssertEqual(waits("train-base", in: fresh), [])
        XCTAssertEqual(waits("prune stem V=4", in: fresh), ["rank-channels stem", "train-base"])
        XCTAssertEqual(waits("fine-tune stem V=4", in: fresh), ["prune stem V=4"])
        XCTAssertTrue(names.firstIndex(of: "train-base")! < names.firstIndex(of: "prune stem V=4")!)

        // With train-base done, nothing waits for it and it is not submitted.
        try StageRunner.run(StageInstance("train-base"), ctx)
        let later = try SlurmPlanner.plan([ctx], previous: nil, alive: []).jobs
        XCTAssertEqual(later.count, all.count - 1)
        XCTAssertFalse(later.contains { $0.instance.stage == "train-base" })
        XCTAssertEqual(waits("train-attention stem", in: later), [])
        XCTAssertEqual(waits("prune stem V=4", in: later), ["rank-channels stem"])

        // A job of an earlier submission that Slurm still lists is kept (with its id), not submitted again;
        // one it no longer lists is submitted anew.
        let earlier = SlurmSubmission(pipeline: "plan", jobs: [
            SlurmJob(instance: "train-attention stem", seed: nil, jobID: "41", dependsOn: [], log: "x", command: [], submittedAt: "t"),
            SlurmJob(instance: "rank-channels stem", seed: nil, jobID: "42", dependsOn: ["41"], log: "x", command: [], submittedAt: "t"),
        ])
        let kept = try SlurmPlanner.plan([ctx], previous: earlier, alive: ["41"]).jobs
        XCTAssertEqual(kept.first { $0.instance.description == "train-attention stem" }?.existingJobID, "41")
        XCTAssertNil(kept.first { $0.instance.description == "rank-channels stem" }?.existingJobID)
        XCTAssertEqual(waits("rank-channels stem", in: kept), ["train-attention stem"])
    }

    func testAnInstanceAnotherProcessRunsIsLeftOutWithItsDownstream() throws {
        let ctx = try context()
        try StageRunner.run(StageInstance("train-base"), ctx)
        let attention = StageInstance("train-attention", split: "stem")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = ["-c", "exec -a aecnn-holder sleep 30"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        let lock = StageRunner.lockURL(attention, ctx)
        try FileManager.default.createDirectory(at: lock.deletingLastPathComponent(), withIntermediateDirectories: true)
        Thread.sleep(forTimeInterval: 0.2)
        try "\(holder.processIdentifier)\n".write(to: lock, atomically: true, encoding: .utf8)
        let (jobs, leftOut) = try SlurmPlanner.plan([ctx], previous: nil, alive: [])
        // Everything but train-base depends on the attention model except the baselines (none here).
        XCTAssertTrue(jobs.isEmpty, "\(jobs.map(\.instance))")
        XCTAssertTrue(leftOut[0].contains("train-attention stem: running in another process (pid \(holder.processIdentifier)"), leftOut[0])
        XCTAssertTrue(leftOut.contains { $0.hasPrefix("compare: waits for") }, "\(leftOut)")
    }

    func testScriptRunsTheUsersCommandAfterItsUpstreamJobs() throws {
        let ctx = try context()
        let i = StageInstance("fine-tune", split: "stem", ratio: 4)
        let command = SlurmPlanner.command(i, ctx, executable: "/opt/aecnn bin/aecnn", pipelinePath: "/shared/it's.yaml", checkpoints: "/shared/ckpt")
        XCTAssertEqual(command, ["/opt/aecnn bin/aecnn", "stage", "fine-tune", "--pipeline", "/shared/it's.yaml", "--checkpoints", "/shared/ckpt",
                                 "--split", "stem", "--ratio", "4"])
        let options = SlurmOptions(partition: "cpu", time: "02:00:00", cpusPerTask: nil, mem: "8G", account: "lab-1")
        let script = SlurmPlanner.script(name: SlurmPlanner.jobName(i, ctx), log: SlurmPlanner.logPath(i, ctx), command: command,
                                         workingDirectory: "/shared/work", cpus: 2, options: options, dependencies: ["17", "18"])
        let lines = script.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "#!/bin/bash")
        for expected in ["#SBATCH --job-name=aecnn:plan:fine-tune:stem:4", "#SBATCH --cpus-per-task=2", "#SBATCH --partition=cpu",
                         "#SBATCH --time=02:00:00", "#SBATCH --mem=8G", "#SBATCH --account=lab-1",
                         "#SBATCH --dependency=afterok:17:18", "#SBATCH --kill-on-invalid-dep=yes", "cd /shared/work",
                         #"exec '/opt/aecnn bin/aecnn' stage fine-tune --pipeline '/shared/it'\''s.yaml' --checkpoints /shared/ckpt --split stem --ratio 4"#] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in\n\(script)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("#SBATCH --output=") && $0.hasSuffix("/.slurm/fine-tune--stem--4-%j.log") }, script)
        // No upstream job: no dependency lines.
        let first = SlurmPlanner.script(name: "n", log: "/l", command: ["a"], workingDirectory: "/", cpus: 1, options: SlurmOptions(), dependencies: [])
        XCTAssertFalse(first.contains("--dependency"))
        XCTAssertFalse(first.contains("--partition"))
        // The quoting survives bash.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "printf '%s\\n' " + command.map(SlurmPlanner.shellQuoted).joined(separator: " ")]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), command.joined(separator: "\n") + "\n")
    }

    func testOptionsSlurmWouldRefuseAreNamed() {
        XCTAssertNil(SlurmOptions(partition: "gpu.a100", time: "1-12:00:00", cpusPerTask: 8, mem: "16G", account: "ml_lab").problem())
        for t in ["30", "30:00", "02:00:00", "2-0", "2-12:30"] { XCTAssertNil(SlurmOptions(time: t).problem(), t) }
        let bad: [(SlurmOptions, String)] = [
            (SlurmOptions(partition: "cpu; rm -rf /"), "--partition"), (SlurmOptions(partition: ""), "--partition"),
            (SlurmOptions(time: "2h"), "--time"), (SlurmOptions(time: "0"), "--time"), (SlurmOptions(time: "1:99:00"), "--time"),
            (SlurmOptions(cpusPerTask: 0), "--cpus-per-task"), (SlurmOptions(cpusPerTask: 100_000), "--cpus-per-task"),
            (SlurmOptions(mem: "8GB"), "--mem"), (SlurmOptions(mem: "-1"), "--mem"), (SlurmOptions(account: "a b"), "--account"),
        ]
        for (options, name) in bad { XCTAssertTrue(options.problem()?.hasPrefix(name) == true, "\(options): \(options.problem() ?? "accepted")") }
    }

    func testPathsNodesWouldNotSeeAreRefused() {
        XCTAssertNotNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "Checkpoints", allowLocal: true))
        XCTAssertNotNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "/tmp/run/Checkpoints", allowLocal: false))
        XCTAssertNotNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "/dev/shm/x", allowLocal: false))
        XCTAssertNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "/tmp/run/Checkpoints", allowLocal: true))
        // A path that does not exist yet, right under "/": judged by the root file system's type, whatever folder the
        // tests run from (a clone under /tmp included). Accepted unless the root itself is a tmpfs or ramfs.
        let fresh = "/aecnn-slurm-plan-test-\(UUID().uuidString)/Checkpoints"
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        var rootType: String?
        for line in mounts.split(whereSeparator: \.isNewline) {
            let fields: [Substring] = line.split(separator: " ")
            if fields.count >= 3, fields[1] == "/" { rootType = String(fields[2]) }
        }
        let problem = SlurmPlanner.nodeLocalProblem("Checkpoints", fresh, allowLocal: false)
        if let rootType, ["tmpfs", "ramfs"].contains(rootType) {
            XCTAssertNotNil(problem, "root is a \(rootType)")
        } else {
            XCTAssertNil(problem, "root file system \(rootType ?? "unknown")")
        }
    }

    func testSubmissionRecordRoundTripsAndACorruptOneIsNamed() throws {
        let dir = root.appendingPathComponent("record")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertNil(try SlurmSubmission.load(dir))
        let record = SlurmSubmission(pipeline: "p", jobs: [SlurmJob(instance: "prune stem V=2", seed: 1, jobID: "7", dependsOn: ["5", "6"],
                                                                    log: "/a/b-%j.log", command: ["/x/aecnn", "stage"], submittedAt: "2026-12-02T00:00:00Z")])
        try record.save(dir)
        XCTAssertEqual(try SlurmSubmission.load(dir), record)
        XCTAssertTrue(try String(contentsOf: SlurmSubmission.url(dir), encoding: .utf8).contains("\"/a/b-%j.log\""))
        try "{".write(to: SlurmSubmission.url(dir), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SlurmSubmission.load(dir)) { XCTAssertTrue("\($0)".contains("submitted.json"), "\($0)") }
    }
}
