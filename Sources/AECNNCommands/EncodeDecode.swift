// `aecnn encode` / `aecnn decode`: a trained (split, V) AECNN model's two halves on a user's own inputs,
// through bitstream files. encode runs the device half, quantiser and codec and writes one AEFC frame per
// image; decode reads frames, checks they are for this model, and runs dequantiser, recovery and edge half.
// Inputs: PGM images (P5 grey / P6 colour, 8-bit, the pipeline's image size), an IDX image file, or the
// pipeline's own test images. The quantiser's calibrated ranges come from the encode-features stage.

import ArgumentParser
import Foundation
import CoInference
import TensorCore
import Autograd
import Datasets
import Methods
import Pipeline
import PipelineSpec
import FeatureCoding
import Checkpoint
import EdgeServer

struct LinkOptions: ParsableArguments {
    @OptionGroup var pipeline: PipelineOptions
    @Option(help: "Split point.") var split: String
    @Option(help: "Compression ratio V.") var ratio: Int
    @Option(help: "Codec: arith-context, arith-context4 and arith-context3 (the previous context models), arith-order0, zstd or raw (encode only; a frame names its codec).") var codec = "arith-context"
    @Option(help: "Quantiser bit width 1…8 (encode only).") var bits = 8

    /// The link of a trained model: its ranges from encode-features (`quantizer.json`), mode from `coding:`.
    func link(_ ctx: RunContext) throws -> (FeatureLink, CoInferenceModel) {
        guard let c = CodingSettings.Codec(rawValue: codec) else {
            throw ValidationError("unknown codec '\(codec)'; codecs: \(CodingSettings.Codec.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (1...8).contains(bits) else { throw ValidationError("--bits must be 1…8, got \(bits)") }
        return try deployedLink(ctx, CodedConfiguration(point: OperatingPoint(split: split, ratio: ratio), codec: c, bits: bits), pipelineFile: pipeline.pipeline)
    }
}

/// The link and model of a coded configuration of a trained pipeline: the ranges from its encode-features
/// stage (`quantizer.json`), the range mode from `coding:`.
func deployedLink(_ ctx: RunContext, _ config: CodedConfiguration, pipelineFile: String) throws -> (FeatureLink, CoInferenceModel) {
    guard ctx.spec.coding != nil else {
        throw ValidationError("\(pipelineFile) has no coding: section, so its features have no codec settings. Fix: add one (docs/pipeline.md)")
    }
    let point = config.point
    let stage = StageInstance(EncodeFeaturesStage.name, point)
    guard EncodeFeaturesStage.aecnnInstances(ctx.spec).contains(stage) else {
        throw ValidationError("\(pipelineFile) has no split \(point.split) with ratio \(point.ratio) (splits \(ctx.spec.splits), ratios \(ctx.spec.ratios))")
    }
    let quantizerFile = StageRunner.directory(stage, ctx).appendingPathComponent("quantizer.json")
    guard try StageRunner.state(stage, ctx) == .done else {
        throw ValidationError("\(stage) is not done, so the quantiser's calibrated ranges (\(quantizerFile.path)) are not there. Fix: aecnn stage encode-features --pipeline \(pipelineFile) --split \(point.split) --ratio \(point.ratio)")
    }
    let deployed = try DeployedModel.load(ctx, split: point.split, ratio: point.ratio)
    return (try deployed.link(bits: config.bits, codec: config.codec), deployed.model)
}

/// `--config stem/16/arith-context/4`: split, V, codec and bits of a coded configuration.
extension CodedConfiguration: ExpressibleByArgument {
    public init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, !parts[0].isEmpty, let ratio = Int(parts[1].hasPrefix("V") ? String(parts[1].dropFirst()) : parts[1]),
              let codec = CodingSettings.Codec(rawValue: parts[2]),
              let bits = Int(parts[3].hasSuffix("b") ? String(parts[3].dropLast()) : parts[3]), (1...8).contains(bits) else { return nil }
        self.init(point: OperatingPoint(split: parts[0], ratio: ratio), codec: codec, bits: bits)
    }
}

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Encode images into feature bitstream files (device half, quantiser, codec).")

    @OptionGroup var link: LinkOptions
    @Option(help: "Folder for the .aefc files (created).") var out: String
    @Option(name: .customLong("images"), help: "Encode the first N images of the pipeline's test set.") var testImages: Int?
    @Option(help: "An IDX image file (gzip'd or plain), e.g. t10k-images-idx3-ubyte.gz.") var idx: String?
    @Option(name: .customLong("idx-images"), help: "With --idx: how many images from the first.") var count = 10
    @Argument(help: "PGM files (P5 grey or P6 colour, 8-bit, the pipeline's image size).") var images: [String] = []

