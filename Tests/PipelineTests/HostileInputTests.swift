// Inputs another machine or a hostile user can hand aecnn: comparison.json files to merge with names that
// would become paths, figures no report holds, reports of different experiments; a FIFO or a huge sparse file
// where a weights file or a frame belongs; an unreadable upstream result; a folder at a lock path; the debris of
// a killed run (a temporary file in a forced rerun's folder, a metrics line lost between the state and the log);
// a base model whose test loss is NaN. Each gets a clear error naming the file and the fix, and writes nothing
// outside its folder.

import XCTest
import Foundation
import TensorCore
import Checkpoint
@testable import Pipeline
import PipelineSpec
import Datasets
import _TestSupport

final class HostileInputTests: XCTestCase {
    var root: URL!

    override func setUp() { root = makeTemporaryDirectory("hostile") }
    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    /// A small valid report of one seed.
    func report(seed: UInt64 = 0, splits: [String] = ["stem"], ratios: [Int] = [4]) -> ComparisonReport {
        var rows: [ReportRow] = []
        for s in splits { for v in ratios {
            var r = ReportRow(method: .aecnn, split: s, ratio: v)
            r.accuracy = 0.9; r.testImages = 100; r.n = 1
            rows.append(r)
        } }
        return ComparisonReport(pipeline: "p", seeds: [seed], layout: ReportLayout(splits: splits, ratios: ratios, codecs: [], bits: [], channels: [], qualities: []),
                                testImages: 100, trainImages: 200, dataset: "fashion-mnist", model: "resnet20 width 1.0", baseAccuracy: 0.91, baseAccuracyStd: nil,
                                baseModelSha256: "b\(seed)", rows: rows, budgets: [],
                                provenance: [RunProvenance(seed: seed, version: "v", cpu: "cpu", cores: 2, threads: 2, blasCore: nil, convKernels: nil)],
                                stageTimes: [], pipelineText: nil)
    }

    /// Writes `report` as comparison.json into its own folder, with `edit` applied to the JSON object.
    func write(_ report: ComparisonReport, _ name: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
        var object = try JSONSerialization.jsonObject(with: report.encoded()) as! [String: Any]
        edit(&object)
        let dir = root.appendingPathComponent("in-\(name)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("comparison.json")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url
    }

    /// Every path below `dir`.
    func tree(_ dir: URL) -> Set<String> {
        Set((FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String]) ?? [])
    }

