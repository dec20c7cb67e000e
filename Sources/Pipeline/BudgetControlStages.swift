// Controls for the training budget (`aecnn.budget_controls: true`): AECNN trains for more epochs after the base
// model than CA_Pruned and the base itself, so part of "AECNN − CA_Pruned" and of "AECNN − base" may be
// training, not feature recovery or compression. Two stages measure that share:
//
// `fine-tune-matched` (per split × V): CA_Pruned fine-tuned for AECNN's epochs after pruning (fine-tune +
// train-recovery epochs) instead of fine-tune's alone, with fine-tune's other settings and seed — AECNN against
// it isolates what the recovery CNN adds at equal training.
//
// `train-base-continued` (one instance): the base model trained on, uncompressed, for AECNN's epochs after the
// base (attention + fine-tune + recovery) with fine-tune's optimizer and schedule — the base model AECNN should
// be held to at equal training.

import Foundation
import TensorCore
import Methods
import Models
import Checkpoint
import PipelineSpec

enum BudgetControls {
    /// AECNN's epochs after pruning and after the base model.
    static func epochs(_ spec: PipelineSpec) throws -> (afterPruning: Int, afterBase: Int) {
        let fine = try requireTraining(FineTuneStage.name, spec).epochs, recovery = try requireTraining(TrainRecoveryStage.name, spec).epochs
        let attention = spec.training(TrainAttentionStage.name)?.epochs ?? 0
        return (fine + recovery, attention + fine + recovery)
    }

    /// fine-tune's settings with `epochs` epochs.
    static func fineTuneSettings(_ spec: PipelineSpec, epochs: Int) throws -> TrainingSettings {
        var t = try requireTraining(FineTuneStage.name, spec)
        t.epochs = epochs
        return t
    }
}

public enum FineTuneMatchedStage: TypedStage {
    public typealias Output = FineTuneOutput
    public static let name = "fine-tune-matched"
    struct Inputs: Encodable { var split: String; var ratio: Int; var threads: Int; var training: TrainingSettings }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] {
        spec.aecnn.budgetControls ? AECNNStageSupport.ratioInstances(name, spec) : []
    }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [StageInstance(PruneStage.name, split: i.split, ratio: i.ratio)]
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? {
        (try? BudgetControls.epochs(spec)).flatMap { try? BudgetControls.fineTuneSettings(spec, epochs: $0.afterPruning) }
    }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, threads: spec.threads,
                                            training: try BudgetControls.fineTuneSettings(spec, epochs: try BudgetControls.epochs(spec).afterPruning)))
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let point = try i.requirePoint()
        let m = try PrunedModels.zeroFilled(ctx, i, weightsFrom: StageInstance(PruneStage.name, point))
        let settings = try BudgetControls.fineTuneSettings(ctx.spec, epochs: try BudgetControls.epochs(ctx.spec).afterPruning)
        // fine-tune's seed at this point: the same batches and augmentation for its first epochs.
        let outcome = try StageTraining.train(m, stage: i.description, ctx: ctx, directory: directory, settings: settings,
                                              seed: StageRunner.seed(StageInstance(FineTuneStage.name, point), ctx.spec), options: options)
        try StageTraining.saveModel(m, directory: directory, kind: "ca-pruned-model", ctx: ctx, instance: i, kept: try PrunedModels.kept(ctx, i).kept)
        let facts = DeviceFacts(deviceFlops: m.deviceFLOPs(inputShape: try AECNNStageSupport.inputShape(ctx)))
        return StageProduct(Output(outcome, facts), files: ["model.safetensors"])
    }
}

public enum TrainBaseContinuedStage: TypedStage {
    public typealias Output = Trained<NoFields>
    public static let name = "train-base-continued"
    public static let instance = StageInstance(name)
    struct Inputs: Encodable { var threads: Int; var training: TrainingSettings }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { spec.aecnn.budgetControls ? [instance] : [] }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] { [TrainBaseStage.instance] }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? {
        (try? BudgetControls.epochs(spec)).flatMap { try? BudgetControls.fineTuneSettings(spec, epochs: $0.afterBase) }
    }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        try canonicalJSON(of: Inputs(threads: spec.threads, training: try BudgetControls.fineTuneSettings(spec, epochs: try BudgetControls.epochs(spec).afterBase)))
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let model = try TrainBaseStage.loadModel(ctx)
        let settings = try BudgetControls.fineTuneSettings(ctx.spec, epochs: try BudgetControls.epochs(ctx.spec).afterBase)
        let outcome = try StageTraining.train(model, stage: name, ctx: ctx, directory: directory, settings: settings,
                                              seed: StageRunner.seed(i, ctx.spec), options: options)
        try StageTraining.saveModel(model, directory: directory, kind: "base-model", ctx: ctx, instance: i)
        return StageProduct(Output(outcome), files: ["model.safetensors"])
    }
}
