// `train-entropic` (per split × V × λ; with `baselines.entropic`): the base network with a learned entropy
// bottleneck at the split (Methods' `EntropicBridge`: encoder to K = C/V latent channels, factorized prior,
// decoder back to C), trained jointly from train-base's weights with loss = cross-entropy + λ · estimated
// bits per image (U(−½, ½) noise standing in for rounding). After training, the coding tables are derived
// from the learned density and saved in model.safetensors. The reported test accuracy is that of the real
// coder: every test image's latents are rounded around the medians, range-coded with the tables, decoded,
// and classified from the decoded latents; bytes per image are those coded bytes.

import Foundation
import TensorCore
import Autograd
import NN
import Models
import Methods
import FeatureCoding
import Datasets
import PipelineSpec

/// train-entropic's own figures.
public struct EntropicFacts: Codable, Sendable {
    /// The rate weight λ of the loss.
    public var lambda: Double
    /// Range-coded bytes per test image (the codec's payload, docs/coders.md §7; no frame header).
    public var bytesPerImage: Double
    /// The model's estimate −Σ log₂ p(ŷ) per test image, in bits, for the same rounded latents.
    public var estimatedBitsPerImage: Double
    /// Fraction of latents outside their channel's table (coded through the escape symbol).
    public var escapedFraction: Double
    /// Latents per image, K × H' × W'.
    public var latentShape: [Int]
    public var splitShape: [Int]
    public var stride: Int
    /// float32 split tensor bytes / `bytesPerImage`.
    public var compressionRatio: Double
    public var deviceFlops: Int
    public var bridgeParameters: Int
}
/// train-entropic.
public typealias EntropicOutput = Trained<EntropicFacts>

