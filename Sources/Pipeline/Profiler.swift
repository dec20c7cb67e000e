// `aecnn profile`: the planner's inputs, measured on this machine at batch 1 over the first N test images —
// for every (split, V) whose encode-features stage is done and every codec × width of `coding:`: device-half
// time (× a device speed factor, to model a slower device), encode and decode time, bytes per image (mean and
// p99), edge-half time (recovery included; with the pipeline's threads, as the server runs it), and accuracy (encode-features' whole-test-set figure). Plus local
// computing (the whole base network on the device) and full offload (the input image as PNG, the whole base
// network on the edge). Times are medians.

import Foundation
import TensorCore
import Autograd
import Datasets
import Methods
import Checkpoint
import FeatureCoding
import PipelineSpec

public enum Profiler {
    static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    static func p99(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        return s[min(s.count - 1, Int((0.99 * Double(s.count - 1)).rounded()))]
    }
    static func ms(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    }

    /// Measures every candidate. `deviceSpeedFactor` multiplies device-side times (2 = a device half as fast).
    public static func profile(_ ctx: RunContext, images count: Int, deviceSpeedFactor: Double) throws -> [PlanCandidate] {
        guard let coding = ctx.spec.coding else {
            throw StageError.invalidSettings("\(ctx.spec.name) has no coding: section, so there are no coded configurations to profile")
        }
        // The device half runs on one core, as a device would; the edge half with the pipeline's threads, as
        // `aecnn serve` runs it.
        let edgeThreads = ctx.spec.threads
        Parallel.threads = 1
        let test = try ctx.testImages().subset(first: count)
        let norm = try ctx.normalization()
        var unused = RNG(seed: 0)
        var inputs: [Tensor] = []
        for k in 0..<test.count { inputs.append(try Batching.makeBatch(test, indices: k..<(k + 1), normalization: norm, augmentation: nil, rng: &unused).x) }
        var out: [PlanCandidate] = []

        // Local computing and full offload with the base model.
        let base = try TrainBaseStage.loadModel(ctx)
        base.setTraining(false)
        let baseAccuracy = try TrainBaseStage.requireOutput(TrainBaseStage.instance, ctx, for: "profile").training.testAccuracy
        warmUp { _ = GradMode.withoutGrad { base(Variable(inputs[0])) } }
        // Each input is made just before it runs, as the device client does (`aecnn offload`), so that both
        // measure the same loop.
        let full = try (0..<test.count).map { k -> Double in
            let x = try Batching.makeBatch(test, indices: k..<(k + 1), normalization: norm, augmentation: nil, rng: &unused).x
            return ms { _ = GradMode.withoutGrad { base(Variable(x)) } }
        }
        Parallel.threads = edgeThreads
        let fullEdge = inputs.map { x in ms { _ = GradMode.withoutGrad { base(Variable(x)) } } }
        Parallel.threads = 1
        var pngMs: [Double] = [], pngBytes: [Double] = []
        for k in 0..<test.count {
            let px = Array(test.pixels[(k * test.imageSize)..<((k + 1) * test.imageSize)])
            var bytes = 0
            pngMs.append(ms { bytes = PNGEncoder.encode(pixels: px, channels: test.channels, height: test.height, width: test.width).count })
            pngBytes.append(Double(bytes))
        }
        out.append(PlanCandidate(kind: .local, accuracy: baseAccuracy, deviceMs: deviceSpeedFactor * median(full),
                                 encodeMs: 0, bytes: 0, bytesP99: 0, decodeMs: 0, edgeMs: 0))
        out.append(PlanCandidate(kind: .fullOffload, accuracy: baseAccuracy, deviceMs: 0,
                                 encodeMs: deviceSpeedFactor * median(pngMs), bytes: pngBytes.reduce(0, +) / Double(max(1, pngBytes.count)),
                                 bytesP99: p99(pngBytes), decodeMs: 0, edgeMs: median(fullEdge)))

        for inst in EncodeFeaturesStage.instances(ctx.spec) where try StageRunner.state(inst, ctx) == .done {
            let point = try inst.requirePoint()
            let deployed = try DeployedModel.load(ctx, split: point.split, ratio: point.ratio)
            let model = deployed.model
            let coded = try EncodeFeaturesStage.requireOutput(inst, ctx, for: "profile")
            warmUp { _ = GradMode.withoutGrad { model.device(Variable(inputs[0])) } }
            var features: [[Float]] = [], deviceMs: [Double] = []
            var featureShape: [Int] = []
            for x in inputs {
                var f = Tensor(zeros: [1])
                deviceMs.append(ms { f = GradMode.withoutGrad { model.device(Variable(x)).value } })
                features.append(f.array)
                featureShape = f.shape
            }
            Parallel.threads = edgeThreads
            defer { Parallel.threads = 1 }
            let edgeMs = features.map { f -> Double in
                let t = Tensor(uninitialized: featureShape)
                for i in 0..<f.count { t.buffer[i] = f[i] }
                return ms { _ = GradMode.withoutGrad { model.edge(Variable(t)) } }
            }
            for bits in coding.bits { for c in coding.codecs {
                let link = try deployed.link(bits: bits, codec: c)
                var enc: [Double] = [], dec: [Double] = [], sizes: [Double] = []
                for f in features {
                    var bytes: [UInt8] = []
                    enc.append(try ms { bytes = try link.encode(f).bytes })
                    dec.append(try ms { _ = try link.decode(bytes) })
                    sizes.append(Double(bytes.count))
                }
                guard let accuracy = coded.row(codec: c, bits: bits)?.accuracy else { continue }
                out.append(PlanCandidate(configuration: CodedConfiguration(point: point, codec: c, bits: bits), accuracy: accuracy,
                                         deviceMs: deviceSpeedFactor * median(deviceMs), encodeMs: deviceSpeedFactor * median(enc),
                                         bytes: sizes.reduce(0, +) / Double(max(1, sizes.count)), bytesP99: p99(sizes),
                                         decodeMs: median(dec), edgeMs: median(edgeMs)))
            } }
        }
        return out
    }

