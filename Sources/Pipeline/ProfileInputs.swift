// `aecnn profile`'s inputs from a pipeline's checkpoints: the base model, every (split, V) whose
// encode-features stage is done, and the test images; and where the profile is kept.

import Foundation
import CoInference
import Models
import PipelineSpec

extension Profiler {
    /// The profiler's inputs for the first `count` test images of a pipeline.
    public static func inputs(_ ctx: RunContext, images count: Int) throws -> Inputs {
        guard let coding = ctx.spec.coding else {
            throw StageError.invalidSettings("\(ctx.spec.name) has no coding: section, so there are no coded configurations to profile")
        }
        var deployed: [(model: DeployedModel, rows: [CodedRow])] = []
        for inst in EncodeFeaturesStage.aecnnInstances(ctx.spec) where try StageRunner.state(inst, ctx) == .done {
            let point = try inst.requirePoint()
            deployed.append((try DeployedModel.load(ctx, split: point.split, ratio: point.ratio),
                             try EncodeFeaturesStage.requireOutput(inst, ctx, for: "profile").rows))
        }
        return Inputs(base: try TrainBaseStage.loadModel(ctx),
                      baseAccuracy: try TrainBaseStage.requireOutput(TrainBaseStage.instance, ctx, for: "profile").training.testAccuracy,
                      deployed: deployed, coding: coding, test: try ctx.testImages().subset(first: count),
                      normalization: try ctx.normalization(), edgeThreads: ctx.spec.threads)
    }

    /// Checkpoints/<pipeline>/profile/profile.json.
    public static func url(_ ctx: RunContext) -> URL { ctx.root.appendingPathComponent("profile", isDirectory: true).appendingPathComponent("profile.json") }

    /// Profiles a pipeline's deployed models on its first `count` test images.
    public static func profile(_ ctx: RunContext, images count: Int, deviceSpeedFactor: Double) throws -> [PlanCandidate] {
        try profile(try inputs(ctx, images: count), deviceSpeedFactor: deviceSpeedFactor)
    }

    public static func save(_ candidates: [PlanCandidate], images: Int, deviceSpeedFactor: Double, ctx: RunContext) throws {
        try save(candidates, pipeline: ctx.spec.name, images: images, deviceSpeedFactor: deviceSpeedFactor, to: url(ctx))
    }

    public static func load(_ ctx: RunContext) throws -> [PlanCandidate] { try load(url(ctx)) }
}