public enum TrainEntropicStage: TypedStage {
    public typealias Output = EntropicOutput
    public static let name = "train-entropic"
    struct Inputs: Encodable { var split: String; var ratio: Int; var lambda: Double; var stride: Int; var threads: Int; var training: TrainingSettings }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] {
        guard let b = spec.baselines?.entropic else { return [] }
        return spec.splits.filter { b.splits?.contains($0) ?? true }.flatMap { s in
            spec.ratios.flatMap { v in b.lambdas.map { StageInstance(name, split: s, ratio: v, variant: .rateWeight($0)) } }
        }
    }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] { [TrainBaseStage.instance] }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { spec.training(name) }

    static func settings(_ spec: PipelineSpec) throws -> EntropicSettings {
        guard let b = spec.baselines?.entropic else { throw StageError.invalidSettings("the pipeline has no baselines.entropic section") }
        return b
    }
    static func lambda(_ i: StageInstance) throws -> Double {
        guard case .rateWeight(let l)? = i.variant else {
            throw StageError.invalidSettings("\(i): the variant must be lambda<λ>, e.g. lambda0.001")
        }
        return l
    }

    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let b = try settings(spec), p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, lambda: try lambda(i), stride: b.stride,
                                            threads: spec.threads, training: try requireTraining(name, spec)))
    }

    /// The model of an instance, weights not loaded.
    public static func model(_ ctx: RunContext, _ i: StageInstance) throws -> (CoInferenceModel, EntropicBridge) {
        let b = try settings(ctx.spec), p = try i.requirePoint()
        let channels = try AECNNStageSupport.channels(ctx, split: p.split)
        let bridge = EntropicBridge(channels: channels, latent: ChannelRanking.keptCount(channels: channels, ratio: p.ratio),
                                    stride: b.stride, seed: StageRunner.seed(i, ctx.spec))
        bridge.rateWeight = Float(try lambda(i))
        return (try CoInferenceModel(base: try ctx.makeBaseModel(), split: p.split, bridge: bridge), bridge)
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let b = try settings(ctx.spec)
        let (m, bridge) = try model(ctx, i)
        try StageTraining.loadModel(m.base, directory: StageRunner.directory(TrainBaseStage.instance, ctx), producedBy: TrainBaseStage.instance)
        var outcome = try StageTraining.train(m, stage: i.description, ctx: ctx, directory: directory, settings: try requireTraining(name, ctx.spec),
                                              seed: StageRunner.seed(i, ctx.spec), options: options)
        try bridge.prior.updateTables()
        try StageTraining.saveModel(m, directory: directory, kind: "entropic-model", ctx: ctx, instance: i)

        let coded = try evaluateCoded(m, bridge, ctx)
        let shape = try AECNNStageSupport.inputShape(ctx)
        m.setTraining(false)
        let split = GradMode.withoutGrad { m.device(Variable(Tensor(zeros: [1] + shape))) }
        let latent = GradMode.withoutGrad { bridge.encode(split).shape }
        let encoderFLOPs = FlopCounter.measure { _ = GradMode.withoutGrad { bridge.encode(split) } }
        let splitElements = split.shape.dropFirst().reduce(1, *)
        outcome.testAccuracy = coded.accuracy
        outcome.predictions = try ctx.predictions(coded.predicted)
        let facts = EntropicFacts(lambda: try lambda(i), bytesPerImage: coded.bytesPerImage, estimatedBitsPerImage: coded.estimatedBitsPerImage,
                                  escapedFraction: coded.escapedFraction, latentShape: Array(latent.dropFirst()),
                                  splitShape: Array(split.shape.dropFirst()), stride: b.stride,
                                  compressionRatio: 4 * Double(splitElements) / max(coded.bytesPerImage, 1e-9),
                                  deviceFlops: m.deviceFLOPs(inputShape: shape) + encoderFLOPs, bridgeParameters: bridge.parameterCount)
        ctx.log?(String(format: "%@: test accuracy %.2f%% through the coder, %.1f bytes per image (estimate %.1f bytes)",
                        i.description, 100 * coded.accuracy, coded.bytesPerImage, coded.estimatedBitsPerImage / 8))
        return StageProduct(Output(outcome, facts), files: ["model.safetensors"])
    }

    /// The test set through the real coder: device half, encoder, rounding around the medians, range coding
    /// per image with the stored tables, decoding, dequantisation, decoder and edge half.
    static func evaluateCoded(_ m: CoInferenceModel, _ bridge: EntropicBridge, _ ctx: RunContext)
        throws -> (accuracy: Double, predicted: [Int], bytesPerImage: Double, estimatedBitsPerImage: Double, escapedFraction: Double) {
        m.setTraining(false)
        let codec = try bridge.prior.codec()
        let images = try ctx.testImages(), normalization = try ctx.normalization()
        var predicted: [Int] = [], correct = 0, bytes = 0, bits = 0.0, escaped = 0, latents = 0
        var unused = RNG(seed: 0)
        for range in Batching.batchRanges(count: images.count, batchSize: 500) {
            let (x, labels) = try Batching.makeBatch(images, indices: range, normalization: normalization, augmentation: nil, rng: &unused)
            try GradMode.withoutGrad {
                let y = bridge.encode(m.device(Variable(x))).value
                let s = NCHW(y.shape), per = s.c * s.h * s.w
                let featureShape = FeatureShape(channels: s.c, height: s.h, width: s.w)
                let q = bridge.prior.symbols(y)
                var decoded: [Int32] = []
                decoded.reserveCapacity(q.count)
                for n in 0..<s.n {
                    let image = Array(q[(n * per)..<((n + 1) * per)])
                    let payload = try codec.encode(image, shape: featureShape)
                    bytes += payload.count
                    decoded += try codec.decode(payload, shape: featureShape)
                }
                for (k, v) in decoded.enumerated() {
                    let t = codec.tables[(k / (s.h * s.w)) % s.c]
                    if Int(v) < t.offset || Int(v) >= t.offset + t.support { escaped += 1 }
                }
                latents += decoded.count
                let yHat = Variable(bridge.prior.dequantize(decoded, shape: y.shape))
                bits += Double(sum(negativeLog2(bridge.prior.likelihood(yHat))).value[0])
                let logits = try m.base.forwardEdge(bridge.decode(yHat), split: m.split)
                let p = argmaxRows(logits.value)
                predicted += p
                for (p, l) in zip(p, labels) where p == Int(l) { correct += 1 }
            }
        }
        let count = Double(max(1, images.count))
        return (Double(correct) / count, predicted, Double(bytes) / count, bits / count, Double(escaped) / Double(max(1, latents)))
    }
}