    func testMergeRefusesHostileSplitNamesAndWritesNothingOutsideOutput() throws {
        let exe = try XCTUnwrap(KillResumeTests.executable(), "aecnn executable not found next to the tests")
        let victim = root.appendingPathComponent("victim", isDirectory: true)
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        let traversal = String(repeating: "/..", count: 12) + victim.path + "/new/dir/owned"
        let hostile = ["/", "..", ".", "a/b", "../escape", traversal, "nul\0byte", "new\nline", "cr\rreturn", "quote'd", "double\"quote",
                       "$(touch \(victim.path)/X)", "`touch \(victim.path)/Y`", "sp ace", String(repeating: "long", count: 100), ""]
        for (k, name) in hostile.enumerated() {
            let url = try write(report(), "split-\(k)") { $0["layout"] = ["splits": [name], "ratios": [4], "codecs": [], "bits": [], "channels": [], "qualities": []] }
            let output = root.appendingPathComponent("out-\(k)", isDirectory: true)
            let before = tree(root)
            let r = try runProcess(exe, ["report", "--merge", url.path, "--output", output.path], timeout: 60)
            XCTAssertFalse(r.timedOut)
            XCTAssertNotEqual(r.status, 0, "split \(name.debugDescription) was accepted")
            XCTAssertTrue(r.err.contains(url.path) && r.err.contains("Fix"), "the error names the file and the fix: \(r.err)")
            XCTAssertEqual(tree(root), before, "split \(name.debugDescription): the refused merge wrote \(tree(root).subtracting(before))")
            XCTAssertEqual(tree(victim), [], "split \(name.debugDescription) wrote outside --output")
        }
        // The rendering refuses a plot name that is not one file name, whatever the report holds.
        var direct = report()
        direct.layout.splits = ["../x"]
        XCTAssertThrowsError(try ReportRendering.write(direct, to: root.appendingPathComponent("direct"))) {
            XCTAssertTrue("\($0)".contains("not a file name"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("x.svg").path))
    }

    func testMergeRefusesFiguresNoReportHolds() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("accuracy 1e308", { o in var rows = o["rows"] as! [[String: Any]]; rows[0]["accuracy"] = 1e308; o["rows"] = rows }),
            ("accuracy -5", { o in var rows = o["rows"] as! [[String: Any]]; rows[0]["accuracy"] = -5; o["rows"] = rows }),
            ("n -5", { o in var rows = o["rows"] as! [[String: Any]]; rows[0]["n"] = -5; o["rows"] = rows }),
            ("test_images 0", { o in o["test_images"] = 0 }),
            ("seeds []", { o in o["seeds"] = [Int]() }),
            ("a seed twice", { o in o["seeds"] = [1, 1] }),
            ("a row at a ratio the layout lacks", { o in var rows = o["rows"] as! [[String: Any]]; rows[0]["ratio"] = 8; o["rows"] = rows }),
            ("bytes -1", { o in var rows = o["rows"] as! [[String: Any]]; rows[0]["bytes_per_image"] = -1; o["rows"] = rows }),
        ]
        for (what, edit) in cases {
            let url = try write(report(), what.replacingOccurrences(of: " ", with: "_"), edit: edit)
            XCTAssertThrowsError(try ComparisonReport.read(url), what) { error in
                XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("not a valid comparison.json"), "\(what): \(error)")
            }
        }
        XCTAssertNoThrow(try ComparisonReport.read(try write(report(), "valid")))
        // A merged row that no seed measured has no accuracy and n 0: valid.
        XCTAssertNoThrow(try ComparisonReport.read(try write(report(), "unmeasured") { o in
            var rows = o["rows"] as! [[String: Any]]; rows[0]["accuracy"] = nil; rows[0]["n"] = 0; o["rows"] = rows
        }))
    }

    func testMergeRefusesDifferentExperimentsAndNamesTheDifference() throws {
        let a = report(seed: 0)
        for (other, mention) in [(report(seed: 1, ratios: [8]), "ratios"), (report(seed: 1, splits: ["block3"]), "splits")] {
            XCTAssertThrowsError(try ComparisonReport.merge([a, other], names: ["a", "b"])) {
                XCTAssertTrue("\($0)".contains("different experiments") && "\($0)".contains(mention), "\($0)")
            }
        }
        var wider = report(seed: 1)
        wider.model = "resnet20 width 2.0"
        XCTAssertThrowsError(try ComparisonReport.merge([a, wider], names: ["a", "b"])) { XCTAssertTrue("\($0)".contains("model"), "\($0)") }
        var recipe = report(seed: 1)
        recipe.budgets = [TrainingBudget(method: .aecnn, epochsAfterBase: 9, breakdown: "9 fine-tune", matched: nil)]
        XCTAssertThrowsError(try ComparisonReport.merge([a, recipe], names: ["a", "b"])) { XCTAssertTrue("\($0)".contains("training budgets"), "\($0)") }
        // Parts of one seed are held to the same rule.
        XCTAssertThrowsError(try ComparisonReport.merge([a, report(seed: 0, ratios: [8])], names: ["a", "b"])) {
            XCTAssertTrue("\($0)".contains("different experiments"), "\($0)")
        }
        XCTAssertNoThrow(try ComparisonReport.merge([a, report(seed: 1)], names: ["a", "b"]))
    }

    func testMergeOutputMayNotReplaceAnInputOrBeAFile() throws {
        let exe = try XCTUnwrap(KillResumeTests.executable(), "aecnn executable not found next to the tests")
        let a = try write(report(seed: 0), "a"), b = try write(report(seed: 1), "b")
        let original = try Data(contentsOf: a)
        let r = try runProcess(exe, ["report", "--merge", a.path, b.path, "--output", a.deletingLastPathComponent().path], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("would replace it"), r.err)
        XCTAssertEqual(try Data(contentsOf: a), original, "the input is untouched")
        let file = root.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let f = try runProcess(exe, ["report", "--merge", a.path, b.path, "--output", file.path], timeout: 60)
        XCTAssertNotEqual(f.status, 0)
        XCTAssertTrue(f.err.contains("is a file, not a folder") && !f.err.contains("NSCocoaErrorDomain"), f.err)
        let ok = try runProcess(exe, ["report", "--merge", a.path, b.path, "--output", root.appendingPathComponent("merged").path], timeout: 60)
        XCTAssertEqual(ok.status, 0, ok.err)
    }

    // MARK: files of the wrong kind or size

    /// A pipeline of the tiny data set whose base model is imported from `weights`.
    func importPipeline(_ name: String, weights: URL) throws -> URL {
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"))
        let yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 1)
            .replacingOccurrences(of: "  width: 0.25\n", with: "  width: 0.25\n  weights: \(weights.path)\n")
        let file = root.appendingPathComponent("\(name).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func testAFIFOWhereFilesBelongIsRefusedWithoutHanging() throws {
        let exe = try XCTUnwrap(KillResumeTests.executable(), "aecnn executable not found next to the tests")
        let fifo = root.appendingPathComponent("weights.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        let pipeline = try importPipeline("fifo", weights: fifo)
        let ck = root.appendingPathComponent("ck").path
        for command in [["status"], ["stage", "train-base"], ["run"]] {
            let r = try runProcess(exe, command + ["--pipeline", pipeline.path, "--checkpoints", ck], timeout: 30)
            XCTAssertFalse(r.timedOut, "\(command) hung on a FIFO as model.weights")
            XCTAssertNotEqual(r.status, 0, "\(command): \(r.out)")
            XCTAssertTrue(r.err.contains(fifo.path) && r.err.contains("FIFO"), "\(command): \(r.err)")
        }
        // A FIFO as a comparison.json to merge, as features to benchmark (beside a valid description), as a frame
        // to load-test with.
        try Data(#"{"shape": [1, 2, 2]}"#.utf8).write(to: URL(fileURLWithPath: fifo.path + ".json"))
        for command in [["report", "--merge", fifo.path, "--output", root.appendingPathComponent("m").path],
                        ["bench-coders", fifo.path], ["bench-server", "--server", "http://127.0.0.1:9", "--frame", fifo.path]] {
            let r = try runProcess(exe, command, timeout: 30)
            XCTAssertFalse(r.timedOut, "\(command[0]) hung on a FIFO")
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.err.contains("FIFO"), "\(command[0]): \(r.err)")
        }
        // And as an image of an image folder.
        XCTAssertThrowsError(try ImageFolder.decode(path: fifo.path, channels: 1)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }

    func testAHugeSparseFileIsRefusedFromItsHeaderOrSize() throws {
        let huge = root.appendingPathComponent("huge.safetensors")
        FileManager.default.createFile(atPath: huge.path, contents: nil)
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: 10 << 30)   // 10 GiB of holes: no disk used
        try handle.close()
        let spec = try PipelineSpec.load(path: try importPipeline("huge", weights: huge).path)
        // Before anything is hashed, the 8-byte header shows it is not safetensors.
        XCTAssertThrowsError(try TrainBaseStage.settingsJSON(TrainBaseStage.instance, spec)) { error in
            XCTAssertTrue("\(error)".contains("model.weights") && "\(error)".contains(huge.path) && "\(error)".contains("Fix"), "\(error)")
        }
        // A record reader refuses it by size before reading it.
        XCTAssertThrowsError(try SafeRead.contents(of: huge, limit: SafeRead.recordLimit)) {
            XCTAssertTrue("\($0)".contains("10737418240 bytes"), "\($0)")
        }
    }

    // MARK: debris of killed or failed runs

    func context(_ name: String, epochs: Int = 2, extra: String = "") throws -> RunContext {
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"))
        let yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: epochs, extra: extra)
        return RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "\(name).yaml"), checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
    }

    func epochLines(_ ctx: RunContext) throws -> [Int] {
        let text = try String(contentsOf: ctx.stageDirectory("train-base").appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["event"] as? String == "epoch" }.compactMap { $0["epoch"] as? Int }
    }

    /// A kill after epoch 1's state is saved but before its line reaches metrics.jsonl loses nothing: the line
    /// comes back from the state on resume.
    func testAnEpochLineLostToAKillComesBackOnResume() throws {
        let ctx = try context("metrics")
        // 96 images / batch 16 = 6 steps per epoch: stopping after 9 steps leaves epoch 1's state saved.
        XCTAssertThrowsError(try TrainBaseStage.run(ctx, stopAfterSteps: 9))
        let metrics = ctx.stageDirectory("train-base").appendingPathComponent("metrics.jsonl")
        let kept = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").filter { !$0.contains("\"event\":\"epoch\"") }
        try (kept.joined(separator: "\n") + "\n").write(to: metrics, atomically: true, encoding: .utf8)
        XCTAssertEqual(try epochLines(ctx), [])
        try TrainBaseStage.run(ctx)
        XCTAssertEqual(try epochLines(ctx), [1, 2])
    }

    /// A forced rerun killed while writing leaves a temporary file in its folder; the rerun that completes it
    /// swaps in a folder without it.
    func testAForcedRerunSwapsInNoTemporaryFileOfAKilledRun() throws {
        let ctx = try context("forced", epochs: 1)
        try TrainBaseStage.run(ctx)
        let dir = ctx.stageDirectory("train-base")
        let fresh = dir.deletingLastPathComponent().appendingPathComponent(".train-base.forced", isDirectory: true)
        try FileManager.default.createDirectory(at: fresh, withIntermediateDirectories: true)
        // pid 4194304 is above Linux's largest pid_max: the writer is surely gone.
        try Data(count: 100).write(to: fresh.appendingPathComponent(".model.safetensors.tmp-4194304-12345"))
        try TrainBaseStage.run(ctx, force: true)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(left, [], "the swapped-in folder holds a killed run's temporary file")
    }

    /// A result.json that does not parse is named as such, not as missing.
    func testAnUnreadableUpstreamResultIsNamedAsSuch() throws {
        let ctx = try context("unreadable", epochs: 1, extra: "  train-attention: {epochs: 1, batch_size: 16}\nsplits: [stem]\nratios: [2]")
        try TrainBaseStage.run(ctx)
        try Data("{ not json".utf8).write(to: StageRunner.resultURL(TrainBaseStage.instance, ctx))
        XCTAssertThrowsError(try StageRunner.run(StageInstance("train-attention", split: "stem"), ctx)) { error in
            XCTAssertFalse("\(error)".contains("does not exist yet"), "\(error)")
            XCTAssertTrue("\(error)".contains("unreadable"), "\(error)")
        }
    }

    func testAFolderAtALockPathIsNamed() throws {
        let ctx = try context("lockdir", epochs: 1)
        try FileManager.default.createDirectory(at: StageRunner.lockURL(TrainBaseStage.instance, ctx), withIntermediateDirectories: true)
        XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
            XCTAssertTrue("\(error)".contains("is a folder, where aecnn keeps a lock file"), "\(error)")
            XCTAssertFalse("\(error)".contains("keeps recreating"), "\(error)")
        }
    }

    /// Imported weights that make the test loss NaN: the error names the figure, and nothing is left that looks
    /// published.
    func testANaNBaseModelNamesTheFigureAndPublishesNothing() throws {
        let trained = try context("source", epochs: 1)
        try TrainBaseStage.run(trained)
        let file = try SafeTensors.read(from: trained.stageDirectory("train-base").appendingPathComponent("model.safetensors"))
        let poisoned = file.tensors.map { t -> NamedTensor in
            guard case .f32(let x) = t.payload else { return t }
            let y = Tensor(uninitialized: x.shape)
            for k in 0..<x.count { y.buffer[k] = .nan }
            return NamedTensor(t.name, y)
        }
        let weights = root.appendingPathComponent("nan.safetensors")
        _ = try SafeTensors(tensors: poisoned).write(to: weights)
        let spec = try PipelineSpec.load(path: try importPipeline("nan", weights: weights).path)
        let ctx = RunContext(spec: spec, checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
            XCTAssertTrue("\(error)".contains("= nan") && "\(error)".contains("Nothing was published"), "\(error)")
            XCTAssertFalse("\(error)".contains("NSCocoaErrorDomain") || "\(error)".contains("EncodingError"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: ctx.stageDirectory("train-base").appendingPathComponent("model.safetensors").path))
        XCTAssertNil(TrainBaseStage.output(TrainBaseStage.instance, ctx))
    }

    /// The memory check counts the recovery CNN and the parameters, with the fix named.
    func testTheMemoryCheckCountsParametersAndExtraLayers() throws {
        let ctx = try context("memory", epochs: 1)
        let machine = Int(ProcessInfo.processInfo.physicalMemory)
        XCTAssertNoThrow(try ctx.checkTrainingMemory(batchSize: 16, stage: "s"))
        XCTAssertThrowsError(try ctx.checkTrainingMemory(batchSize: 16, stage: "s", parameters: machine / 8)) {
            XCTAssertTrue("\($0)".contains("parameters") && "\($0)".contains("recovery.hidden"), "\($0)")
        }
        XCTAssertThrowsError(try ctx.checkTrainingMemory(batchSize: 16, stage: "s", extraPerImage: machine / 16 / 32))
    }
}
