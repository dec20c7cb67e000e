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

/// What running an instance did: ran it, or found it up to date.
public struct StageSummary: Sendable {
    public var stage: String
    public var skipped: Bool
}

public enum TrainBaseStage: TypedStage {
    public typealias Output = BaseModelOutput
    public static let name = "train-base"
    public static let instance = StageInstance(name)

    struct Inputs: Encodable {
        var dataset: DatasetSpec, model: ModelSpec, seed: UInt64, threads: Int, training: TrainingSettings
        /// SHA-256 of the imported weights file (`model.weights`); absent when training.
        var weightsSHA256: String?
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { [instance] }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] { [] }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        var model = spec.model
        let weightsHash = try model.weights.map { path -> String in
            guard FileManager.default.fileExists(atPath: path) else {
                throw StageError.invalidSettings("model.weights: \(path) does not exist. Fix: point model.weights at a .safetensors file of a trained \(spec.model.arch.rawValue), or remove it to train")
            }
            // The header first: a file that is not safetensors (or a FIFO, or a huge sparse file) is refused at
            // once, before its whole content is hashed.
            do { _ = try SafeTensors.readHeader(from: URL(fileURLWithPath: path)) } catch {
                throw StageError.invalidSettings("model.weights: \(error). Fix: point model.weights at a .safetensors file of a trained \(spec.model.arch.rawValue) (scripts/torch_to_aecnn.py converts a PyTorch state_dict), or remove it to train")
            }
            return try SHA256.hexDigest(ofFile: URL(fileURLWithPath: path))
        }
        model.weights = nil   // the file's content decides, not its path
        return try canonicalJSON(of: Inputs(dataset: spec.dataset, model: model, seed: spec.seed, threads: spec.threads,
                                            training: spec.training(name) ?? TrainingSettings(epochs: 1), weightsSHA256: weightsHash))
    }

    /// import-base: the weights of `model.weights`, checked name by name and shape by shape against the
    /// pipeline's model, evaluated on the test set, published as this stage's output.
    static func importWeights(_ path: String, ctx: RunContext, directory: URL) throws -> StageProduct {
        let model = try ctx.makeBaseModel()
        let url = URL(fileURLWithPath: path)
        let file = try SafeTensors.read(from: url)
        var tensors: [String: Tensor] = [:]
        for t in file.tensors {
            // PyTorch's state_dict carries each batch norm's step counter as an int64 scalar: not a weight
            // (aecnn's momentum is fixed), accepted and ignored.
            if t.name.hasSuffix(".num_batches_tracked") { continue }
            guard case .f32(let x) = t.payload else {
                throw StageError.invalidSettings("\(path): tensor \(t.name) is \(t.payload.dtype.rawValue), not F32. Fix: save the model's weights and batch-norm statistics as float32 (scripts/torch_to_aecnn.py converts a PyTorch state_dict)")
            }
            tensors[t.name] = x
        }
        let expected = Dictionary(uniqueKeysWithValues: model.stateTensors())
        let missing = expected.keys.filter { tensors[$0] == nil }.sorted()
        if !missing.isEmpty {
            throw StageError.invalidSettings("\(path) lacks \(missing.count) tensors of \(ctx.spec.model.arch.rawValue) width \(ctx.spec.model.width), e.g. \(missing.prefix(3).joined(separator: ", ")). Fix: export with the names of docs/checkpoints.md (stem.conv.weight, block1.conv1.weight, …)")
        }
        for (k, t) in expected where tensors[k]!.shape != t.shape {
            throw StageError.invalidSettings("\(path): \(k) has shape \(tensors[k]!.shape), the model needs \(t.shape). Fix: check model.arch and model.width")
        }
        let extra = tensors.keys.filter { expected[$0] == nil }.sorted()
        if !extra.isEmpty {
            throw StageError.invalidSettings("\(path) has \(extra.count) tensors the model does not, e.g. \(extra.prefix(3).joined(separator: ", ")). Fix: check model.arch")
        }
        try model.loadState(tensors)
        let eval = try Trainer.evaluate(model, try ctx.testImages(), try ctx.normalization(), batchSize: 500)
        try StageTraining.saveModel(model, directory: directory, kind: "base-model", ctx: ctx, instance: instance)
        ctx.log?(String(format: "%@: imported %@, test accuracy %.2f%%", name, path, 100 * eval.accuracy))
        var facts = try report(model, ctx)
        facts.importedFrom = path
        facts.importedSha256 = try SHA256.hexDigest(ofFile: url)
        let figures = TrainingFigures(testAccuracy: eval.accuracy, testLoss: eval.loss, testImages: try ctx.testImages().count,
                                      predictions: try ctx.predictions(eval.predicted))
        return StageProduct(Output(figures, facts), files: ["model.safetensors"])
    }

    /// Parameters, FLOPs, split points and data sizes of a base model.
    static func report(_ model: ResNet, _ ctx: RunContext) throws -> BaseModelFacts {
        let train = try ctx.trainImages(), test = try ctx.testImages()
        let inputShape = [train.channels, train.height, train.width]
        let splits = model.splitReport(inputShape: inputShape).map { SplitPointFacts(split: $0.split, shape: $0.shape, deviceFlops: $0.deviceFLOPs) }
        let total = FlopCounter.measure { _ = GradMode.withoutGrad { model(Variable(Tensor(zeros: [1] + inputShape))) } }
        return BaseModelFacts(parameters: model.parameterCount, flopsPerImage: total, splitPoints: splits,
                              trainImages: train.count, testImages: test.count)
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        if let path = ctx.spec.model.weights { return try importWeights(path, ctx: ctx, directory: directory) }
        let train = try ctx.trainImages(), test = try ctx.testImages()
        let model = try ctx.makeBaseModel()
        let settings = training(ctx.spec) ?? TrainingSettings(epochs: 1)
        ctx.log?("\(name): \(ctx.spec.model.arch.rawValue) (\(model.parameterCount) parameters) on \(train.count) training / \(test.count) test images of \(train.channels)×\(train.height)×\(train.width), \(settings.epochs) epochs, batch \(settings.batchSize), \(Parallel.threads) threads, BLAS \(BLAS.coreName)")
        // The training RNG is seed + 1 (the model's initialisation uses the seed itself).
        let outcome = try StageTraining.train(model, stage: name, ctx: ctx, directory: directory, settings: settings,
                                              seed: ctx.spec.seed &+ 1, options: options)
        try StageTraining.saveModel(model, directory: directory, kind: "base-model", ctx: ctx, instance: instance)
        ctx.log?(String(format: "%@: done, test accuracy %.2f%% (%@)", name, 100 * outcome.testAccuracy, directory.path))
        return StageProduct(Output(outcome, try report(model, ctx)), files: ["model.safetensors"])
    }

    // Convenience for callers that run just this stage.

    @discardableResult
    public static func run(_ ctx: RunContext, force: Bool = false, stopAfterSteps: Int? = nil) throws -> StageSummary {
        try StageRunner.run(instance, ctx, options: StageOptions(force: force, stopAfterSteps: stopAfterSteps))
    }

    /// The finished stage's output, if it is complete and up to date.
    public static func upToDateOutput(_ ctx: RunContext) throws -> Output? {
        try StageRunner.state(instance, ctx) == .done ? output(instance, ctx) : nil
    }

    /// The trained base model.
    public static func loadModel(_ ctx: RunContext) throws -> ResNet {
        let model = try ctx.makeBaseModel()
        try StageTraining.loadModel(model, directory: StageRunner.directory(instance, ctx), producedBy: instance)
        return model
    }
}
