// The baselines, on the same base model, split points and ratios as AECNN.
//
// `train-bottlenetpp` (per split × V × channel; with `baselines.bottlenetpp`): the base network with the
// BottleNet++ encoder/channel/decoder at the split, C' = C/V symbols channels. Phases as in the paper: the
// backbone is train-base's output (phase 1); then the encoder/decoder alone with the backbone frozen
// (`frozen_epochs`, in frozen/); then everything jointly (the stage's training settings). Test accuracy is
// reported at fixed channel conditions (noise-free first), not at random ones.

import Foundation
import TensorCore
import Autograd
import NN
import Models
import Methods
import Checkpoint
import PipelineSpec

public enum TrainBottleNetPPStage: TypedStage {
    public typealias Output = BottleNetPPOutput
    public static let name = "train-bottlenetpp"
    struct Inputs: Encodable {
        var split: String; var ratio: Int; var channel: String; var threads: Int; var training: TrainingSettings
        var frozenEpochs: Int; var trainingMax: Double; var spatialShrink: Bool; var tests: [Double]
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] {
        guard let b = spec.baselines?.bottlenetpp else { return [] }
        return spec.splits.flatMap { s in spec.ratios.flatMap { v in b.channels.map { StageInstance(name, split: s, ratio: v, variant: .channel($0)) } } }
    }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] { [TrainBaseStage.instance] }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }

    static func settings(_ spec: PipelineSpec) throws -> BottleNetPPSettings {
        guard let b = spec.baselines?.bottlenetpp else { throw StageError.invalidSettings("the pipeline has no baselines.bottlenetpp section") }
        return b
    }
    static func channel(_ i: StageInstance) throws -> BottleNetPPSettings.Channel {
        guard case .channel(let c)? = i.variant else {
            throw StageError.invalidSettings("\(i): the channel must be one of noiseless, awgn, bec")
        }
        return c
    }

    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let b = try settings(spec), c = try channel(i), p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, channel: c.rawValue, threads: spec.threads,
                                            training: try requireTraining(name, spec), frozenEpochs: b.frozenEpochs, trainingMax: b.trainingMax(c),
                                            spatialShrink: b.spatialShrink, tests: b.testConditions(c)))
    }

    /// The BottleNet++ model of an instance, weights not loaded.
    public static func model(_ ctx: RunContext, _ i: StageInstance) throws -> (CoInferenceModel, BottleNetPPBridge) {
        let b = try settings(ctx.spec), c = try channel(i), p = try i.requirePoint()
        let base = try ctx.makeBaseModel()
        let channels = try AECNNStageSupport.channels(ctx, split: p.split)
        let bridge = BottleNetPPBridge(channels: channels, reduced: ChannelRanking.keptCount(channels: channels, ratio: p.ratio),
                                       spatialShrink: b.spatialShrink, channel: NoisyChannel(rawValue: c.rawValue)!,
                                       trainingMax: Float(b.trainingMax(c)), seed: StageRunner.seed(i, ctx.spec))
        return (try CoInferenceModel(base: base, split: p.split, bridge: bridge), bridge)
    }

    /// frozen/phase.json: the frozen-backbone phase is done under these inputs.
    struct PhaseMarker: Codable { var inputsSha256: String; var testAccuracy: Double }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let b = try settings(ctx.spec), c = try channel(i)
        let (m, bridge) = try model(ctx, i)
        try StageTraining.loadModel(m.base, directory: StageRunner.directory(TrainBaseStage.instance, ctx), producedBy: TrainBaseStage.instance)
        let settings = try requireTraining(name, ctx.spec)
        var frozenAccuracy: Double?

        // Phase 2: the backbone frozen. Its result is kept (with the instance's inputs hash) so that an
        // interruption during phase 3 does not repeat it.
        if b.frozenEpochs > 0 {
            let frozenDir = directory.appendingPathComponent("frozen", isDirectory: true)
            try FileManager.default.createDirectory(at: frozenDir, withIntermediateDirectories: true)
            let marker = frozenDir.appendingPathComponent("phase.json")
            let store = CheckpointStore(directory: frozenDir)
            let done = (try? SafeRead.contents(of: marker, limit: SafeRead.recordLimit)).flatMap { try? ResultJSON.decoder().decode(PhaseMarker.self, from: $0) }
            if let done, done.inputsSha256 == options.fingerprint, store.exists("model") {
                try StageTraining.loadModel(m, directory: frozenDir, producedBy: i)
                frozenAccuracy = done.testAccuracy
            } else {
                var frozen = settings
                frozen.epochs = b.frozenEpochs
                frozen.trainable = ["bridge."]
                let outcome = try StageTraining.train(m, stage: "\(i) (backbone frozen)", ctx: ctx, directory: frozenDir, settings: frozen,
                                                      seed: StageRunner.seed(i, ctx.spec) ^ 1, options: options)
                try StageTraining.saveModel(m, directory: frozenDir, kind: "bottlenetpp-frozen", ctx: ctx, instance: i)
                try AtomicFile.write(try ResultJSON.encoder().encode(PhaseMarker(inputsSha256: options.fingerprint, testAccuracy: outcome.testAccuracy)),
                                     to: marker)
                frozenAccuracy = outcome.testAccuracy
            }
        }
        // Phase 3: jointly.
        var joint = settings
        if joint.trainable == ["bridge."] { joint.trainable = [] }
        let outcome = try StageTraining.train(m, stage: i.description, ctx: ctx, directory: directory, settings: joint,
                                              seed: StageRunner.seed(i, ctx.spec), options: options)
        try StageTraining.saveModel(m, directory: directory, kind: "bottlenetpp-model", ctx: ctx, instance: i)

        // Test accuracy at fixed channel conditions.
        var accuracy: [ConditionAccuracy] = []
        for cond in b.testConditions(c) {
            bridge.condition = Float(cond)
            bridge.resetEvaluationDraws()
            let e = try Trainer.evaluate(m, try ctx.testImages(), try ctx.normalization(), batchSize: 500)
            accuracy.append(ConditionAccuracy(condition: cond, accuracy: e.accuracy, predictions: try ctx.predictions(e.predicted)))
            ctx.log?(String(format: "%@: test accuracy %.2f%% at %@ = %g", i.description, 100 * e.accuracy, c == .bec ? "p" : "σ", cond))
        }
        bridge.condition = 0
        let shape = try AECNNStageSupport.inputShape(ctx)
        m.setTraining(false)
        let split = GradMode.withoutGrad { m.device(Variable(Tensor(zeros: [1] + shape))) }
        let symbols = GradMode.withoutGrad { bridge.encode(split, condition: 0).shape }
        let encoderFLOPs = FlopCounter.measure { _ = GradMode.withoutGrad { bridge.encode(split, condition: 0) } }
        let splitElements = split.shape.dropFirst().reduce(1, *)
        let symbolCount = symbols.dropFirst().reduce(1, *)
        let facts = BottleNetPPFacts(frozenPhaseTestAccuracy: frozenAccuracy, frozenEpochs: b.frozenEpochs, accuracyAtConditions: accuracy,
                                     channel: c, reducedChannels: symbols[1], symbolsShape: Array(symbols.dropFirst()),
                                     splitShape: Array(split.shape.dropFirst()), bandwidthReduction: Double(splitElements) / Double(symbolCount),
                                     deviceFlops: m.deviceFLOPs(inputShape: shape) + encoderFLOPs, encoderFlops: encoderFLOPs,
                                     bridgeParameters: bridge.parameterCount)
        return StageProduct(Output(outcome, facts), files: ["model.safetensors"])
    }
}

