// What the training stages share: running the Trainer in a stage folder, saving and loading weights.

import Foundation
import TensorCore
import NN
import Checkpoint
import PipelineSpec

enum StageTraining {
    static func train(_ model: Module, stage: String, ctx: RunContext, directory: URL, settings: TrainingSettings,
                      seed: UInt64, options: StageOptions) throws -> TrainingFigures {
        let trainer = Trainer(stage: stage, directory: directory, settings: settings, seed: seed, log: ctx.log)
        trainer.stopAfterSteps = options.stopAfterSteps
        trainer.fingerprint = options.fingerprint
        let outcome = try trainer.run(model: model, train: try ctx.trainImages(), test: try ctx.testImages(),
                                      normalization: try ctx.normalization(), augmentation: try ctx.augmentation())
        trainer.clearState()
        return TrainingFigures(testAccuracy: outcome.testAccuracy, testLoss: outcome.testLoss, epochs: outcome.epochs,
                               resumedFromEpoch: outcome.resumedFromEpoch, trainWallSeconds: outcome.wallSeconds,
                               trainImagesPerSecond: outcome.imagesPerSecond, testImages: try ctx.testImages().count)
    }

    static func saveModel(_ model: Module, directory: URL, kind: String, ctx: RunContext, name: String = "model") throws {
        let store = CheckpointStore(directory: directory)
        try store.save(name, kind: kind, tensors: model.stateTensors().map { NamedTensor($0.0, $0.1) },
                       metadata: ["arch": .string(ctx.spec.model.arch.rawValue), "width": .double(ctx.spec.model.width),
                                  "pipeline": .string(ctx.spec.name)])
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
