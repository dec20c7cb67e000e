// The train-base stage on tiny generated data: outputs, up-to-date detection, clear errors, and resume
// after an interruption (in-process, and a real SIGKILL of the aecnn process at random moments) ending
// bit-identical to an uninterrupted run.

import XCTest
import Foundation
import TensorCore
import Checkpoint
import Pipeline
import PipelineSpec
import _TestSupport

final class TrainBaseStageTests: XCTestCase {
    var root: URL!
    var data: URL!

    override func setUpWithError() throws {
        root = makeTemporaryDirectory("train-base")
        data = try TinyDataset.write(to: root.appendingPathComponent("data"))
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    func context(_ name: String, epochs: Int = 2) throws -> RunContext {
        let yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: epochs)
        let spec = try PipelineSpec.parse(yaml: yaml, fileName: "\(name).yaml")
        return RunContext(spec: spec, checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
    }

    func modelHash(_ ctx: RunContext) throws -> String {
        try SHA256.hexDigest(ofFile: ctx.stageDirectory("train-base").appendingPathComponent("model.safetensors"))
    }

    func testWritesOutputsAndLearns() throws {
        let ctx = try context("learns", epochs: 3)
        let summary = try TrainBaseStage.run(ctx)
        XCTAssertFalse(summary.skipped)
        let dir = ctx.stageDirectory("train-base")
        for f in ["model.safetensors", "model.manifest.json", "result.json", "metrics.jsonl"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("state").path), "progress state is removed when the stage completes")
        XCTAssertFalse(summary.skipped)
        let acc = try XCTUnwrap(TrainBaseStage.output(TrainBaseStage.instance, ctx)?.training.testAccuracy)
        XCTAssertGreaterThan(acc, 0.5, "4 well-separated classes: chance is 0.25")
        // Metrics are JSON lines with one epoch line per epoch.
        let lines = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let epochs = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["event"] as? String == "epoch" }
        XCTAssertEqual(epochs.map { $0["epoch"] as? Int }, [1, 2, 3])
        // The saved model reloads into the same architecture and gives the same test accuracy.
        let model = try TrainBaseStage.loadModel(ctx)
        let again = try Trainer.evaluate(model, try ctx.testImages(), try ctx.normalization(), batchSize: 7)
        XCTAssertEqual(again.accuracy, acc, accuracy: 1e-9)
        // A second run is a no-op; --force retrains to the same bits.
        let hash = try modelHash(ctx)
        XCTAssertTrue(try TrainBaseStage.run(ctx).skipped)
        XCTAssertFalse(try TrainBaseStage.run(ctx, force: true).skipped)
        XCTAssertEqual(try modelHash(ctx), hash, "same pipeline, seed and threads: identical checkpoint")
    }

    func testResumeAfterInterruptionIsBitIdentical() throws {
        let straight = try context("straight")
        _ = try TrainBaseStage.run(straight)
        let reference = try modelHash(straight)
        // 96 images / batch 16 = 6 steps per epoch; interrupt inside epoch 1 and inside epoch 2.
        for stop in [4, 9] {
            let ctx = try context("interrupted-\(stop)")
            XCTAssertThrowsError(try TrainBaseStage.run(ctx, stopAfterSteps: stop)) { XCTAssertTrue($0 is Trainer.Interrupted) }
            XCTAssertNil(try TrainBaseStage.upToDateOutput(ctx), "an interrupted stage is not done")
            _ = try TrainBaseStage.run(ctx)
            XCTAssertEqual(try modelHash(ctx), reference, "resumed after \(stop) steps")
        }
    }

    func testChangedSettingsMakeTheResultStale() throws {
        let ctx = try context("stale")
        _ = try TrainBaseStage.run(ctx)
        XCTAssertNotNil(try TrainBaseStage.upToDateOutput(ctx))
        let changed = try context("stale", epochs: 1)
        XCTAssertNil(try TrainBaseStage.upToDateOutput(changed))
    }

    /// A ratio that does not divide a split's channels, or a split the model lacks, is refused before training.
    func testRatiosMustDivideTheChannelsAtEverySplit() throws {
        for (extra, mention) in [("splits: [stem]\nratios: [8]", "V=8 does not divide the 4 channels"),
                                 ("splits: [stem]\nratios: [4611686018427387904]", "does not divide"),
                                 ("splits: [stme]\nratios: [2]", "not a split point")] {
            let yaml = TinyDataset.pipelineYAML(name: "ratios", dataDirectory: data, epochs: 1, extra: extra)
            let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "ratios.yaml"),
                                 checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
            XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
                XCTAssertTrue("\(error)".contains(mention), "\(error)")
                XCTAssertTrue("\(error)".contains("Fix"), "\(error)")
            }
        }
    }

    /// A damaged input is found before a stage consumes it, and a forced rerun on it keeps its old outputs.
    func testDamagedInputIsNamedAndAForcedRerunKeepsItsOutputs() throws {
        let yaml = TinyDataset.pipelineYAML(name: "damaged", dataDirectory: data, epochs: 1,
                                            extra: "  train-attention: {epochs: 1, batch_size: 16}\nsplits: [stem]\nratios: [2]")
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "damaged.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try TrainBaseStage.run(ctx)
        let attention = StageInstance("train-attention", split: "stem")
        try StageRunner.run(attention, ctx)
        let before = try XCTUnwrap(StageRunner.result(attention, ctx))
        // Flip one byte of the base model.
        let model = ctx.stageDirectory("train-base").appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: model)
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: model)
        XCTAssertThrowsError(try StageRunner.run(attention, ctx, options: StageOptions(force: true))) { error in
            XCTAssertTrue("\(error)".contains("train-base"), "\(error)")
            XCTAssertTrue("\(error)".contains("--force"), "\(error)")
        }
        let after = try XCTUnwrap(StageRunner.result(attention, ctx), "the forced rerun must not discard the old outputs")
        XCTAssertEqual(after["outputs_sha256"] as? String, before["outputs_sha256"] as? String)
        try StageRunner.verifyOutputs(attention, ctx)
        // A missing output is named too.
        try FileManager.default.removeItem(at: model)
        XCTAssertThrowsError(try StageRunner.run(attention, ctx)) { XCTAssertTrue("\($0)".contains("is missing"), "\($0)") }
    }

    /// A forced rerun keeps the earlier outputs and result until it completes: interrupted, the instance is
    /// still done with its old files; the same forced command then resumes and swaps the new outputs in.
    func testAnInterruptedForcedRerunLosesNothing() throws {
        let yaml = TinyDataset.pipelineYAML(name: "forced", dataDirectory: data, epochs: 2)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "forced.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try TrainBaseStage.run(ctx)
        let dir = StageRunner.directory(TrainBaseStage.instance, ctx)
        let model = dir.appendingPathComponent("model.safetensors")
        let before = try Data(contentsOf: model)
        let recorded = try XCTUnwrap(StageRunner.record(TrainBaseStage.instance, ctx)).outputsSha256
        let stepsPerEpoch = (try ctx.trainImages().count + 15) / 16
        XCTAssertThrowsError(try TrainBaseStage.run(ctx, force: true, stopAfterSteps: stepsPerEpoch + 1)) { XCTAssertTrue($0 is Trainer.Interrupted) }
        XCTAssertEqual(try StageRunner.state(TrainBaseStage.instance, ctx), .done, "the earlier result stands")
        XCTAssertEqual(try Data(contentsOf: model), before)
        let fresh = dir.deletingLastPathComponent().appendingPathComponent(".train-base.forced")
        XCTAssertTrue(FileManager.default.fileExists(atPath: fresh.appendingPathComponent("state").path), "progress kept for the resume")
        try TrainBaseStage.run(ctx, force: true)
        XCTAssertEqual(try StageRunner.state(TrainBaseStage.instance, ctx), .done)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.deletingLastPathComponent().appendingPathComponent(".train-base.replaced").path))
        // The same settings and seed: the resumed forced run reproduces the first run's bytes.
        XCTAssertEqual(StageRunner.record(TrainBaseStage.instance, ctx)?.outputsSha256, recorded)
        XCTAssertEqual(try Data(contentsOf: model), before)
    }

    /// A `trainable` prefix that names no parameter is refused instead of training nothing.
    func testTrainablePrefixMustNameAParameter() throws {
        let yaml = TinyDataset.pipelineYAML(name: "trainable", dataDirectory: data, epochs: 1)
            .replacingOccurrences(of: "    eval_batch_size: 32", with: "    eval_batch_size: 32\n    trainable: [no.such]")
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "trainable.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
            XCTAssertTrue("\(error)".contains("'no.such' matches no parameter"), "\(error)")
            XCTAssertTrue("\(error)".contains("stem."), "\(error)")
        }
    }

    /// Images too large for the batch are refused before training, with the estimate and a batch that fits.
    func testTrainingThatCannotFitInMemoryIsRefusedUpFront() throws {
        let big = try TinyDataset.write(to: root.appendingPathComponent("big"), train: 8, test: 4, side: 640)
        let yaml = TinyDataset.pipelineYAML(name: "big", dataDirectory: big, epochs: 1, batch: 4096)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "big.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        let started = Date()
        XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("1×640×640") && text.contains("GiB") && text.contains("batch_size to at most"), text)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        if case .failed = try StageRunner.state(TrainBaseStage.instance, ctx) {} else { XCTFail("the refusal is recorded") }
    }

    /// Training images of one size and test images of another (here 12×12 and 11×11): refused before any
    /// training, naming both files; the model would otherwise be measured on images it was not trained on.
    func testTestImagesOfAnotherSizeThanTheTrainingImagesAreRefused() throws {
        let mixed = try TinyDataset.write(to: root.appendingPathComponent("mixed"), train: 16, test: 8, side: 12)
        let other = try TinyDataset.write(to: root.appendingPathComponent("other"), train: 16, test: 8, side: 11)
        for file in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            let target = mixed.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: target.path) else { continue }
            try FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: other.appendingPathComponent(file), to: target)
        }
        let yaml = TinyDataset.pipelineYAML(name: "mixed", dataDirectory: mixed, epochs: 1)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "mixed.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("1×11×11") && text.contains("1×12×12") && text.contains("t10k") && text.contains("train"), text)
        }
        XCTAssertNil(StageRunner.result(TrainBaseStage.instance, ctx))
    }

    /// A dataset without images is refused by name before anything is trained or published (it used to end in
    /// Foundation's "Invalid number value (nan) in JSON write" with the model written and no result).
    func testADatasetWithoutImagesIsNamed() throws {
        let empty = try TinyDataset.write(to: root.appendingPathComponent("empty"), train: 0, test: 0, side: 8)
        let yaml = TinyDataset.pipelineYAML(name: "empty", dataDirectory: empty, epochs: 1)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "empty.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("are none") && text.contains("train-images"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: StageRunner.directory(TrainBaseStage.instance, ctx).appendingPathComponent("model.safetensors").path))
    }

    func testMissingDatasetNamesTheFileAndTheFix() throws {
        let yaml = TinyDataset.pipelineYAML(name: "nodata", dataDirectory: root.appendingPathComponent("nowhere"))
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "nodata.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertThrowsError(try TrainBaseStage.run(ctx)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("nowhere"), text)
            XCTAssertTrue(text.contains("dataset.path") || text.contains("apt-get"), text)
        }
    }

    func testCorruptSavedStateIsSkippedNotFatal() throws {
        let ctx = try context("corrupt")
        XCTAssertThrowsError(try TrainBaseStage.run(ctx, stopAfterSteps: 8))
        let state = ctx.stageDirectory("train-base", "state").appendingPathComponent("epoch-0001.safetensors")
        var bytes = try Data(contentsOf: state)
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: state)
        _ = try TrainBaseStage.run(ctx)   // restarts from scratch instead of crashing
        let straight = try context("corrupt-ref")
        _ = try TrainBaseStage.run(straight)
        XCTAssertEqual(try modelHash(ctx), try modelHash(straight))
    }
}

