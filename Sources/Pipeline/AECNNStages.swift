// The AECNN stages (paper §IV-D, Algorithm 1), one instance per split point (and ratio V):
//   train-attention  insert channel attention after the split, train the resulting network
//   rank-channels    mean attention map over the training set → channel importance (eq. 8), and its
//                    stability across random batches (the paper's Fig. 4 check)
//   prune            keep the C/V most important channels: remove the filters and BatchNorm entries that
//                    produce the others (device FLOPs drop); the edge fills pruned positions with zeros
//   fine-tune        fine-tune the pruned network ("CA_Pruned")
//   train-recovery   insert the feature-recovery CNN on the edge side, fine-tune ("AECNN")
//
// With `aecnn.rank.methods`, each control ranking (`l1`: Li et al. 2017's filter norms; `random`: a seeded
// permutation) has its own chain rank-channels → prune → fine-tune → train-recovery (→ encode-features) at the
// same splits and ratios: the same stages, with the ranking as the instances' variant. AECNN's own chain keeps
// the instances it always had (no variant).

import Foundation
import CoInference
import TensorCore
import Autograd
import NN
import Models
import Methods
import Datasets
import Checkpoint
import PipelineSpec
import FeatureCoding

/// The stages of a ranking chain: AECNN's instances have no variant, a control ranking's (`aecnn.rank.methods`)
/// have `.ranking(method)`.
public enum RankingChains {
    public static let stages = [RankChannelsStage.name, PruneStage.name, FineTuneStage.name, TrainRecoveryStage.name, EncodeFeaturesStage.name]
}

/// A training stage's settings (every training stage has them: the spec fills defaults).
func requireTraining(_ stage: String, _ spec: PipelineSpec) throws -> TrainingSettings {
    guard let t = spec.training(stage) else { throw StageError.invalidSettings("\(stage) has no training settings") }
    return t
}

/// Shared pieces of the per-split stages.
enum AECNNStageSupport {
    static func splitInstances(_ stage: String, _ spec: PipelineSpec) -> [StageInstance] {
        spec.splits.map { StageInstance(stage, split: $0) }
    }
    static func ratioInstances(_ stage: String, _ spec: PipelineSpec) -> [StageInstance] {
        spec.splits.flatMap { s in spec.ratios.map { StageInstance(stage, split: s, ratio: $0) } }
    }

    /// The instances of a ranking chain's stage: AECNN's (`splitInstances` / `ratioInstances`, no variant), then
    /// those of each control ranking of `aecnn.rank.methods`, in the order the file lists them.
    static func chainInstances(_ stage: String, _ spec: PipelineSpec, perRatio: Bool) -> [StageInstance] {
        let aecnn = perRatio ? ratioInstances(stage, spec) : splitInstances(stage, spec)
        return aecnn + spec.aecnn.controlRankings.flatMap { m in aecnn.map { StageInstance($0.stage, split: $0.split, ratio: $0.ratio, variant: .ranking(m)) } }
    }

    /// The seed of a ranking chain's training: that of AECNN's instance at the same point, whatever the ranking,
    /// so that the chains see the same batches, augmentation and recovery initialisation and differ only in
    /// the channels they keep.
    static func chainSeed(_ i: StageInstance, _ spec: PipelineSpec) -> UInt64 {
        StageRunner.seed(StageInstance(i.stage, split: i.split, ratio: i.ratio, variant: i.controlRanking == nil ? i.variant : nil), spec)
    }

    static func channels(_ ctx: RunContext, split: String) throws -> Int {
        let base = try ctx.makeBaseModel()
        guard let unit = base.unit(split) else { throw StageError.invalidSettings("unknown split \(split)") }
        return try Pruning.outputChannels(of: unit, split: split)
    }

    /// Kept channels of a prune instance, from the ranking of its chain.
    static func kept(_ ctx: RunContext, _ prune: StageInstance) throws -> [Int] {
        let point = try prune.requirePoint()
        let rank = StageInstance(RankChannelsStage.name, split: point.split, variant: prune.variant)
        let order = try RankChannelsStage.requireOutput(rank, ctx, for: prune.description).order
        return ChannelRanking.kept(order: order, ratio: point.ratio)
    }

