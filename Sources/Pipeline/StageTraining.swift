// What the training stages share: running the Trainer in a stage folder, saving and loading weights.

import Foundation
import TensorCore
import NN
import Checkpoint
import PipelineSpec

enum StageTraining {
    /// `extraPerImage`: activation values per image of layers the base model does not have (see
    /// `RunContext.checkTrainingMemory`).
    static func train(_ model: Module, stage: String, ctx: RunContext, directory: URL, settings: TrainingSettings,
                      seed: UInt64, options: StageOptions, extraPerImage: Int = 0) throws -> TrainingFigures {
        try ctx.checkTrainingMemory(batchSize: settings.batchSize, stage: stage, parameters: model.parameterCount, extraPerImage: extraPerImage)
        let trainer = Trainer(stage: stage, directory: directory, settings: settings, seed: seed, log: ctx.log)
        trainer.stopAfterSteps = options.stopAfterSteps
        trainer.fingerprint = options.fingerprint
        let outcome = try trainer.run(model: model, train: try ctx.trainImages(), test: try ctx.testImages(),
                                      normalization: try ctx.normalization(), augmentation: try ctx.augmentation())
        trainer.clearState()
        return TrainingFigures(testAccuracy: outcome.testAccuracy, testLoss: outcome.testLoss, epochs: outcome.epochs,
                               resumedFromEpoch: outcome.resumedFromEpoch, trainWallSeconds: outcome.wallSeconds,
                               trainImagesPerSecond: outcome.imagesPerSecond, testImages: try ctx.testImages().count,
                               predictions: try ctx.predictions(outcome.predicted))
    }

    /// Saves `model`'s weights and statistics. The safetensors header's `__metadata__` says what the file is,
    /// for any safetensors reader: format, kind, architecture and width, seed, and for a split model its split,
    /// ratio and carried channels. Not the pipeline's name: outputs are decided by content, so two pipelines
    /// with the same settings write the same bytes.
    static func saveModel(_ model: Module, directory: URL, kind: String, ctx: RunContext, instance: StageInstance? = nil,
                          kept: [Int]? = nil, name: String = "model") throws {
        let store = CheckpointStore(directory: directory)
        var file = ["format": "pt", "aecnn_kind": kind, "arch": ctx.spec.model.arch.rawValue, "width": "\(ctx.spec.model.width)",
                    "seed": "\(ctx.spec.seed)"]
        if let i = instance {
            file["stage"] = i.stage
            if let s = i.split { file["split"] = s }
            if let r = i.ratio { file["ratio"] = "\(r)" }
            if let v = i.variant { file["variant"] = v.description }
        }
        if let kept { file["kept_channels"] = kept.map(String.init).joined(separator: ",") }
        try store.save(name, kind: kind, tensors: model.stateTensors().map { NamedTensor($0.0, $0.1) },
                       metadata: ["arch": .string(ctx.spec.model.arch.rawValue), "width": .double(ctx.spec.model.width),
                                  "pipeline": .string(ctx.spec.name)],
                       fileMetadata: file)
    }

    static func loadModel(_ model: Module, directory: URL, producedBy: StageInstance, name: String = "model") throws {
        let store = CheckpointStore(directory: directory)
        guard store.exists(name) else {
            throw StageError.missingInput(stage: "(next)", path: store.tensorFileURL(for: name).path,
                                          runFirst: "\(producedBy.stage) --pipeline <file>")
        }
        let loaded = try store.load(name)
        var tensors: [String: Tensor] = [:]
        for t in loaded.contents.tensors { if case .f32(let x) = t.payload { tensors[t.name] = x } }
        try model.loadState(tensors)
    }
}
