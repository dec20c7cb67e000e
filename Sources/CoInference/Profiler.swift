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
import Models

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

    /// What a profile measures: the trained models and the images to time them on.
    public struct Inputs {
        /// The whole base network (local computing and full offload) and its test accuracy.
        public var base: ResNet
        public var baseAccuracy: Double
        /// Every deployed (split, V) with encode-features' measurements of its configurations.
        public var deployed: [(model: DeployedModel, rows: [CodedRow])]
        public var coding: CodingSettings
        /// The images timed (the first N of the test set) and their normalisation.
        public var test: LabeledImages
        public var normalization: Normalization
        /// The edge half's threads (as `aecnn serve` runs it).
        public var edgeThreads: Int
        public init(base: ResNet, baseAccuracy: Double, deployed: [(model: DeployedModel, rows: [CodedRow])], coding: CodingSettings,
                    test: LabeledImages, normalization: Normalization, edgeThreads: Int) {
            self.base = base; self.baseAccuracy = baseAccuracy; self.deployed = deployed; self.coding = coding
            self.test = test; self.normalization = normalization; self.edgeThreads = edgeThreads
        }
    }

    /// Measures every candidate. `deviceSpeedFactor` multiplies device-side times (2 = a device half as fast).
    public static func profile(_ given: Inputs, deviceSpeedFactor: Double) throws -> [PlanCandidate] {
        let coding = given.coding
        // The device half runs on one core, as a device would; the edge half with the pipeline's threads, as
        // `aecnn serve` runs it.
        let edgeThreads = given.edgeThreads
        Parallel.threads = 1
        let test = given.test
        let norm = given.normalization
        var unused = RNG(seed: 0)
        var inputs: [Tensor] = []
        for k in 0..<test.count { inputs.append(try Batching.makeBatch(test, indices: k..<(k + 1), normalization: norm, augmentation: nil, rng: &unused).x) }
        var out: [PlanCandidate] = []

        // Local computing and full offload with the base model.
        let base = given.base
        base.setTraining(false)
        let baseAccuracy = given.baseAccuracy
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

        for (deployed, rows) in given.deployed {
            let point = OperatingPoint(split: deployed.split, ratio: deployed.ratio)
            let model = deployed.model
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
                guard let accuracy = rows.first(where: { $0.codec == c && $0.bits == bits })?.accuracy else { continue }
                out.append(PlanCandidate(configuration: CodedConfiguration(point: point, codec: c, bits: bits), accuracy: accuracy,
                                         deviceMs: deviceSpeedFactor * median(deviceMs), encodeMs: deviceSpeedFactor * median(enc),
                                         bytes: sizes.reduce(0, +) / Double(max(1, sizes.count)), bytesP99: p99(sizes),
                                         decodeMs: median(dec), edgeMs: median(edgeMs)))
            } }
        }
        return out
    }

    /// profile.json.
    public struct File: Codable { public var pipeline: String; public var images: Int; public var deviceSpeedFactor: Double; public var blasCore: String; public var candidates: [PlanCandidate] }

    public static func save(_ candidates: [PlanCandidate], pipeline: String, images: Int, deviceSpeedFactor: Double, to url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(File(pipeline: pipeline, images: images, deviceSpeedFactor: deviceSpeedFactor, blasCore: BLAS.coreName, candidates: candidates))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(data, to: url)
    }

    public static func load(_ url: URL) throws -> [PlanCandidate] {
        struct Candidates: Codable { var candidates: [PlanCandidate] }
        guard let data = try? SafeRead.contents(of: url, limit: SafeRead.recordLimit) else {
            throw CoInferenceError("\(url.path) does not exist. Fix: aecnn profile --pipeline <file>")
        }
        do { return try JSONDecoder().decode(Candidates.self, from: data).candidates }
        catch { throw CoInferenceError("\(url.path) is not a profile (\(error)). Fix: rerun aecnn profile --pipeline <file>") }
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
