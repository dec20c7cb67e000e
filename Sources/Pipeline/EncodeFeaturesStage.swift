// Stage `encode-features` (per split × V; present when the pipeline has a `coding:` section): the AECNN model
// of train-recovery measured through the real link. Each test image goes device half → quantiser → codec →
// AEFC frame bytes → decoder → dequantiser → recovery module → edge half, for every codec × bit width of the
// pipeline. Reported per configuration: accuracy; frame bytes per image (mean, p50, p99) and payload bytes;
// bits per carried element; compression ratio against the float32 split tensor, both V·32/(payload bits per
// element) and with the whole frame (header and CRC included); encode and decode time per image (one core);
// the order-0 entropy of the symbols. Calibrated ranges go to quantizer.json, next to the tables.
//
// One instance covers all codecs and widths of its (split, V): the device half runs once per image and every
// configuration reuses its output. A control ranking's chain (`aecnn.rank.methods`) has its own instances,
// with the ranking as variant; the deployed models (`aecnnInstances`: profile, serve, encode, decode) are AECNN's.

import Foundation
import CoInference
import TensorCore
import Autograd
import NN
import Methods
import Datasets
import Checkpoint
import FeatureCoding
import PipelineSpec

public enum EncodeFeaturesStage: TypedStage {
    public typealias Output = EncodeOutput
    public static let name = "encode-features"
    /// `codecFormats` names each codec's frame format (codec id and parameters), so that results made with an
    /// older format under the same codec name are out of date (arith-context moved from payload tag 3 to 4, then 5).
    /// `frameVersion` (absent before compact frames: version 1) decides the frame bytes measured.
    struct Inputs: Encodable {
        var split: String; var ratio: Int; var threads: Int; var coding: CodingSettings; var codecFormats: [String]; var frameVersion: Int?
        /// A control chain's ranking (absent for attention).
        var ranking: String?
    }

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] {
        spec.coding == nil ? [] : AECNNStageSupport.chainInstances(name, spec, perRatio: true)
    }
    /// AECNN's own instances, one per (split, V): the models that are deployed, served and profiled.
    public static func aecnnInstances(_ spec: PipelineSpec) -> [StageInstance] {
        spec.coding == nil ? [] : AECNNStageSupport.ratioInstances(name, spec)
    }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [StageInstance(TrainRecoveryStage.name, split: i.split, ratio: i.ratio, variant: i.variant)]
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    /// The coding settings a measurement through the link depends on, and each codec's frame format (codec id
    /// and parameters). Not `recovery_training_bits`: train-recovery decides it, and its output hash covers it.
    static func measuredCoding(_ spec: PipelineSpec) throws -> (coding: CodingSettings, formats: [String]) {
        guard let coding = spec.coding else { throw StageError.invalidSettings("the pipeline has no coding: section") }
        var c = coding
        c.recoveryTrainingBits = nil
        return (c, c.codecs.map { let f = codec($0, c); return "\(f.id) \(f)" })
    }

    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        let (c, formats) = try measuredCoding(spec)
        let p = try i.requirePoint()
        return try canonicalJSON(of: Inputs(split: p.split, ratio: p.ratio, threads: spec.threads, coding: c, codecFormats: formats,
                                            frameVersion: FeatureBitstream.compactVersion, ranking: i.controlRanking?.rawValue))
    }

    public static func codec(_ c: CodingSettings.Codec, _ settings: CodingSettings) -> FeatureCodec { CodecTable.codec(c, settings) }

    /// The id frames carry for a trained (split, V) model: pipeline, split, V and the weights' hash (which
    /// also tells a control chain's model, `variant`, from AECNN's).
    public static func modelID(_ ctx: RunContext, split: String, ratio: Int, variant: StageVariant? = nil) -> String {
        let r = StageRunner.record(StageInstance(TrainRecoveryStage.name, split: split, ratio: ratio, variant: variant), ctx)
        let hash = r.map { String($0.outputsSha256.prefix(12)) } ?? "unknown"
        return "\(ctx.spec.name)/\(split)/V\(ratio)@\(hash)"
    }

    /// The trained AECNN model of (split, V) in eval mode (of a control chain's, with its `variant`).
    public static func loadModel(_ ctx: RunContext, split: String, ratio: Int, variant: StageVariant? = nil) throws -> CoInferenceModel {
        let source = StageInstance(TrainRecoveryStage.name, split: split, ratio: ratio, variant: variant)
        let m = try PrunedModels.withRecovery(ctx, source)
        try StageTraining.loadModel(m, directory: StageRunner.directory(source, ctx), producedBy: source)
        m.setTraining(false)
        return m
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let point = try i.requirePoint()
        let split = point.split, ratio = point.ratio
        guard let coding = ctx.spec.coding else { throw StageError.invalidSettings("the pipeline has no coding: section") }
        let m = try loadModel(ctx, split: split, ratio: ratio, variant: i.variant)
        let (kept, channels) = try PrunedModels.kept(ctx, i)
        let norm = try ctx.normalization()
        // The pipeline's whole test set: the images every other accuracy of the report is measured on.
        let test = try ctx.testImages()

        // A recovery module trained with the quantiser in the loop learned its ranges: use exactly those.
        let recovery = StageInstance(TrainRecoveryStage.name, point, variant: i.variant)
        let calibration: QuantizerCalibration
        if try TrainRecoveryStage.requireOutput(recovery, ctx, for: i.description).fields.quantizedTrainingBits != nil {
            let trained = try LinkCalibration.ranges(fromJSON: StageRunner.directory(recovery, ctx).appendingPathComponent("quantizer.json"))
            calibration = try QuantizerCalibration.fromRanges(trained.channelRanges)
        } else {
            calibration = try LinkCalibration.calibrate(m.device, images: try ctx.trainImages(), count: coding.calibrationImages,
                                                        normalization: norm, carried: kept.count)
        }
        try LinkCalibration.write(calibration, kept: kept, images: min(coding.calibrationImages, try ctx.trainImages().count), to: directory.appendingPathComponent("quantizer.json"))
        let probe = m.splitShape(inputShape: [test.channels, test.height, test.width])
        let deployed = DeployedModel(model: m, split: split, ratio: ratio, id: modelID(ctx, split: split, ratio: ratio, variant: i.variant),
                                     shape: FeatureShape(channels: channels, height: probe[2], width: probe[3]), kept: kept,
                                     calibration: calibration, coding: coding)
        let shape = deployed.shape, id = deployed.id
        var configs: [CodedMeasurement.Configuration] = []
        for b in coding.bits { for c in coding.codecs { configs.append(.init(codec: c, bits: b, link: try deployed.link(bits: b, codec: c))) } }
        let (rows, floatAccuracy) = try CodedMeasurement.measure(
            i.description, ctx: ctx, point: point, ranges: coding.ranges, configs: configs,
            carriedShape: [kept.count, shape.height, shape.width], splitShape: [channels, shape.height, shape.width],
            send: { m.device($0).value }, receive: { m.edge(Variable($0)).value })
        let images = test.count
        let (md, csv) = tables(title: "\(ctx.spec.name) \(split) V=\(ratio)" + (i.variant.map { " (\($0) ranking)" } ?? ""), rows: rows, images: images, floatAccuracy: floatAccuracy)
        try AtomicFile.write(Data(md.utf8), to: directory.appendingPathComponent("coding.md"))
        try AtomicFile.write(Data(csv.utf8), to: directory.appendingPathComponent("coding.csv"))
        let output = Output(rows: rows, modelId: id, testImages: images, floatAccuracy: floatAccuracy)
        try AtomicFile.write(try ResultJSON.encoder().encode(output), to: directory.appendingPathComponent("coding.json"))
        ctx.log?(md)
        return StageProduct(output, files: ["quantizer.json"])   // the tables are reports: their times differ from run to run
    }

    static let csvColumns = ["split", "ratio", "codec", "bits", "ranges", "accuracy", "float_accuracy", "frame_bytes_mean",
                             "frame_bytes_p50", "frame_bytes_p99", "payload_bytes_mean", "bits_per_element", "order0_entropy_bits",
                             "compression_ratio", "compression_ratio_frame", "encode_ms_per_image", "decode_ms_per_image"]

    /// Markdown and CSV of coding rows (also used by `evaluate` for the whole pipeline).
    static func tables(title: String, rows: [CodedRow], images: Int, floatAccuracy: Double?) -> (md: String, csv: String) {
        func f(_ x: Double, _ fmt: String) -> String { x.isFinite ? String(format: fmt, x) : "–" }
        var md = "# \(title): features through the real codec (\(images) test images)\n\n"
        if let a = floatAccuracy { md += "Accuracy without quantisation or coding: \(String(format: "%.2f", 100 * a)) %.\n\n" }
        md += "| split | V | codec | bits | accuracy % | bytes/image (p50, p99) | payload bits/el | order-0 bits/el | ratio (payload) | ratio (frame) | encode / decode ms |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|---|\n"
        var csv = csvColumns.joined(separator: ",") + "\r\n"
        for r in rows {
            md += "| \(r.split) | \(r.ratio) | \(r.codec.rawValue) | \(r.bits) | \(f(100 * r.accuracy, "%.2f")) "
            md += "| \(f(r.frameBytesMean, "%.1f")) (\(r.frameBytesP50), \(r.frameBytesP99)) | \(f(r.bitsPerElement, "%.3f")) "
            md += "| \(f(r.order0EntropyBits, "%.3f")) | \(f(r.compressionRatio, "%.0f"))× | \(f(r.compressionRatioFrame, "%.0f"))× "
            md += "| \(f(r.encodeMsPerImage, "%.3f")) / \(f(r.decodeMsPerImage, "%.3f")) |\n"
            let fields: [String] = [r.split, "\(r.ratio)", r.codec.rawValue, "\(r.bits)", r.ranges.rawValue, "\(r.accuracy)", "\(r.floatAccuracy)",
                                    "\(r.frameBytesMean)", "\(r.frameBytesP50)", "\(r.frameBytesP99)", "\(r.payloadBytesMean)", "\(r.bitsPerElement)",
                                    "\(r.order0EntropyBits)", "\(r.compressionRatio)", "\(r.compressionRatioFrame)", "\(r.encodeMsPerImage)",
                                    "\(r.decodeMsPerImage)"]
            csv += fields.map(csvField).joined(separator: ",") + "\r\n"
        }
        return (md, csv)
    }
}

