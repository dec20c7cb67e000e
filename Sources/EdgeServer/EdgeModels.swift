// What the edge server serves: the edge halves (recovery module + the rest of the network) of a pipeline's
// trained (split, V) AECNN models, each with the quantiser ranges of its encode-features stage, looked up by
// the model id frames carry. Inference is synchronous and thread-safe: one lock per model (a model's
// layers hold per-call state), so requests for different models run in parallel.

import Foundation
import TensorCore
import Autograd
import Methods
import Pipeline
import PipelineSpec
import FeatureCoding
import Models
import Datasets

public struct InferenceResult: Sendable {
    public var modelID: String
    public var top: [(label: Int, name: String, probability: Double)]
    public var decodeMs: Double
    public var computeMs: Double
    public var bytes: Int
}

public enum EdgeError: Error, CustomStringConvertible {
    case badFrame(String)
    case unknownModel(String, known: [String])
    case mismatch(String)
    public var description: String {
        switch self {
        case .badFrame(let m): return m
        case .unknownModel(let id, let known): return "no model \(id) is served here; served: \(known.joined(separator: ", "))"
        case .mismatch(let m): return m
        }
    }
}

public final class EdgeModel: @unchecked Sendable {
    public let id: String, split: String, ratio: Int
    public let shape: FeatureShape
    public let kept: [Int]
    public let fixed: QuantizationRanges?
    /// encode-features' measurements of every codec × width of this model.
    public let accuracyByConfig: [CodedRow]
    let model: CoInferenceModel
    let lock = NSLock()

    init(id: String, split: String, ratio: Int, shape: FeatureShape, kept: [Int], fixed: QuantizationRanges?, rows: [CodedRow], model: CoInferenceModel) {
        self.id = id; self.split = split; self.ratio = ratio; self.shape = shape; self.kept = kept; self.fixed = fixed
        self.accuracyByConfig = rows; self.model = model
    }

    /// Edge half on dequantised carried channels `K × H × W`: class probabilities.
    func classify(_ values: [Float]) -> [Double] {
        let x = Tensor(uninitialized: [1, kept.count, shape.height, shape.width])
        for i in 0..<values.count { x.buffer[i] = values[i] }
        lock.lock()
        let logits = model.edge(Variable(x)).value.array
        lock.unlock()
        return softmax(logits)
    }
}

/// Class probabilities from logits (max-subtracted, in Double).
public func softmax(_ logits: [Float]) -> [Double] {
    let m = logits.max() ?? 0
    let e = logits.map { exp(Double($0 - m)) }
    let z = e.reduce(0, +)
    return e.map { $0 / z }
}

/// The `k` most probable classes, most probable first; a class without a name is named by its number.
func topClasses(_ p: [Double], names: [String], k: Int = 5) -> [(label: Int, name: String, probability: Double)] {
    p.enumerated().sorted { $0.element > $1.element }.prefix(k).map {
        (label: $0.offset, name: $0.offset < names.count ? names[$0.offset] : "\($0.offset)", probability: $0.element)
    }
}

public final class EdgeModels: @unchecked Sendable {
    public let models: [String: EdgeModel]
    public let classNames: [String]
    public let pipeline: String
    /// The whole base network, for full offload (the device sends the input image).
    let base: ResNet
    let baseLock = NSLock()
    let inputShape: [Int]
    let normalization: Normalization