    /// The pruned architecture for (split, V), weights not loaded.
    static func prunedBase(_ ctx: RunContext, split: String, kept: [Int]) throws -> ResNet {
        let base = try ctx.makeBaseModel()
        try Pruning.prune(base, split: split, keep: kept)
        return base
    }

    static func recoveryArchitecture(_ spec: PipelineSpec) -> RecoveryArchitecture {
        RecoveryArchitecture(layers: spec.aecnn.recoveryLayers, hidden: spec.aecnn.recoveryHidden)
    }

    static func inputShape(_ ctx: RunContext) throws -> [Int] {
        let t = try ctx.trainImages()
        return [t.channels, t.height, t.width]
    }
}

public enum TrainAttentionStage: TypedStage {
    public typealias Output = Trained<NoFields>
    public static let name = "train-attention"
    struct Inputs: Encodable { var split: String; var eps: Double; var threads: Int; var training: TrainingSettings }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { AECNNStageSupport.splitInstances(name, spec) }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] { [TrainBaseStage.instance] }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        try canonicalJSON(of: Inputs(split: try i.requireSplit(), eps: spec.aecnn.attentionEps, threads: spec.threads, training: try requireTraining(name, spec)))
    }

    static func model(_ ctx: RunContext, split: String) throws -> CoInferenceModel {
        try CoInferenceModel(base: try ctx.makeBaseModel(), split: split, bridge: ChannelAttention(eps: Float(ctx.spec.aecnn.attentionEps)))
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let m = try model(ctx, split: try i.requireSplit())
        try StageTraining.loadModel(m.base, directory: StageRunner.directory(TrainBaseStage.instance, ctx), producedBy: TrainBaseStage.instance)
        let outcome = try StageTraining.train(m, stage: i.description, ctx: ctx, directory: directory, settings: try requireTraining(name, ctx.spec),
                                              seed: StageRunner.seed(i, ctx.spec), options: options)
        try StageTraining.saveModel(m, directory: directory, kind: "attention-model", ctx: ctx, instance: i)
        return StageProduct(Output(outcome), files: ["model.safetensors"])
    }
}

public enum RankChannelsStage: TypedStage {
    public typealias Output = RankingOutput
    public static let name = "rank-channels"
    struct Inputs: Encodable { var split: String; var eps: Double; var batchSize: Int; var stabilityBatches: Int; var seed: UInt64 }
    /// A control ranking's: `l1` reads train-base's weights (its output hash is part of the inputs); `random`
    /// depends on nothing but the pipeline seed, the split and the model's channel count (arch and width).
    struct ControlInputs: Encodable {
        var split: String; var method: String; var seed: UInt64?; var arch: String?; var width: Double?
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { AECNNStageSupport.chainInstances(name, spec, perRatio: false) }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        switch i.ranking {
        case .attention: return [StageInstance(TrainAttentionStage.name, split: i.split)]
        case .l1: return [TrainBaseStage.instance]
        case .random: return []
        }
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let split = try i.requireSplit()
        switch i.ranking {
        case .attention:
            return try canonicalJSON(of: Inputs(split: split, eps: spec.aecnn.attentionEps, batchSize: spec.aecnn.rankBatchSize,
                                                stabilityBatches: spec.aecnn.stabilityBatches, seed: spec.seed))
        case .l1:
            return try canonicalJSON(of: ControlInputs(split: split, method: i.ranking.rawValue))
        case .random:
            return try canonicalJSON(of: ControlInputs(split: split, method: i.ranking.rawValue, seed: spec.seed,
                                                       arch: spec.model.arch.rawValue, width: spec.model.width))
        }
    }

    /// The seed of the `random` ranking at `split`: the first 8 bytes (big-endian) of
    /// SHA-256("<pipeline seed>/rank-channels <split> random"), the instance's seed as `StageRunner.seed` derives it.
    public static func randomSeed(split: String, _ spec: PipelineSpec) -> UInt64 {
        StageRunner.seed(StageInstance(name, split: split, variant: .ranking(.random)), spec)
    }

    /// The `random` ranking of `channels` channels: a Fisher–Yates permutation drawn with `seed`, most important first.
    public static func randomOrder(channels: Int, seed: UInt64) -> [Int] {
        var rng = RNG(seed: seed)
        return rng.permutation(channels)
    }

