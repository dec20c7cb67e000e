// Stage `train-base`: train the base CNN from the pipeline's dataset, model and training settings.
// Outputs under Checkpoints/<pipeline>/train-base/: model.safetensors (+ manifest), result.json (test
// accuracy, timings, split-point shapes and device FLOPs), metrics.jsonl; state/ while it runs.

import Foundation
import TensorCore
import Autograd
import NN
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

public enum TrainBaseStage: StageDefinition {
    public static let name = "train-base"
    static let instance = StageInstance(name)

    struct Inputs: Encodable {
        var dataset: DatasetSpec, model: ModelSpec, seed: UInt64, threads: Int, training: TrainingSettings
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { [instance] }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] { [] }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        try canonicalJSON(of: Inputs(dataset: spec.dataset, model: spec.model, seed: spec.seed, threads: spec.threads,
                                     training: spec.training(name) ?? TrainingSettings(epochs: 1)))
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws
        -> (result: [String: Any], outputs: [String]) {
        let train = try ctx.trainImages(), test = try ctx.testImages()
        let model = try ctx.makeBaseModel()
        let settings = training(ctx.spec) ?? TrainingSettings(epochs: 1)
        ctx.log?("\(name): \(ctx.spec.model.arch.rawValue) (\(model.parameterCount) parameters) on \(train.count) training / \(test.count) test images of \(train.channels)×\(train.height)×\(train.width), \(settings.epochs) epochs, batch \(settings.batchSize), \(Parallel.threads) threads, BLAS \(BLAS.coreName)")
        // The training RNG is seed + 1 (the model's initialisation uses the seed itself).
        let outcome = try StageTraining.train(model, stage: name, ctx: ctx, directory: directory, settings: settings,
                                              seed: ctx.spec.seed &+ 1, options: options)
        try StageTraining.saveModel(model, directory: directory, kind: "base-model", ctx: ctx)
        let inputShape = [train.channels, train.height, train.width]
        let splits = model.splitReport(inputShape: inputShape).map {
            ["split": $0.split, "shape": $0.shape, "device_flops": $0.deviceFLOPs] as [String: Any]
        }
        let total = FlopCounter.measure { _ = GradMode.withoutGrad { model(Variable(Tensor(zeros: [1] + inputShape))) } }
        var result = outcome.fields
        result["parameters"] = model.parameterCount
        result["flops_per_image"] = total
        result["split_points"] = splits
        result["train_images"] = train.count
        result["test_images"] = test.count
        ctx.log?(String(format: "%@: done, test accuracy %.2f%% (%@)", name, 100 * outcome.testAccuracy, directory.path))
        return (result, ["model.safetensors"])
    }

    // Convenience for callers that run just this stage.

    public static func run(_ ctx: RunContext, force: Bool = false, stopAfterSteps: Int? = nil) throws -> StageSummary {
        try StageRunner.run(instance, ctx, options: StageOptions(force: force, stopAfterSteps: stopAfterSteps))
    }

    /// The finished stage's result, if it is complete and up to date.
    public static func upToDateResult(_ ctx: RunContext) throws -> [String: Any]? {
        try StageRunner.state(instance, ctx) == .done ? StageRunner.result(instance, ctx) : nil
    }

    /// The trained base model.
    public static func loadModel(_ ctx: RunContext) throws -> ResNet {
        let model = try ctx.makeBaseModel()
        try StageTraining.loadModel(model, directory: StageRunner.directory(instance, ctx), producedBy: instance)
        return model
    }
}