extension TrainBaseStageTests {
    /// Progress saved under other settings is not resumed: the run starts over and matches a clean run.
    func testProgressFromOtherSettingsIsNotResumed() throws {
        let yamlA = TinyDataset.pipelineYAML(name: "changed", dataDirectory: data, epochs: 2)
        let ctxA = RunContext(spec: try PipelineSpec.parse(yaml: yamlA, fileName: "a.yaml"), checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertThrowsError(try TrainBaseStage.run(ctxA, stopAfterSteps: 8))   // epoch 1 saved with lr 0.05
        let yamlB = yamlA.replacingOccurrences(of: "lr: 0.05", with: "lr: 0.04")
        let ctxB = RunContext(spec: try PipelineSpec.parse(yaml: yamlB, fileName: "b.yaml"), checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        _ = try TrainBaseStage.run(ctxB)
        XCTAssertEqual(StageRunner.result(StageInstance("train-base"), ctxB)?["resumed_from_epoch"] as? Int, 0)
        let clean = RunContext(spec: try PipelineSpec.parse(yaml: yamlB.replacingOccurrences(of: "name: changed", with: "name: clean"), fileName: "c.yaml"),
                               checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        _ = try TrainBaseStage.run(clean)
        XCTAssertEqual(try modelHash(ctxB), try modelHash(clean))
    }
}

extension TrainBaseStageTests {
    func importing(_ name: String, weights: String, width: Double = 0.25) throws -> RunContext {
        var yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 1)
        yaml = yaml.replacingOccurrences(of: "  width: 0.25", with: "  width: \(width)\n  weights: \(weights)")
        return RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "\(name).yaml"),
                          checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
    }

    func testImportBaseLoadsCheckedWeightsAndFollowsTheirContent() throws {
        let trained = try context("source", epochs: 1)
        try TrainBaseStage.run(trained)
        let file = trained.stageDirectory("train-base").appendingPathComponent("model.safetensors")
        let copy = root.appendingPathComponent("brought.safetensors")
        try FileManager.default.copyItem(at: file, to: copy)

        let ctx = try importing("imported", weights: copy.path)
        try TrainBaseStage.run(ctx)
        let r = try XCTUnwrap(StageRunner.result(StageInstance("train-base"), ctx))
        XCTAssertEqual(r["imported_from"] as? String, copy.path)
        XCTAssertEqual(r["test_accuracy"] as? Double, StageRunner.result(StageInstance("train-base"), trained)!["test_accuracy"] as? Double)
        XCTAssertNil(r["epochs"])   // nothing was trained
        XCTAssertEqual(try modelHash(ctx), try modelHash(trained))
        XCTAssertEqual(try StageRunner.state(StageInstance("train-base"), ctx), .done)

        // Other weights in the same file: stale, by content.
        let other = try context("other", epochs: 2)
        try TrainBaseStage.run(other)
        try FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: other.stageDirectory("train-base").appendingPathComponent("model.safetensors"), to: copy)
        if case .stale = try StageRunner.state(StageInstance("train-base"), ctx) {} else { XCTFail("new weights should make train-base stale") }

        // Weights of another width: the tensor and both shapes are named.
        let wrong = try importing("wrong", weights: copy.path, width: 0.5)
        XCTAssertThrowsError(try TrainBaseStage.run(wrong)) { error in
            XCTAssertTrue("\(error)".contains("shape"), "\(error)")
            XCTAssertTrue("\(error)".contains("model.width"), "\(error)")
        }
        // PyTorch's int64 num_batches_tracked entries are accepted and ignored; another integer tensor is refused
        // with its dtype and the fix.
        let source = try SafeTensors.read(from: file)
        var withCounters = source.tensors
        for t in source.tensors where t.name.hasSuffix(".running_mean") {
            withCounters.append(NamedTensor(t.name.replacingOccurrences(of: ".running_mean", with: ".num_batches_tracked"), .i64([7], shape: [])))
        }
        let torchStyle = root.appendingPathComponent("torch-style.safetensors")
        _ = try SafeTensors(tensors: withCounters).write(to: torchStyle)
        let fromTorch = try importing("from-torch", weights: torchStyle.path)
        try TrainBaseStage.run(fromTorch)
        XCTAssertEqual(try modelHash(fromTorch), try modelHash(trained))
        var badInt = source.tensors
        badInt[0] = NamedTensor(badInt[0].name, .i64(Array(repeating: 1, count: badInt[0].payload.elementCount), shape: badInt[0].payload.shape))
        let intWeights = root.appendingPathComponent("int-weights.safetensors")
        _ = try SafeTensors(tensors: badInt).write(to: intWeights)
        XCTAssertThrowsError(try TrainBaseStage.run(try importing("int-weights", weights: intWeights.path))) { error in
            XCTAssertTrue("\(error)".contains("I64, not F32"), "\(error)")
            XCTAssertTrue("\(error)".contains("Fix"), "\(error)")
        }
        // A missing file names itself and the fix.
        let missing = try importing("missing", weights: root.appendingPathComponent("nope.safetensors").path)
        XCTAssertThrowsError(try TrainBaseStage.run(missing)) { error in
            XCTAssertTrue("\(error)".contains("nope.safetensors"), "\(error)")
            XCTAssertTrue("\(error)".contains("Fix"), "\(error)")
        }
    }
}