    public static func url(_ ctx: RunContext) -> URL { ctx.root.appendingPathComponent("profile", isDirectory: true).appendingPathComponent("profile.json") }

    public static func save(_ candidates: [PlanCandidate], images: Int, deviceSpeedFactor: Double, ctx: RunContext) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        struct File: Codable { var pipeline: String; var images: Int; var deviceSpeedFactor: Double; var blasCore: String; var candidates: [PlanCandidate] }
        let data = try enc.encode(File(pipeline: ctx.spec.name, images: images, deviceSpeedFactor: deviceSpeedFactor, blasCore: BLAS.coreName, candidates: candidates))
        try FileManager.default.createDirectory(at: url(ctx).deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(data, to: url(ctx))
    }

    public static func load(_ ctx: RunContext) throws -> [PlanCandidate] {
        struct File: Codable { var candidates: [PlanCandidate] }
        guard let data = try? Data(contentsOf: url(ctx)) else {
            throw StageError.invalidSettings("\(url(ctx).path) does not exist. Fix: aecnn profile --pipeline <file>")
        }
        do { return try JSONDecoder().decode(File.self, from: data).candidates }
        catch { throw StageError.invalidSettings("\(url(ctx).path) is not a profile (\(error)). Fix: rerun aecnn profile --pipeline <file>") }
    }
}

/// Runs `body` untimed for at least `seconds` (and at least 3 times) before a latency measurement. Seen on
/// a 2-core VM: one process's batch-1 latency of ResNet-20 went from ~3.1 ms over its first ~0.3 s to ~2.1
/// ms after, so one warm-up pass does not reach the steady state a running device or server is in.
/// (Separately, whole processes there land at ~1.8 or ~2.9 ms, whichever vCPU or address layout they get.)
public func warmUp(seconds: Double = 1.0, _ body: () throws -> Void) rethrows {
    let start = DispatchTime.now().uptimeNanoseconds
    var runs = 0
    while runs < 3 || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds {
        try body()
        runs += 1
    }
}