// `train-bottlenet` (per split × V × JPEG quality; with `baselines.bottlenet`): the base network with
// BottleNet's reduction unit (c' = C/V channels), 8-bit min–max quantiser, tiled JPEG and restoration unit at
// the split, trained jointly from train-base's weights with the JPEG pair as the identity in
// backpropagation. Test accuracy and bytes are those of real JPEG files.
public enum TrainBottleNetStage: TypedStage {
    public typealias Output = BottleNetOutput
    public static let name = "train-bottlenet"
    struct Inputs: Encodable { var split: String; var ratio: Int; var quality: Int; var stride: Int; var threads: Int; var training: TrainingSettings }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] {
        guard let b = spec.baselines?.bottlenet else { return [] }
        return spec.splits.flatMap { s in spec.ratios.flatMap { v in b.qualities.map { StageInstance(name, split: s, ratio: v, variant: .jpegQuality($0)) } } }
    }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] { [TrainBaseStage.instance] }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }

    static func quality(_ i: StageInstance) throws -> Int {
        guard case .jpegQuality(let q)? = i.variant else {
            throw StageError.invalidSettings("\(i): the variant must be q<quality>, e.g. q20")
        }
        return q
    }

    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        guard let b = spec.baselines?.bottlenet else { throw StageError.invalidSettings("the pipeline has no baselines.bottlenet section") }
        let p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, quality: try quality(i), stride: b.stride,
                                            threads: spec.threads, training: try requireTraining(name, spec)))
    }

    public static func model(_ ctx: RunContext, _ i: StageInstance) throws -> (CoInferenceModel, BottleNetBridge) {
        guard let b = ctx.spec.baselines?.bottlenet else { throw StageError.invalidSettings("the pipeline has no baselines.bottlenet section") }
        let base = try ctx.makeBaseModel()
        let p = try i.requirePoint()
        let channels = try AECNNStageSupport.channels(ctx, split: p.split)
        let bridge = BottleNetBridge(channels: channels, reduced: ChannelRanking.keptCount(channels: channels, ratio: p.ratio),
                                     stride: b.stride, quality: try quality(i), seed: StageRunner.seed(i, ctx.spec))
        return (try CoInferenceModel(base: base, split: p.split, bridge: bridge), bridge)
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let (m, bridge) = try model(ctx, i)
        try StageTraining.loadModel(m.base, directory: StageRunner.directory(TrainBaseStage.instance, ctx), producedBy: TrainBaseStage.instance)
        var outcome = try StageTraining.train(m, stage: i.description, ctx: ctx, directory: directory, settings: try requireTraining(name, ctx.spec),
                                              seed: StageRunner.seed(i, ctx.spec), options: options)
        try StageTraining.saveModel(m, directory: directory, kind: "bottlenet-model", ctx: ctx, instance: i)
        // One more pass over the test set, counting the real bytes (the trainer's last evaluation did not count).
        bridge.resetCounters()
        let e = try Trainer.evaluate(m, try ctx.testImages(), try ctx.normalization(), batchSize: 500)
        let shape = try AECNNStageSupport.inputShape(ctx)
        m.setTraining(false)
        let split = GradMode.withoutGrad { m.device(Variable(Tensor(zeros: [1] + shape))) }
        let reducedShape = GradMode.withoutGrad { bridge.reduceFeatures(split).shape }
        let reduceFLOPs = FlopCounter.measure { _ = GradMode.withoutGrad { bridge.reduceFeatures(split) } }
        let bytes = Double(bridge.bytesSent) / Double(max(bridge.imagesSent, 1))
        let splitElements = split.shape.dropFirst().reduce(1, *)
        outcome.testAccuracy = e.accuracy
        outcome.predictions = try ctx.predictions(e.predicted)
        var facts = BottleNetFacts(bytesPerImage: bytes, reducedShape: Array(reducedShape.dropFirst()), splitShape: Array(split.shape.dropFirst()),
                                   quality: try quality(i), compressionRatio: 4 * Double(splitElements) / bytes,
                                   deviceFlops: m.deviceFLOPs(inputShape: shape) + reduceFLOPs, bridgeParameters: bridge.parameterCount)
        facts.bytesPerImageTablesOutOfBand = Double(bridge.bytesSentTablesOutOfBand) / Double(max(bridge.imagesSent, 1))
        ctx.log?(String(format: "%@: test accuracy %.2f%%, %.1f JPEG bytes per image (%.0f× smaller than the float32 split tensor)",
                        i.description, 100 * e.accuracy, bytes, 4 * Double(splitElements) / bytes))
        return StageProduct(Output(outcome, facts), files: ["model.safetensors"])
    }
}