    func validate() throws {
        if let testImages { try OptionRange.check("images", testImages, OptionRange.images) }
        try OptionRange.check("idx-images", count, OptionRange.images)
    }

    func run() throws {
        let ctx = try link.pipeline.context()
        Parallel.threads = ctx.spec.threads
        let (l, model) = try link.link(ctx)
        let test = try ctx.testImages()
        var inputs: [(name: String, pixels: [UInt8])] = []
        if let n = testImages {
            for k in 0..<min(n, test.count) {
                inputs.append((String(format: "test-%05d", k), Array(test.pixels[(k * test.imageSize)..<((k + 1) * test.imageSize)])))
            }
        }
        if let idx {
            let a = try IDXArray.read(path: idx, rank: 3)
            guard a.dims.count == 3, a.dims[1] == test.height, a.dims[2] == test.width, test.channels == 1 else {
                throw ValidationError("\(idx) holds \(a.dims.dropFirst().map(String.init).joined(separator: "×")) images; this model takes \(test.channels)×\(test.height)×\(test.width)")
            }
            let stem = URL(fileURLWithPath: idx).lastPathComponent
            for k in 0..<min(count, a.dims[0]) {
                inputs.append(("\(stem)-\(String(format: "%05d", k))", Array(a.bytes[(k * test.imageSize)..<((k + 1) * test.imageSize)])))
            }
        }
        for path in images {
            let img = try PGM.read(path: path)
            guard img.channels == test.channels, img.height == test.height, img.width == test.width else {
                throw ValidationError("\(path) is \(img.channels)×\(img.height)×\(img.width); this model takes \(test.channels)×\(test.height)×\(test.width). Fix: resize it first")
            }
            inputs.append((URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, img.pixels))
        }
        guard !inputs.isEmpty else { throw ValidationError("nothing to encode: pass PGM files, --idx FILE or --images N") }
        let dir = URL(fileURLWithPath: out, isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let batch = try LabeledImages(channels: test.channels, height: test.height, width: test.width,
                                      pixels: inputs.flatMap(\.pixels), labels: [Int32](repeating: 0, count: inputs.count),
                                      classCount: test.classCount, source: "encode inputs")
        var unused = RNG(seed: 0)
        let (x, _) = try Batching.makeBatch(batch, indices: 0..<inputs.count, normalization: try ctx.normalization(), augmentation: nil, rng: &unused)
        let f = GradMode.withoutGrad { model.device(Variable(x)).value }.array
        let per = l.carriedCount
        var total = 0
        for (k, input) in inputs.enumerated() {
            let (bytes, _) = try l.encode(Array(f[(k * per)..<((k + 1) * per)]))
            let file = dir.appendingPathComponent(input.name + ".aefc")
            try AtomicFile.write(bytes, to: file)
            total += bytes.count
            print("\(file.path)\t\(bytes.count) bytes")
        }
        let floatBytes = 4 * (l.shape.elementCount ?? 0)
        print(String(format: "%d frames, %.1f bytes each on average (%.0f× smaller than the float32 split tensor), model %@",
                     inputs.count, Double(total) / Double(inputs.count), Double(floatBytes * inputs.count) / Double(max(total, 1)), l.modelID))
    }
}

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode feature bitstream files and classify them (dequantiser, recovery, edge half).",
        discussion: "Each frame names its model (a compact frame by its model key, a self-describing one by its model id): every trained model of the pipeline whose encode-features stage is done is a candidate; --split and --ratio narrow them.")

    @OptionGroup var options: PipelineOptions
    @Option(help: "Only models of this split point.") var split: String?
    @Option(help: "Only models of this compression ratio V.") var ratio: Int?
    @Flag(help: "One JSON object per file instead of a line of text.") var json = false
    @Argument(help: ".aefc files written by `aecnn encode` (or any AEFC frame of this pipeline's models).") var files: [String]

    struct Line: Encodable { var file: String; var model: String; var `class`: Int; var label: String; var probability: Double; var bytes: Int; var codec: String; var bits: Int }

    func run() throws {
        let ctx = try options.context()
        Parallel.threads = ctx.spec.threads
        guard ctx.spec.coding != nil else {
            throw ValidationError("\(options.pipeline) has no coding: section, so it has no coded models. Fix: add one (docs/pipeline.md)")
        }
        let points = try EncodeFeaturesStage.aecnnInstances(ctx.spec).map { try $0.requirePoint() }
            .filter { (split == nil || $0.split == split) && (ratio == nil || $0.ratio == ratio) }
        guard !points.isEmpty else {
            throw ValidationError("\(options.pipeline) has no model at split \(split ?? "any") and ratio \(ratio.map(String.init) ?? "any") (splits \(ctx.spec.splits), ratios \(ctx.spec.ratios))")
        }
        var models: [String: DeployedModel] = [:]
        for p in points where try StageRunner.state(StageInstance(EncodeFeaturesStage.name, p), ctx) == .done {
            let m = try DeployedModel.load(ctx, split: p.split, ratio: p.ratio)
            models[m.id] = m
        }
        guard !models.isEmpty else {
            let p = points[0]
            throw ValidationError("no trained model to decode with: encode-features is not done. Fix: aecnn stage encode-features --pipeline \(options.pipeline) --split \(p.split) --ratio \(p.ratio) --with-upstream")
        }
        let contexts = models.values.map(\.frameContext)
        let names = (try? ctx.datasetKindNames()) ?? []
        var failures = 0
        for path in files {
            do {
                // Kind and size before reading: a FIFO or a file past the frame limit is refused, not read whole.
                let data = try SafeRead.contents(of: URL(fileURLWithPath: path), limit: FeatureBitstreamLimits().maxBytes)
                let bytes = [UInt8](data)
                let header = try FeatureBitstream.decodeHeader(bytes, contexts: contexts).header
                guard let m = models[header.modelID] else {
                    throw ValidationError("the frame is for model \(header.modelID), which is not a done model of \(options.pipeline) (\(models.keys.sorted().joined(separator: ", ")))")
                }
                if let bad = m.frameContext.mismatch(header) {
                    throw ValidationError("the frame's \(bad.field) is \(bad.found); model \(m.id) has \(bad.expected)")
                }
                let frame = try FeatureBitstream.decode(bytes, contexts: contexts)
                let values = try frame.dequantized(fixed: try m.fixedRanges())
                let x = Tensor(uninitialized: [1, m.kept.count, m.shape.height, m.shape.width])
                for i in 0..<values.count { x.buffer[i] = values[i] }
                let logits = GradMode.withoutGrad { m.model.edge(Variable(x)).value }.array
                let p = softmax(logits)
                let best = logits.indices.max { logits[$0] < logits[$1] } ?? 0
                let name = best < names.count ? names[best] : "class \(best)"
                if json {
                    let line = Line(file: path, model: m.id, class: best, label: name, probability: p[best], bytes: data.count,
                                    codec: frame.header.codec.description, bits: frame.header.bits)
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print(String(decoding: try encoder.encode(line), as: UTF8.self))
                } else {
                    print(String(format: "%@\t%d (%@)\tp=%.3f\t%d bytes, %@, %d bits, %@", path, best, name, p[best], data.count,
                                 frame.header.codec.description, frame.header.bits, m.id))
                }
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("error: \(path): \(error)\n".utf8))
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// Netpbm P5 (grey) and P6 (RGB) images with maxval ≤ 255.
enum PGM {
    struct Image { var channels: Int; var height: Int; var width: Int; var pixels: [UInt8] }

    static func read(path: String) throws -> Image {
        let data: Data
        do { data = try SafeRead.contents(of: URL(fileURLWithPath: path), limit: 256 << 20) } catch { throw ValidationError("\(error)") }
        let b = [UInt8](data)
        var i = 0
        func token() throws -> String {
            while i < b.count {
                if b[i] == UInt8(ascii: "#") { while i < b.count && b[i] != 10 { i += 1 } }
                else if b[i] == 32 || (9...13).contains(b[i]) { i += 1 } else { break }
            }
            let start = i
            while i < b.count && !(b[i] == 32 || (9...13).contains(b[i])) { i += 1 }
            guard i > start else { throw ValidationError("\(path): truncated PGM header") }
            return String(decoding: b[start..<i], as: UTF8.self)
        }
        let magic = try token()
        guard magic == "P5" || magic == "P6" else { throw ValidationError("\(path) is not a binary PGM/PPM (P5/P6) file (found \(magic.prefix(8)))") }
        guard let w = Int(try token()), let h = Int(try token()), let maxval = Int(try token()), w > 0, h > 0, w <= 1 << 14, h <= 1 << 14,
              (1...255).contains(maxval) else {
            throw ValidationError("\(path): bad PGM header (width, height ≤ 16384 and maxval 1…255 expected)")
        }
        i += 1   // the single whitespace byte after maxval
        let c = magic == "P5" ? 1 : 3
        let n = w * h * c
        guard b.count >= i + n else { throw ValidationError("\(path): truncated: \(n) pixel bytes expected, \(max(0, b.count - i)) present") }
        let interleaved = Array(b[i..<(i + n)]).map { UInt8(min(255, Int($0) * 255 / maxval)) }
        // Interleaved RGB → planar C×H×W.
        var planar = [UInt8](repeating: 0, count: n)
        for p in 0..<(w * h) { for k in 0..<c { planar[k * w * h + p] = interleaved[p * c + k] } }
        return Image(channels: c, height: h, width: w, pixels: planar)
    }
}
