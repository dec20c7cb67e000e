// What the edge server serves: the edge halves (recovery module + the rest of the network) of a pipeline's
// trained (split, V) AECNN models, each with the quantiser ranges of its encode-features stage, looked up by
// the model id frames carry. Inference is synchronous and thread-safe: one lock per model (a model's
// layers hold per-call state), so requests for different models run in parallel.

import Foundation
import TensorCore
import Autograd
import Methods
import CoInference
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
    /// What frames for this model leave out (docs/bitstream.md §8).
    var frameContext: FrameContext { FrameContext(modelID: id, splitPoint: split, shape: shape, channels: kept) }

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
    /// What compact frames leave out, per served model.
    let contexts: [FrameContext]

    /// Serves `deployed` (each with encode-features' measurements of its configurations) and `base` for
    /// full offload. Loading them from a pipeline's checkpoints is the caller's (`aecnn serve`).
    public init(pipeline: String, deployed: [(model: DeployedModel, rows: [CodedRow])], base: ResNet, classNames: [String],
                inputShape: [Int], normalization: Normalization, threads: Int) throws {
        GradMode.disableForInferenceProcess()
        Parallel.threads = threads
        var models: [String: EdgeModel] = [:]
        for (d, rows) in deployed {
            models[d.id] = EdgeModel(id: d.id, split: d.split, ratio: d.ratio, shape: d.shape, kept: d.kept,
                                     fixed: try d.fixedRanges(), rows: rows, model: d.model)
        }
        self.models = models
        self.classNames = classNames
        self.pipeline = pipeline
        self.base = base
        base.setTraining(false)
        self.inputShape = inputShape
        self.normalization = normalization
        self.contexts = models.values.map(\.frameContext)
        // Two models whose ids share a 32-bit key could not be told apart in version-2 compact frames (version 3
        // tells models that share its 16-bit key apart by the CRC, which covers the model id).
        let keys = Dictionary(grouping: contexts, by: \.key)
        if let clash = keys.values.first(where: { $0.count > 1 }) {
            throw EdgeError.mismatch("models \(clash.map(\.modelID).joined(separator: " and ")) share the compact-frame key 0x\(String(clash[0].key, radix: 16)): serve them from different servers")
        }
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
        do { header = try FeatureBitstream.decodeHeader(bytes, contexts: contexts, limits: limits).header }
        catch FeatureBitstreamError.unknownModelKey(let key, _, _) { throw EdgeError.unknownModel("with key 0x" + String(key, radix: 16), known: models.keys.sorted()) }
        catch { throw EdgeError.badFrame("\(error)") }
        guard let m = models[header.modelID] else { throw EdgeError.unknownModel(header.modelID, known: models.keys.sorted()) }
        if let bad = m.frameContext.mismatch(header) {
            throw EdgeError.mismatch("the frame's \(bad.field) is \(bad.found); model \(m.id) has \(bad.expected)")
        }
        let values: [Float]
        do { values = try FeatureBitstream.decode(bytes, contexts: contexts, limits: limits).dequantized(fixed: m.fixed) } catch { throw EdgeError.badFrame("\(error)") }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let p = m.classify(values)
        let t2 = DispatchTime.now().uptimeNanoseconds
        return InferenceResult(modelID: m.id, top: topClasses(p, names: classNames), decodeMs: Double(t1 - t0) / 1e6, computeMs: Double(t2 - t1) / 1e6, bytes: bytes.count)
    }
}
