// Stage `train-base`: train the base CNN from the pipeline's dataset, model and training settings.
// Outputs under Checkpoints/<pipeline>/train-base/:
//   model.safetensors + model.manifest.json   final weights and BatchNorm statistics (PyTorch-style names)
//   result.json                               test accuracy, timings, split-point shapes and device FLOPs
//   metrics.jsonl                             progress and per-epoch metrics, one JSON object per line
//   state/epoch-NNNN.*                        resumable progress while the stage runs (removed when done)
// result.json is written last: its presence, with a matching settings hash, means the stage is done.

import Foundation
import TensorCore
import NN
import Autograd
import Models
import Checkpoint
import PipelineSpec

public struct StageSummary: Sendable {
    public var stage: String
    public var skipped: Bool
    public var result: [String: Any] { _result.value }
    let _result: JSONBox
}

/// A Sendable box for a JSON object (results are written once and then only read).
struct JSONBox: @unchecked Sendable { var value: [String: Any] }

public enum TrainBaseStage {
    public static let name = "train-base"

    /// The settings whose change makes earlier results stale.
    struct Inputs: Encodable {
        var dataset: DatasetSpec
        var model: ModelSpec
        var seed: UInt64
        var threads: Int
        var training: TrainingSettings
    }

    static func settings(_ spec: PipelineSpec) -> TrainingSettings {
        spec.training(name) ?? TrainingStages.defaults(for: name) ?? TrainingSettings(epochs: 1)
    }

    public static func settingsHash(_ spec: PipelineSpec) throws -> String {
        try RunContext.settingsHash(Inputs(dataset: spec.dataset, model: spec.model, seed: spec.seed,
                                           threads: spec.threads, training: settings(spec)))
    }

    public static func resultURL(_ ctx: RunContext) -> URL { ctx.stageDirectory(name).appendingPathComponent("result.json") }

    /// The finished stage's result, if it is complete and was made with the current settings.
    public static func upToDateResult(_ ctx: RunContext) throws -> [String: Any]? {
        guard let data = try? Data(contentsOf: resultURL(ctx)),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return (obj["settings_sha256"] as? String) == (try settingsHash(ctx.spec)) ? obj : nil
    }

    /// Load the trained base model (for later stages).
    public static func loadModel(_ ctx: RunContext) throws -> ResNet {
        let store = CheckpointStore(directory: ctx.stageDirectory(name))
        guard store.exists("model") else {
            throw StageError.missingInput(stage: "(next)", path: store.tensorFileURL(for: "model").path, runFirst: "train-base --pipeline <file>")
        }
        let model = try ctx.makeBaseModel()
        let loaded = try store.load("model")
        var tensors: [String: Tensor] = [:]
        for t in loaded.contents.tensors { if case .f32(let x) = t.payload { tensors[t.name] = x } }
        try model.loadState(tensors)
        return model
    }

    public static func run(_ ctx: RunContext, force: Bool = false, stopAfterSteps: Int? = nil) throws -> StageSummary {
        Parallel.threads = ctx.spec.threads
        ProcessMemory.configureAllocatorForTraining()
        if !force, let done = try upToDateResult(ctx) {
            ctx.log?("\(name): up to date (test accuracy \(String(format: "%.2f%%", 100 * ((done["test_accuracy"] as? Double) ?? 0)))); --force retrains")
            return StageSummary(stage: name, skipped: true, _result: JSONBox(value: done))
        }
        let dir = ctx.stageDirectory(name)
        if force { try? FileManager.default.removeItem(at: dir) }
        try? FileManager.default.removeItem(at: resultURL(ctx))   // the stage is not done until it says so again
        let train = try ctx.trainImages(), test = try ctx.testImages()
        let model = try ctx.makeBaseModel()
        let settings = settings(ctx.spec)
        ctx.log?("\(name): \(ctx.spec.model.arch.rawValue) (\(model.parameterCount) parameters) on \(train.count) training / \(test.count) test images of \(train.channels)×\(train.height)×\(train.width), \(settings.epochs) epochs, batch \(settings.batchSize), \(Parallel.threads) threads, BLAS \(BLAS.coreName)")
        let trainer = Trainer(stage: name, directory: dir, settings: settings, seed: ctx.spec.seed &+ 1, log: ctx.log)
        trainer.stopAfterSteps = stopAfterSteps
        let outcome = try trainer.run(model: model, train: train, test: test, normalization: try ctx.normalization(),
                                      augmentation: try ctx.augmentation())

        let store = CheckpointStore(directory: dir)
        let manifest = try store.save("model", kind: "base-model", tensors: model.stateTensors().map { NamedTensor($0.0, $0.1) },
                                      metadata: ["arch": .string(ctx.spec.model.arch.rawValue), "width": .double(ctx.spec.model.width),
                                                 "classes": .int(train.classCount), "input_channels": .int(train.channels),
                                                 "pipeline": .string(ctx.spec.name)])
        let splits = model.splitReport(inputShape: [train.channels, train.height, train.width]).map {
            ["split": $0.split, "shape": $0.shape, "device_flops": $0.deviceFLOPs] as [String: Any]
        }
        let totalFLOPs = FlopCounter.measure {
            model.setTraining(false)
            _ = GradModeless.forward(model, [1, train.channels, train.height, train.width])
        }
        let result: [String: Any] = [
            "stage": name, "pipeline": ctx.spec.name, "settings_sha256": try settingsHash(ctx.spec),
            "test_accuracy": outcome.testAccuracy, "test_loss": outcome.testLoss, "test_images": test.count,
            "train_images": train.count, "epochs": outcome.epochs, "resumed_from_epoch": outcome.resumedFromEpoch,
            "wall_seconds": outcome.wallSeconds, "train_images_per_second": outcome.imagesPerSecond,
            "peak_rss_bytes": ProcessMemory.peakResidentBytes, "threads": Parallel.threads, "blas_core": BLAS.coreName,
            "parameters": model.parameterCount, "model_sha256": manifest.sha256, "flops_per_image": totalFLOPs,
            "split_points": splits,
        ]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted]), to: resultURL(ctx))
        trainer.clearState()
        ctx.log?(String(format: "%@: done, test accuracy %.2f%% (%@)", name, 100 * outcome.testAccuracy, dir.path))
        return StageSummary(stage: name, skipped: false, _result: JSONBox(value: result))
    }
}

/// Forward pass on zeros without recording a graph (shape and FLOP probes).
enum GradModeless {
    static func forward(_ model: Module, _ shape: [Int]) -> [Int] {
        GradMode.withoutGrad { model(Variable(Tensor(zeros: shape))).shape }
    }
}