    /// A control ranking at `split`: an importance per channel, the order (most important first), and the
    /// tensor normed (`l1`).
    static func controlOrder(_ method: AECNNSettings.RankingMethod, split: String, _ ctx: RunContext) throws -> (importance: [Double], order: [Int], weight: String?) {
        switch method {
        case .attention:
            throw StageError.invalidSettings("rank-channels \(split): the attention ranking is not a control")
        case .l1:
            let base = try TrainBaseStage.loadModel(ctx)
            guard let unit = base.unit(split) else { throw StageError.invalidSettings("unknown split \(split)") }
            let (norms, weight) = try Pruning.filterL1Norms(of: unit, split: split)
            return (norms, ChannelRanking.order(importance: norms), weight)
        case .random:
            let channels = try AECNNStageSupport.channels(ctx, split: split)
            let order = randomOrder(channels: channels, seed: randomSeed(split: split, ctx.spec))
            // The importance is the rank score (1 for the first channel, 1/C for the last), so that it orders
            // the channels as the permutation does.
            var importance = [Double](repeating: 0, count: channels)
            for (rank, c) in order.enumerated() { importance[c] = Double(channels - rank) / Double(channels) }
            return (importance, order, nil)
        }
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let split = try i.requireSplit()
        if let method = i.controlRanking {
            // The controls do not look at data: every batch would rank the channels alike (ρ = 1, overlap 1).
            let (importance, order, weight) = try controlOrder(method, split: split, ctx)
            let file = RankingFile(split: split, channels: importance.count, importance: importance, order: order, batchImportance: [],
                                   batchSize: nil, method: method, normedWeight: weight)
            try AtomicFile.write(try ResultJSON.encoder().encode(file), to: directory.appendingPathComponent("ranking.json"))
            ctx.log?("\(i): order \(order.prefix(8))…\(weight.map { " (L1 norms of the filters of \($0))" } ?? "")")
            let overlap = Dictionary(uniqueKeysWithValues: ctx.spec.ratios.map { ("\($0)", 1.0) })
            return StageProduct(Output(importance: importance, order: order, channels: importance.count, stabilitySpearman: [],
                                       stabilityMinSpearman: 1, stabilityTopkOverlapMin: overlap, method: method, normedWeight: weight),
                                files: ["ranking.json"])
        }
        let m = try TrainAttentionStage.model(ctx, split: split)
        let source = StageInstance(TrainAttentionStage.name, split: split)
        try StageTraining.loadModel(m, directory: StageRunner.directory(source, ctx), producedBy: source)
        m.setTraining(false)
        guard let attention = m.bridge as? ChannelAttention else { throw StageError.invalidSettings("no attention module") }
        let train = try ctx.trainImages(), norm = try ctx.normalization()
        let batch = ctx.spec.aecnn.rankBatchSize
        // Eq. 8 over the whole training set (no augmentation), plus per-batch means over random batches.
        var rng = RNG(seed: StageRunner.seed(i, ctx.spec))
        let order = rng.permutation(train.count)
        let ranges = Batching.batchRanges(count: train.count, batchSize: batch)
        var total: [Double] = [], batchMeans: [[Double]] = []
        var unused = RNG(seed: 0)
        for (b, r) in ranges.enumerated() {
            let (x, _) = try Batching.makeBatch(train, indices: order[r], normalization: norm, augmentation: nil, rng: &unused)
            let q = GradMode.withoutGrad { attention.attention(m.device(Variable(x))).value }
            let n = q.shape[0], c = q.shape[1]
            if total.isEmpty { total = [Double](repeating: 0, count: c) }
            var mean = [Double](repeating: 0, count: c)
            for s in 0..<n { for k in 0..<c { mean[k] += Double(q[s * c + k]) } }
            for k in 0..<c { total[k] += mean[k]; mean[k] /= Double(n) }
            if b < ctx.spec.aecnn.stabilityBatches && r.count == batch { batchMeans.append(mean) }
        }
        let importance = total.map { $0 / Double(train.count) }
        let ranking = ChannelRanking.order(importance: importance)
        let spearman = batchMeans.map { ChannelRanking.spearman($0, importance) }
        var overlap: [String: Double] = [:]
        for v in ctx.spec.ratios {
            let k = ChannelRanking.keptCount(channels: importance.count, ratio: v)
            let top = Set(ranking.prefix(k))
            let shares = batchMeans.map { Double(Set(ChannelRanking.order(importance: $0).prefix(k)).intersection(top).count) / Double(k) }
            overlap["\(v)"] = shares.min() ?? 1
        }
        let file = RankingFile(split: split, channels: importance.count, importance: importance, order: ranking,
                               batchImportance: batchMeans, batchSize: batch)
        try AtomicFile.write(try ResultJSON.encoder().encode(file), to: directory.appendingPathComponent("ranking.json"))
        ctx.log?("\(i): order \(ranking.prefix(8))…; Spearman ρ of \(batchMeans.count) random batches vs all: \(spearman.map { String(format: "%.3f", $0) })")
        return StageProduct(Output(importance: importance, order: ranking, channels: importance.count, stabilitySpearman: spearman,
                                   stabilityMinSpearman: spearman.min() ?? 1, stabilityTopkOverlapMin: overlap), files: ["ranking.json"])
    }
}

