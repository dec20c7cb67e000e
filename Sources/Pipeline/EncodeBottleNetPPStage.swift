// Stage `encode-bottlenetpp` (per split × V × channel; present when the pipeline has both `coding:` and
// `baselines.bottlenetpp`): the trained BottleNet++ model measured through the same real link as AECNN, so that
// both methods are on one rate axis. Its channel symbols (the encoder's sigmoid outputs, at the noise-free
// condition) go through the pipeline's quantiser — the same range mode, calibrated the same way on the same
// training images —, every codec × bit width of `coding:`, and real frames; the decoder and the edge half
// classify what arrives. Reported like encode-features (`CodedMeasurement`): accuracy with per-image
// predictions, frame and payload bytes, ratios, coding times; the calibrated ranges go to quantizer.json.

import Foundation
import CoInference
import TensorCore
import Autograd
import Methods
import Datasets
import Checkpoint
import FeatureCoding
import PipelineSpec

public enum EncodeBottleNetPPStage: TypedStage {
    public typealias Output = EncodeOutput
    public static let name = "encode-bottlenetpp"
    struct Inputs: Encodable {
        var split: String; var ratio: Int; var channel: String; var threads: Int; var coding: CodingSettings; var codecFormats: [String]; var frameVersion: Int
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] {
        spec.coding == nil ? [] : TrainBottleNetPPStage.instances(spec).map { StageInstance(name, split: $0.split, ratio: $0.ratio, variant: $0.variant) }
    }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [StageInstance(TrainBottleNetPPStage.name, split: i.split, ratio: i.ratio, variant: i.variant)]
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let (c, formats) = try EncodeFeaturesStage.measuredCoding(spec)
        let p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, channel: try TrainBottleNetPPStage.channel(i).rawValue, threads: spec.threads,
                                            coding: c, codecFormats: formats, frameVersion: FeatureBitstream.compactVersion))
    }

    /// The id its frames carry: pipeline, split, V, channel and the weights' hash.
    static func modelID(_ ctx: RunContext, _ i: StageInstance) -> String {
        let source = StageInstance(TrainBottleNetPPStage.name, split: i.split, ratio: i.ratio, variant: i.variant)
        let hash = StageRunner.record(source, ctx).map { String($0.outputsSha256.prefix(12)) } ?? "unknown"
        return "\(ctx.spec.name)/\(i.split ?? "?")/V\(i.ratio ?? 0)/bottlenetpp-\(i.variant?.description ?? "?")@\(hash)"
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let point = try i.requirePoint()
        guard let coding = ctx.spec.coding else { throw StageError.invalidSettings("the pipeline has no coding: section") }
        let source = StageInstance(TrainBottleNetPPStage.name, split: point.split, ratio: point.ratio, variant: i.variant)
        let (m, bridge) = try TrainBottleNetPPStage.model(ctx, source)
        try StageTraining.loadModel(m, directory: StageRunner.directory(source, ctx), producedBy: source)
        m.setTraining(false)
        bridge.condition = 0
        // What the device sends: the encoder's symbols at the noise-free condition.
        let send: (Variable) -> Variable = { bridge.encode(m.device($0), condition: 0) }
        let test = try ctx.testImages()
        let input = [test.channels, test.height, test.width]
        let symbols = GradMode.withoutGrad { send(Variable(Tensor(zeros: [1] + input))).shape }
        let split = m.splitShape(inputShape: input)
        let carried = Array(symbols.dropFirst()), splitShape = Array(split.dropFirst())
        let calibration = try LinkCalibration.calibrate(send, images: try ctx.trainImages(), count: coding.calibrationImages,
                                                        normalization: try ctx.normalization(), carried: carried[0])
        let all = Array(0..<carried[0])
        try LinkCalibration.write(calibration, kept: all, images: min(coding.calibrationImages, try ctx.trainImages().count),
                                  to: directory.appendingPathComponent("quantizer.json"))
        let shape = FeatureShape(channels: carried[0], height: carried[1], width: carried[2])
        let id = modelID(ctx, i)
        var configs: [CodedMeasurement.Configuration] = []
        for b in coding.bits { for c in coding.codecs {
            let q = try LinkCalibration.quantizer(bits: b, mode: coding.ranges, calibration: calibration, kept: all, channels: carried[0])
            configs.append(.init(codec: c, bits: b, link: FeatureLink(shape: shape, kept: all, splitPoint: point.split, modelID: id, quantizer: q,
                                                                      codec: CodecTable.codec(c, coding))))
        } }
        let (rows, floatAccuracy) = try CodedMeasurement.measure(
            i.description, ctx: ctx, point: point, ranges: coding.ranges, configs: configs, carriedShape: carried, splitShape: splitShape,
            send: { send($0).value }, receive: { try! m.base.forwardEdge(bridge.decode(Variable($0)), split: point.split).value })
        let (md, csv) = EncodeFeaturesStage.tables(title: "\(ctx.spec.name) \(point.split) V=\(point.ratio) BottleNet++ \(i.variant?.description ?? "")",
                                                   rows: rows, images: test.count, floatAccuracy: floatAccuracy)
        try AtomicFile.write(Data(md.utf8), to: directory.appendingPathComponent("coding.md"))
        try AtomicFile.write(Data(csv.utf8), to: directory.appendingPathComponent("coding.csv"))
        ctx.log?(md)
        return StageProduct(Output(rows: rows, modelId: id, testImages: test.count, floatAccuracy: floatAccuracy), files: ["quantizer.json"])
    }
}