    /// Loads every (split, V) whose encode-features stage is done (or those in `only`, as "split/V").
    public init(ctx: RunContext, only: [String] = []) throws {
        GradMode.disableForInferenceProcess()
        Parallel.threads = ctx.spec.threads
        guard ctx.spec.coding != nil else {
            throw StageError.invalidSettings("\(ctx.spec.name) has no coding: section: there is nothing to serve")
        }
        var models: [String: EdgeModel] = [:]
        // An --only entry that is no configuration of this pipeline is a typo, not a stage still to run.
        let points = try EncodeFeaturesStage.instances(ctx.spec).map { try $0.requirePoint() }
        let configurations = points.map { "\($0.split)/\($0.ratio)" }
        for name in only where !configurations.contains(name) {
            throw StageError.invalidSettings("--only \(name) is not a configuration of \(ctx.spec.name). Fix: use split/V from \(configurations.joined(separator: ", "))")
        }
        for point in points {
            let inst = StageInstance(EncodeFeaturesStage.name, point)
            let name = "\(point.split)/\(point.ratio)"
            if !only.isEmpty && !only.contains(name) { continue }
            guard try StageRunner.state(inst, ctx) == .done else {
                if only.contains(name) {
                    throw StageError.missingInput(stage: "serve", path: StageRunner.directory(inst, ctx).path,
                                                  runFirst: inst.commandArguments + " --pipeline <file>")
                }
                continue
            }
            let deployed = try DeployedModel.load(ctx, split: point.split, ratio: point.ratio)
            let rows = try EncodeFeaturesStage.requireOutput(inst, ctx, for: "serve").rows
            models[deployed.id] = EdgeModel(id: deployed.id, split: point.split, ratio: point.ratio, shape: deployed.shape, kept: deployed.kept,
                                            fixed: try deployed.fixedRanges(), rows: rows, model: deployed.model)
        }
        guard !models.isEmpty else {
            throw StageError.missingInput(stage: "serve", path: ctx.root.path, runFirst: "encode-features --pipeline <file> (or aecnn run)")
        }
        self.models = models
        self.classNames = (try? ctx.datasetKindNames()) ?? []
        self.pipeline = ctx.spec.name
        base = try TrainBaseStage.loadModel(ctx)
        base.setTraining(false)
        let test = try ctx.testImages()
        inputShape = [test.channels, test.height, test.width]
        normalization = try ctx.normalization()
    }

    /// Full offload: a PNG or JPEG image of the model's input size through the whole base network.
    public func inferImage(_ bytes: [UInt8]) throws -> InferenceResult {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let image: ImageFolder.Image
        do { image = try ImageFolder.decode(bytes: bytes, name: "request body", channels: inputShape[0]) } catch { throw EdgeError.badFrame("\(error)") }
        guard [image.channels, image.height, image.width] == inputShape else {
            throw EdgeError.mismatch("the image is \(image.channels)×\(image.height)×\(image.width); the model takes \(inputShape.map(String.init).joined(separator: "×"))")
        }
        let one = try LabeledImages(channels: image.channels, height: image.height, width: image.width, pixels: image.pixels, labels: [0],
                                    classCount: max(1, classNames.count), source: "request")
        var unused = RNG(seed: 0)
        let x = try Batching.makeBatch(one, indices: 0..<1, normalization: normalization, augmentation: nil, rng: &unused).x
        let t1 = DispatchTime.now().uptimeNanoseconds
        baseLock.lock()
        let logits = base(Variable(x)).value.array
        baseLock.unlock()
        let t2 = DispatchTime.now().uptimeNanoseconds
        return InferenceResult(modelID: "base", top: topClasses(softmax(logits), names: classNames), decodeMs: Double(t1 - t0) / 1e6, computeMs: Double(t2 - t1) / 1e6, bytes: bytes.count)
    }

    /// Decodes one frame, routes it by its model id, runs the edge half.
    public func infer(_ bytes: [UInt8], limits: FeatureBitstreamLimits = FeatureBitstreamLimits()) throws -> InferenceResult {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let header: FeatureFrameHeader
        do { header = try FeatureBitstream.decodeHeader(bytes, limits: limits).header } catch { throw EdgeError.badFrame("\(error)") }
        guard let m = models[header.modelID] else { throw EdgeError.unknownModel(header.modelID, known: models.keys.sorted()) }
        guard header.shape == m.shape, header.channels == m.kept else {
            throw EdgeError.mismatch("the frame carries channels \(header.channels) of \(header.shape); model \(m.id) expects \(m.kept) of \(m.shape)")
        }
        let values: [Float]
        do { values = try FeatureBitstream.decode(bytes, limits: limits).dequantized(fixed: m.fixed) } catch { throw EdgeError.badFrame("\(error)") }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let p = m.classify(values)
        let t2 = DispatchTime.now().uptimeNanoseconds
        return InferenceResult(modelID: m.id, top: topClasses(p, names: classNames), decodeMs: Double(t1 - t0) / 1e6, computeMs: Double(t2 - t1) / 1e6, bytes: bytes.count)
    }
}
