// The whole AECNN pipeline on tiny generated data: every stage runs in order, status reports each
// instance's state from content hashes, changed settings make exactly the downstream instances stale,
// a stage run before its inputs names the stage to run first, failures are recorded, and the lock keeps
// a second writer out while clearing a stale lock.

import XCTest
import Foundation
import Checkpoint
import Pipeline
import PipelineSpec
import _TestSupport

final class StageGraphTests: XCTestCase {
    var root: URL!
    var data: URL!

    override func setUpWithError() throws {
        root = makeTemporaryDirectory("stage-graph")
        data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 64, test: 32, side: 8)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    static let stages = """
      train-attention: {epochs: 1, batch_size: 16}
      fine-tune: {epochs: 1, batch_size: 16, optimizer: {kind: sgd, lr: 0.02}}
      train-recovery: {epochs: 1, batch_size: 16}
    splits: [stem, block2]
    ratios: [2, 4]
    aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 3}}
    """

    func context(_ name: String, extra: String = stages, fineTuneLR: Double? = nil) throws -> RunContext {
        var yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 1, extra: extra)
        if let lr = fineTuneLR { yaml = yaml.replacingOccurrences(of: "lr: 0.02", with: "lr: \(lr)") }
        return RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "\(name).yaml"),
                          checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
    }

    func states(_ ctx: RunContext) throws -> [String: InstanceState] {
        var out: [String: InstanceState] = [:]
        for i in StageRunner.allInstances(ctx.spec) { out[i.description] = try StageRunner.state(i, ctx) }
        return out
    }

    func testWholePipelineRunsAndStatusFollowsContent() throws {
        let ctx = try context("graph")
        let all = StageRunner.allInstances(ctx.spec)
        XCTAssertEqual(all.count, 1 + 2 + 2 + 4 + 4 + 4 + 1 + 1)   // … evaluate, compare
        XCTAssertEqual(try StageRunner.state(all[0], ctx), .pending)
        if case .waiting = try StageRunner.state(StageInstance("fine-tune", split: "stem", ratio: 2), ctx) {} else { XCTFail("fine-tune waits for prune") }

        try StageRunner.runAll(ctx)
        let after = try states(ctx)
        XCTAssertTrue(after.values.allSatisfy { $0 == .done }, "\(after)")
        let tableDir = StageRunner.directory(StageInstance("evaluate"), ctx)
        for f in ["table.md", "table.csv", "table.json"] { XCTAssertTrue(FileManager.default.fileExists(atPath: tableDir.appendingPathComponent(f).path)) }
        let table = try JSONSerialization.jsonObject(with: Data(contentsOf: tableDir.appendingPathComponent("table.json"))) as! [String: Any]
        XCTAssertEqual((table["rows"] as! [[String: Any]]).count, 4)
        // Bold goes to the row's highest accuracy, whichever method has it, when it leads by more than the noise
        // of 32 test images; otherwise nothing is bold.
        let md = try String(contentsOf: tableDir.appendingPathComponent("table.md"), encoding: .utf8)
        for row in table["rows"] as! [[String: Any]] {
            let keys = ["pruned_no_finetune_accuracy", "ca_pruned_accuracy", "aecnn_accuracy"]
            let values = keys.map { row[$0] as! Double }
            let line = md.split(separator: "\n").first { $0.hasPrefix("| \(row["split"]!) |") && $0.contains("| \(row["ratio"]!) |") }!
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let top = values.max()!, others = values.filter { $0 != top }
            let noise = { (p: Double) in p * (1 - p) / 32 }
            let leads = values.filter { $0 == top }.count == 1
                && others.allSatisfy { top - $0 > 2 * (noise(top) + noise($0)).squareRoot() }
            for (k, v) in values.enumerated() {
                XCTAssertEqual(cells[3 + k].hasPrefix("**"), leads && v == top, "\(line)")
            }
        }

        // Ranking and pruning are consistent: kept = the C/V best channels, ascending.
        let rank = StageRunner.result(StageInstance("rank-channels", split: "stem"), ctx)!
        let order = rank["order"] as! [Int]
        let prune = StageRunner.result(StageInstance("prune", split: "stem", ratio: 4), ctx)!
        XCTAssertEqual(prune["kept"] as! [Int], Array(order.prefix(order.count / 4)).sorted())
        XCTAssertLessThan(prune["device_flops"] as! Int, prune["device_flops_unpruned"] as! Int)

        // Pruning copies the kept channels' statistics untouched: no forward pass in training mode may move
        // the running statistics it saves.
        func tensors(_ instance: StageInstance) throws -> [String: [Float]] {
            let url = StageRunner.directory(instance, ctx).appendingPathComponent("model.safetensors")
            var out: [String: [Float]] = [:]
            for t in try SafeTensors.read(from: url).tensors { if case .f32(let x) = t.payload { out[t.name] = x.array } }
            return out
        }
        let baseTensors = try tensors(StageInstance("train-base")), pruned = try tensors(StageInstance("prune", split: "stem", ratio: 4))
        let kept = prune["kept"] as! [Int]
        for name in ["stem.bn.running_mean", "stem.bn.running_var", "stem.bn.weight", "stem.bn.bias"] {
            XCTAssertEqual(pruned[name]!, kept.map { baseTensors[name]![$0] }, name)
        }
        // A weights file explains itself to any safetensors reader.
        for stage in ["prune", "train-recovery"] {
            let meta = try SafeTensors.read(from: StageRunner.directory(StageInstance(stage, split: "stem", ratio: 4), ctx)
                .appendingPathComponent("model.safetensors")).metadata
            XCTAssertEqual(meta["format"], "pt")
            XCTAssertEqual(meta["arch"], "resnet20")
            XCTAssertEqual(meta["split"], "stem")
            XCTAssertEqual(meta["ratio"], "4")
            XCTAssertEqual(meta["kept_channels"], kept.map(String.init).joined(separator: ","), stage)
        }

        // Changing fine-tune's settings makes fine-tune, train-recovery and evaluate stale, nothing else.
        let changed = try context("graph", fineTuneLR: 0.03)
        let s = try states(changed)
        for (name, state) in s {
            let downstream = name.hasPrefix("fine-tune") || name.hasPrefix("train-recovery") || name == "evaluate" || name == "compare"
            if downstream { if case .stale = state {} else { XCTFail("\(name) should be stale, is \(state)") } }
            else { XCTAssertEqual(state, .done, name) }
        }
        // Status says why: the setting that changed, old → new; downstream, which input's outputs changed.
        XCTAssertEqual(s["fine-tune stem V=2"]?.description, "stale (settings changed: training.optimizer.sgd.lr: 0.02 → 0.03)")
        if case .stale(let why)? = s["train-recovery stem V=2"] {
            XCTAssertTrue(why.contains("input fine-tune stem V=2 is not up to date"), why)
        } else { XCTFail("train-recovery should be stale") }
        // Re-running brings it back; an unchanged pipeline then has nothing to do.
        try StageRunner.runAll(changed)
        XCTAssertTrue(try states(changed).values.allSatisfy { $0 == .done })
    }

    func testStageBeforeItsInputsNamesTheStageToRunFirst() throws {
        let ctx = try context("early")
        // Nothing has run: the message names the first instance upstream (train-base), not just the direct input,
        // and the option that runs them all.
        XCTAssertThrowsError(try StageRunner.run(StageInstance("prune", split: "stem", ratio: 2), ctx)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("rank-channels"), text)
            XCTAssertTrue(text.contains("run `aecnn stage train-base --pipeline <file>` first"), text)
            XCTAssertTrue(text.contains("--with-upstream"), text)
        }
        // --with-upstream runs exactly what the target needs: train-base, train-attention stem, rank-channels
        // stem, prune stem V=2 — not the other split or ratio.
        let target = StageInstance("prune", split: "stem", ratio: 2)
        XCTAssertEqual(try StageRunner.upstream(of: [target], ctx).map(\.description),
                       ["train-base", "train-attention stem", "rank-channels stem", "prune stem V=2"])
        try StageRunner.runWithUpstream([target], ctx)
        XCTAssertEqual(try StageRunner.state(target, ctx), .done)
        XCTAssertEqual(try StageRunner.state(StageInstance("prune", split: "stem", ratio: 4), ctx), .pending)
        if case .waiting = try StageRunner.state(StageInstance("train-attention", split: "block2"), ctx) {} else {
            XCTAssertEqual(try StageRunner.state(StageInstance("train-attention", split: "block2"), ctx), .pending)
        }
        XCTAssertThrowsError(try StageRunner.run(StageInstance("prune", split: "block9", ratio: 2), ctx)) { error in
            XCTAssertTrue(String(describing: error).contains("not part of pipeline"), "\(error)")
        }
    }

    /// Outputs are checked cheaply on every look: a truncated or deleted output shows as damaged, a touched one
    /// is hashed again and stays done, and `runAll` recomputes a damaged instance (to the same bytes).
    func testDamagedOutputsShowAndRunRecomputesThem() throws {
        let ctx = try context("damage")
        let base = StageInstance("train-base")
        try StageRunner.run(base, ctx)
        let model = StageRunner.directory(base, ctx).appendingPathComponent("model.safetensors")
        let original = try Data(contentsOf: model)
        // Touched (same bytes, new time): hashed again, still done.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 100)], ofItemAtPath: model.path)
        XCTAssertEqual(try StageRunner.state(base, ctx), .done)
        // Same size, other bytes, new time: damaged.
        var flipped = original
        flipped[flipped.count - 1] ^= 1
        try flipped.write(to: model)
        if case .damaged(let why) = try StageRunner.state(base, ctx) { XCTAssertTrue(why.contains("no longer hash"), why) } else { XCTFail("not damaged") }
        // Truncated: damaged by its size alone.
        try original.prefix(100).write(to: model)
        if case .damaged(let why) = try StageRunner.state(base, ctx) { XCTAssertTrue(why.contains("100 bytes"), why) } else { XCTFail("not damaged") }
        XCTAssertTrue(try StageRunner.state(base, ctx).description.contains("aecnn run recomputes it"))
        // run recomputes it, bit-identical.
        try StageRunner.runWithUpstream([base], ctx)
        XCTAssertEqual(try StageRunner.state(base, ctx), .done)
        XCTAssertEqual(try Data(contentsOf: model), original)
        try FileManager.default.removeItem(at: model)
        if case .damaged(let why) = try StageRunner.state(base, ctx) { XCTAssertTrue(why.contains("missing"), why) } else { XCTFail("not damaged") }
    }

    /// A file where a stage keeps a folder (its outputs, its progress) is named with the fix.
    func testAFileWhereAFolderBelongsIsNamed() throws {
        let ctx = try context("files")
        let dir = StageRunner.directory(StageInstance("train-base"), ctx)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("state"))
        XCTAssertThrowsError(try StageRunner.run(StageInstance("train-base"), ctx)) { e in
            XCTAssertTrue("\(e)".contains("state is a file where aecnn keeps the folder of train-base's resumable progress"), "\(e)")
            XCTAssertTrue("\(e)".contains("Fix:"), "\(e)")
        }
        try FileManager.default.removeItem(at: dir)
        try Data("x".utf8).write(to: dir)
        XCTAssertThrowsError(try StageRunner.run(StageInstance("train-base"), ctx)) { XCTAssertTrue("\($0)".contains("is a file where aecnn keeps the folder of train-base's outputs"), "\($0)") }
    }

    func testFailureIsRecordedAndReported() throws {
        let ctx = try context("fails")
        try StageRunner.run(StageInstance("train-base"), ctx)
        // Corrupt the base weights: train-attention must fail with a clear error and say so in status.
        let model = StageRunner.directory(StageInstance("train-base"), ctx).appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: model)
        bytes[bytes.count - 1] ^= 0x55
        try bytes.write(to: model)
        let attention = StageInstance("train-attention", split: "stem")
        // The damaged input is found before train-attention reads it, named with the stage to rerun.
        XCTAssertThrowsError(try StageRunner.run(attention, ctx)) {
            XCTAssertTrue("\($0)".contains("train-base") && "\($0)".contains("damaged"), "\($0)")
        }
        if case .failed(let why) = try StageRunner.state(attention, ctx) { XCTAssertTrue(why.contains("damaged"), why) }
        else { XCTFail("expected failed, got \(try StageRunner.state(attention, ctx))") }
    }

    func testLockKeepsASecondWriterOutAndClearsAStaleLock() throws {
        let dir = root.appendingPathComponent("locked")
        // A live holder whose command line names aecnn.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = ["-c", "exec -a aecnn-holder sleep 30"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        Thread.sleep(forTimeInterval: 0.2)
        try "\(holder.processIdentifier)\n".write(to: dir.appendingPathComponent(".lock"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PipelineLock(root: dir).acquire()) { XCTAssertTrue("\($0)".contains("\(holder.processIdentifier)"), "\($0)") }
        // A lock left by a process that no longer exists is stale and is taken over.
        holder.terminate(); holder.waitUntilExit()
        let lock = PipelineLock(root: dir)
        XCTAssertNoThrow(try lock.acquire())
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent(".lock"), encoding: .utf8).hasPrefix("\(getpid())\n"))
        lock.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".lock").path))
    }

    /// Per-instance locks: while another live process holds one instance, this process is refused on that
    /// instance with the holder named, runs a different instance meanwhile, `runAll` leaves the held instance
    /// (and what depends on it) to its holder, and status says it is running.
    func testInstancesLockSeparately() throws {
        let ctx = try context("instances")
        try StageRunner.run(StageInstance("train-base"), ctx)
        let stem = StageInstance("train-attention", split: "stem"), block2 = StageInstance("train-attention", split: "block2")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = ["-c", "exec -a aecnn-holder sleep 30"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        Thread.sleep(forTimeInterval: 0.2)
        let lockFile = StageRunner.lockURL(stem, ctx)
        try FileManager.default.createDirectory(at: lockFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "\(holder.processIdentifier)\n\(PipelineLock.holder(of: lockFile)?.host ?? "")\n2026-12-02T00:00:00Z\n"
            .write(to: lockFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try StageRunner.run(stem, ctx)) { e in
            XCTAssertTrue("\(e)".contains("pid \(holder.processIdentifier)") && "\(e)".contains("since 2026-12-02T00:00:00Z"), "\(e)")
        }
        XCTAssertEqual(StageRunner.runningHolder(stem, ctx)?.pid, holder.processIdentifier)
        try StageRunner.run(block2, ctx)   // another instance of the same pipeline, meanwhile
        XCTAssertEqual(try StageRunner.state(block2, ctx), .done)
        try StageRunner.runAll(ctx)        // leaves stem and everything below it to the holder
        XCTAssertEqual(try StageRunner.state(StageInstance("prune", split: "block2", ratio: 2), ctx), .done)
        XCTAssertNotEqual(try StageRunner.state(stem, ctx), .done)
        XCTAssertNotEqual(try StageRunner.state(StageInstance("rank-channels", split: "stem"), ctx), .done)
        // The holder is gone: its lock is stale, and the rest runs.
        holder.terminate(); holder.waitUntilExit()
        XCTAssertNil(StageRunner.runningHolder(stem, ctx))
        try StageRunner.runAll(ctx)
        XCTAssertTrue(try StageRunner.allInstances(ctx.spec).allSatisfy { try StageRunner.state($0, ctx) == .done })
    }

    /// Temporary files of a writer killed mid-write are removed when the lock is next taken; those of a live
    /// process and ordinary files stay.
    func testTakingTheLockRemovesTemporariesOfDeadWriters() throws {
        let dir = root.appendingPathComponent("temporaries")
        let deep = dir.appendingPathComponent("train-base/state")
        try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run(); gone.waitUntilExit()
        let dead = deep.appendingPathComponent(".epoch-0001.safetensors.tmp-\(gone.processIdentifier)-12345")
        let mine = deep.appendingPathComponent(".result.json.tmp-\(getpid())-7")
        let ordinary = deep.appendingPathComponent("epoch-0001.safetensors")
        for f in [dead, mine, ordinary] { try Data("x".utf8).write(to: f) }
        let lock = PipelineLock(root: dir)
        try lock.acquire()
        lock.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: mine.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: ordinary.path))
    }

    /// A lock that cannot be created because of the file system (here: the pipeline folder is a file) says
    /// so, instead of naming a holder.
    func testLockOnAnUnwritablePlaceNamesThePath() throws {
        let file = root.appendingPathComponent("not-a-folder")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try PipelineLock(root: file.appendingPathComponent("inner")).acquire()) { error in
            XCTAssertFalse("\(error)".contains("pid"), "\(error)")
            XCTAssertTrue("\(error)".contains("not-a-folder"), "\(error)")
        }
    }
}