/// ranking.json: the importance of every channel over the whole training set and over random batches; for a
/// control ranking its importance (L1 filter norms, or the random order's rank score), no batches.
public struct RankingFile: Codable, Sendable {
    public var split: String
    public var channels: Int
    public var importance: [Double]
    public var order: [Int]
    public var batchImportance: [[Double]]
    /// The attention ranking's batch size (absent for the controls).
    public var batchSize: Int?
    /// The control ranking (absent for attention).
    public var method: AECNNSettings.RankingMethod? = nil
    /// `l1`: the tensor whose filters were normed (e.g. `block3.conv2.weight`).
    public var normedWeight: String? = nil

    public static func read(_ url: URL) throws -> RankingFile { try ResultJSON.decoder().decode(RankingFile.self, from: SafeRead.contents(of: url, limit: SafeRead.recordLimit)) }
}

public enum PruneStage: TypedStage {
    public typealias Output = PruneOutput
    public static let name = "prune"
    struct Inputs: Encodable {
        var split: String; var ratio: Int; var from: String
        /// 2: the shape probe no longer runs in training mode (version 1 moved the saved BatchNorm statistics),
        /// so outputs made by version 1 are stale.
        var version = 2
        /// A control chain's ranking (absent for attention).
        var ranking: String?
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { AECNNStageSupport.chainInstances(name, spec, perRatio: true) }

    /// The weights an instance prunes: `aecnn.prune_from` for AECNN's chain; train-base's for a control chain,
    /// which has no attention model.
    static func source(_ i: StageInstance, _ spec: PipelineSpec) -> AECNNSettings.PruneSource {
        i.ranking == .attention ? spec.aecnn.pruneFrom : .base
    }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        let weights = source(i, spec) == .base ? TrainBaseStage.instance : StageInstance(TrainAttentionStage.name, split: i.split)
        return [StageInstance(RankChannelsStage.name, split: i.split, variant: i.variant), weights]
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, from: source(i, spec).rawValue,
                                            ranking: i.controlRanking?.rawValue))
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let split = try i.requirePoint().split
        let channels = try AECNNStageSupport.channels(ctx, split: split)
        let kept = try AECNNStageSupport.kept(ctx, i)
        // Start from the chosen weights (the attention module has no parameters, so both load into a ResNet).
        let base = try ctx.makeBaseModel()
        let source = dependencies(i, ctx.spec)[1]
        try StageTraining.loadModel(base, directory: StageRunner.directory(source, ctx), producedBy: source)
        let full = try CoInferenceModel(base: base, split: split, bridge: nil)
        let shape = try AECNNStageSupport.inputShape(ctx)
        let fullFLOPs = full.deviceFLOPs(inputShape: shape)
        let splitShape = full.splitShape(inputShape: shape)   // inference mode: a training-mode probe would move BN statistics
        try Pruning.prune(base, split: split, keep: kept)
        let pruned = try CoInferenceModel(base: base, split: split, bridge: ZeroFill(kept: kept, channels: channels))
        let eval = try Trainer.evaluate(pruned, try ctx.testImages(), try ctx.normalization(), batchSize: 500)
        try StageTraining.saveModel(pruned, directory: directory, kind: "pruned-model", ctx: ctx, instance: i, kept: kept)
        ctx.log?(String(format: "%@: keeps %d of %d channels %@, device FLOPs %d → %d, accuracy before fine-tuning %.2f%%",
                        i.description, kept.count, channels, "\(kept)", fullFLOPs, pruned.deviceFLOPs(inputShape: shape), 100 * eval.accuracy))
        return StageProduct(Output(kept: kept, channels: channels, splitShape: Array(splitShape.dropFirst()),
                                   transmittedShape: [kept.count] + Array(splitShape.dropFirst(2)), deviceFlopsUnpruned: fullFLOPs,
                                   deviceFlops: pruned.deviceFLOPs(inputShape: shape), testAccuracyBeforeFineTuning: eval.accuracy,
                                   testImages: try ctx.testImages().count), files: ["model.safetensors"])
    }
}