extension DeployedModel {
    /// Loads a model whose encode-features instance is done.
    public static func load(_ ctx: RunContext, split: String, ratio: Int) throws -> DeployedModel {
        guard let coding = ctx.spec.coding else { throw StageError.invalidSettings("\(ctx.spec.name) has no coding: section") }
        let stage = StageInstance(EncodeFeaturesStage.name, split: split, ratio: ratio)
        let file = StageRunner.directory(stage, ctx).appendingPathComponent("quantizer.json")
        guard try StageRunner.state(stage, ctx) == .done else {
            throw StageError.missingInput(stage: "\(split) V=\(ratio)", path: file.path,
                                          runFirst: "encode-features --pipeline <file> --split \(split) --ratio \(ratio)")
        }
        let model = try EncodeFeaturesStage.loadModel(ctx, split: split, ratio: ratio)
        let (kept, ranges, _) = try LinkCalibration.ranges(fromJSON: file)
        let (_, channels) = try PrunedModels.kept(ctx, StageInstance(PruneStage.name, split: split, ratio: ratio))
        let input = try AECNNStageSupport.inputShape(ctx)
        let probe = model.splitShape(inputShape: input)
        return DeployedModel(model: model, split: split, ratio: ratio, id: EncodeFeaturesStage.modelID(ctx, split: split, ratio: ratio),
                             shape: FeatureShape(channels: channels, height: probe[2], width: probe[3]), kept: kept,
                             calibration: try QuantizerCalibration.fromRanges(ranges), coding: coding)
    }

}