/// Loading the (split, V) models of the later stages.
enum PrunedModels {
    /// The kept channels of the prune instance of `i`'s chain at `i`'s point.
    static func kept(_ ctx: RunContext, _ i: StageInstance) throws -> (kept: [Int], channels: Int) {
        let p = StageInstance(PruneStage.name, try i.requirePoint(), variant: i.variant)
        let r = try PruneStage.requireOutput(p, ctx, for: i.description)
        return (r.kept, r.channels)
    }

    /// CA_Pruned: the pruned network with zero-filled pruned channels, weights from `source`.
    static func zeroFilled(_ ctx: RunContext, _ i: StageInstance, weightsFrom source: StageInstance) throws -> CoInferenceModel {
        let (kept, channels) = try kept(ctx, i)
        let split = try i.requireSplit()
        let base = try AECNNStageSupport.prunedBase(ctx, split: split, kept: kept)
        let m = try CoInferenceModel(base: base, split: split, bridge: ZeroFill(kept: kept, channels: channels))
        try StageTraining.loadModel(m, directory: StageRunner.directory(source, ctx), producedBy: source)
        return m
    }

    /// AECNN: the pruned network with the recovery module (recovery weights freshly initialised).
    static func withRecovery(_ ctx: RunContext, _ i: StageInstance) throws -> CoInferenceModel {
        let (kept, channels) = try kept(ctx, i)
        let split = try i.requireSplit()
        let base = try AECNNStageSupport.prunedBase(ctx, split: split, kept: kept)
        let bridge = RecoveryBridge(kept: kept, channels: channels, architecture: AECNNStageSupport.recoveryArchitecture(ctx.spec),
                                    seed: AECNNStageSupport.chainSeed(i, ctx.spec))
        return try CoInferenceModel(base: base, split: split, bridge: bridge)
    }
}

public enum FineTuneStage: TypedStage {
    public typealias Output = FineTuneOutput
    public static let name = "fine-tune"
    struct Inputs: Encodable {
        var split: String; var ratio: Int; var threads: Int; var training: TrainingSettings
        /// A control chain's ranking (absent for attention).
        var ranking: String?
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { AECNNStageSupport.chainInstances(name, spec, perRatio: true) }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [StageInstance(PruneStage.name, split: i.split, ratio: i.ratio, variant: i.variant)]
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, threads: spec.threads, training: try requireTraining(name, spec),
                                            ranking: i.controlRanking?.rawValue))
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let m = try PrunedModels.zeroFilled(ctx, i, weightsFrom: StageInstance(PruneStage.name, try i.requirePoint(), variant: i.variant))
        let outcome = try StageTraining.train(m, stage: i.description, ctx: ctx, directory: directory, settings: try requireTraining(name, ctx.spec),
                                              seed: AECNNStageSupport.chainSeed(i, ctx.spec), options: options)
        try StageTraining.saveModel(m, directory: directory, kind: "ca-pruned-model", ctx: ctx, instance: i, kept: try PrunedModels.kept(ctx, i).kept)
        let facts = DeviceFacts(deviceFlops: m.deviceFLOPs(inputShape: try AECNNStageSupport.inputShape(ctx)))
        return StageProduct(Output(outcome, facts), files: ["model.safetensors"])
    }
}

public enum TrainRecoveryStage: TypedStage {
    public typealias Output = RecoveryOutput
    public static let name = "train-recovery"
    struct Inputs: Encodable {
        var split: String; var ratio: Int; var threads: Int; var layers: Int; var hidden: Int; var training: TrainingSettings
        /// Quantiser in the loop (`coding.recovery_training_bits`); absent from the hash when off.
        var quantizeBits: Int?; var quantizeRanges: String?; var calibrationImages: Int?
        /// 2: the straight-through gradient stops where the quantiser clamps (1, unclipped, let training push
        /// the features past the calibrated range). Absent when the quantiser is not in the loop.
        var quantizeVersion: Int?
        /// A control chain's ranking (absent for attention).
        var ranking: String?
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { AECNNStageSupport.chainInstances(name, spec, perRatio: true) }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [StageInstance(FineTuneStage.name, split: i.split, ratio: i.ratio, variant: i.variant)]
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let bits = spec.coding?.recoveryTrainingBits
        let p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, threads: spec.threads, layers: spec.aecnn.recoveryLayers,
                                            hidden: spec.aecnn.recoveryHidden, training: try requireTraining(name, spec), quantizeBits: bits,
                                            quantizeRanges: bits == nil ? nil : spec.coding?.ranges.rawValue,
                                            calibrationImages: bits == nil ? nil : spec.coding?.calibrationImages,
                                            quantizeVersion: bits == nil ? nil : 2, ranking: i.controlRanking?.rawValue))
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let point = try i.requirePoint()
        let m = try PrunedModels.withRecovery(ctx, i)
        // The pruned network's weights from fine-tune; the recovery module starts from its initialisation.
        let tuned = try PrunedModels.zeroFilled(ctx, i, weightsFrom: StageInstance(FineTuneStage.name, point, variant: i.variant))
        try m.base.loadState(Dictionary(uniqueKeysWithValues: tuned.base.stateTensors()))
        var quantizedBits: Int?, quantizedRanges: String?
        if let coding = ctx.spec.coding, let bits = coding.recoveryTrainingBits {
            // The quantiser in the loop: ranges calibrated on the fine-tuned device half, straight-through
            // gradient; the same arithmetic as the real link (FeatureLink.roundTrip).
            let (kept, channels) = try PrunedModels.kept(ctx, i)
            m.setTraining(false)
            let calibration = try LinkCalibration.calibrate(m.device, images: try ctx.trainImages(), count: coding.calibrationImages,
                                                            normalization: try ctx.normalization(), carried: kept.count)
            let q = try LinkCalibration.quantizer(bits: bits, mode: coding.ranges, calibration: calibration, kept: kept, channels: channels)
            let shape = try AECNNStageSupport.inputShape(ctx)
            let split = m.splitShape(inputShape: shape)
            let link = FeatureLink(shape: FeatureShape(channels: channels, height: split[2], width: split[3]), kept: kept,
                                   splitPoint: point.split, modelID: "training", quantizer: q, codec: .raw)
            m.transmit = { link.straightThrough($0) }
            quantizedBits = bits
            quantizedRanges = coding.ranges.rawValue
            // The edge half learns these ranges: encode-features must quantise with them, not recalibrate.
            try LinkCalibration.write(calibration, kept: kept, images: coding.calibrationImages, to: directory.appendingPathComponent("quantizer.json"))
        }
        // The recovery CNN's activations at the split: `layers` feature maps of `hidden` channels per image.
        let at = m.splitShape(inputShape: try AECNNStageSupport.inputShape(ctx))
        let recoveryValues = ctx.spec.aecnn.recoveryLayers * ctx.spec.aecnn.recoveryHidden * at[2] * at[3]
        let outcome = try StageTraining.train(m, stage: i.description, ctx: ctx, directory: directory, settings: try requireTraining(name, ctx.spec),
                                              seed: AECNNStageSupport.chainSeed(i, ctx.spec), options: options, extraPerImage: recoveryValues)
        try StageTraining.saveModel(m, directory: directory, kind: "aecnn-model", ctx: ctx, instance: i, kept: try PrunedModels.kept(ctx, i).kept)
        let (kept, _) = try PrunedModels.kept(ctx, i)
        let shape = try AECNNStageSupport.inputShape(ctx)
        let splitShape = m.splitShape(inputShape: shape)
        let facts = RecoveryFacts(recoveryParameters: m.bridge?.parameterCount ?? 0,
                                  recoveryFlops: m.bridgeFLOPs(receivedShape: [kept.count] + Array(splitShape.dropFirst(2))),
                                  deviceFlops: m.deviceFLOPs(inputShape: shape), quantizedTrainingBits: quantizedBits,
                                  quantizedTrainingRanges: quantizedRanges)
        return StageProduct(Output(outcome, facts), files: quantizedBits == nil ? ["model.safetensors"] : ["model.safetensors", "quantizer.json"])
    }
}
