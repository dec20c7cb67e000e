// What each stage publishes, as types. A stage's result.json is its output struct and the runner's record
// (hashes, wall time, machine) in one JSON object with snake_case keys; downstream stages, the report, the
// profiler, the planner and the server decode the struct they need (`TypedStage.output`), never a key they
// hope is there. An absent number is an optional left out of the file, never NaN.
//
// The keys are those result files have always had, so Checkpoints written before these types load
// unchanged (ResultCompatibilityTests pins both the keys and the inputs hashes).

import Foundation
import Datasets
import Checkpoint
import PipelineSpec
import CoInference

// MARK: - Keys: variants (operating points and coded configurations are CoInference types)

/// The further choice of an instance: BottleNet++'s channel, BottleNet's JPEG quality, or the channel ranking
/// of a control chain (rank-channels, prune, fine-tune, train-recovery, encode-features under `l1` or `random`).
/// AECNN's own chain (the `attention` ranking) has no variant.
///
/// Every spelling is a fixed name or `q` and a number, so it is a valid folder name and a shell word as it is
/// (`StageVariant.isPathSafe`, checked by the tests for every value).
public enum StageVariant: Hashable, Sendable, CustomStringConvertible {
    case channel(BottleNetPPSettings.Channel)
    case jpegQuality(Int)
    /// A control ranking (`l1`, `random`); never `.attention`, whose chain has no variant (`rankingChain(_:)`).
    case ranking(AECNNSettings.RankingMethod)
    /// The entropy bottleneck's rate weight λ (`EntropicSettings.isValidLambda`).
    case rateWeight(Double)

    /// The folder name and command-line spelling: `noiseless`, `awgn`, `bec`, `q20`, `l1`, `random`,
    /// `lambda0.001` (λ's shortest decimal spelling).
    public var description: String {
        switch self {
        case .channel(let c): return c.rawValue
        case .jpegQuality(let q): return "q\(q)"
        case .ranking(let m): return m.rawValue
        case .rateWeight(let l): return "lambda\(l)"
        }
    }

    /// Parses the command-line spelling (`--variant bec`, `--variant q20`, `--variant l1`).
    public init?(_ text: String) {
        if let c = BottleNetPPSettings.Channel(rawValue: text) { self = .channel(c); return }
        if text.hasPrefix("q"), let q = Int(text.dropFirst()), (1...100).contains(q) { self = .jpegQuality(q); return }
        if let m = AECNNSettings.RankingMethod(rawValue: text), m != .attention { self = .ranking(m); return }
        // Only the canonical spelling, so that one λ has one folder.
        if text.hasPrefix("lambda"), let l = Double(text.dropFirst(6)), EntropicSettings.isValidLambda(l), "\(l)" == text.dropFirst(6) {
            self = .rateWeight(l); return
        }
        return nil
    }

    /// The variant of the chain ranked by `method`: nil for `attention` (AECNN's chain keeps the instances,
    /// folders and hashes it had before the controls existed), `.ranking(method)` for a control.
    public static func rankingChain(_ method: AECNNSettings.RankingMethod) -> StageVariant? {
        method == .attention ? nil : .ranking(method)
    }

    /// Whether the spelling can be a folder name and a shell word unquoted (what a pipeline file's names must be).
    public var isPathSafe: Bool { PipelineSpec.isValidName(description) }
}

extension StageInstance {
    /// An instance of a ranking chain's stage at a point: `StageInstance(TrainRecoveryStage.name, point, ranking: .l1)`.
    public init(_ stage: String, _ point: OperatingPoint, ranking: AECNNSettings.RankingMethod) {
        self.init(stage, point, variant: .rankingChain(ranking))
    }

    /// The ranking whose chain this instance belongs to: the variant's, else `attention`.
    public var ranking: AECNNSettings.RankingMethod { controlRanking ?? .attention }

    /// The control ranking (`l1`, `random`) of an instance of a control chain; nil for any other instance.
    public var controlRanking: AECNNSettings.RankingMethod? {
        if case .ranking(let m)? = variant { return m }
        return nil
    }
}

// MARK: - Reading and writing result files

enum ResultJSON {
    static func encoder() -> JSONEncoder { SnakeCaseJSON.encoder() }
    static func decoder() -> JSONDecoder { SnakeCaseJSON.decoder() }

    /// The JSON object of `value` (for merging with the runner's record).
    static func object<T: Encodable>(_ value: T) throws -> [String: Any] {
        let data = try encoder().encode(value)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw StageError.invalidSettings("\(T.self) does not encode to a JSON object")
        }
        return object
    }

    /// The key paths of `value`'s non-finite numbers ("training.test_accuracy = nan"), which the encoder refuses.
    static func nonFiniteFields<T: Encodable>(_ value: T) -> [String] {
        let encoder = encoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "\u{1}+inf", negativeInfinity: "\u{1}-inf", nan: "\u{1}nan")
        guard let data = try? encoder.encode(value), let root = try? JSONSerialization.jsonObject(with: data) else { return [] }
        var found: [String] = []
        func walk(_ x: Any, _ path: String) {
            if let s = x as? String, s.hasPrefix("\u{1}") { found.append("\(path) = \(s.dropFirst())") }
            else if let d = x as? [String: Any] { for k in d.keys.sorted() { walk(d[k]!, path.isEmpty ? k : path + "." + k) } }
            else if let a = x as? [Any] { for (n, e) in a.enumerated() { walk(e, "\(path)[\(n)]") } }
        }
        walk(root, "")
        return found
    }
}

/// A stage's own output: what it measured and what later stages read.
public protocol StageOutput: Codable, Sendable {}

/// A stage whose output has a type.
public protocol TypedStage: StageDefinition {
    associatedtype Output: StageOutput
}

extension TypedStage {
    /// The instance's published output, if it has one (up to date or not); nil when absent or unreadable.
    public static func output(_ i: StageInstance, _ ctx: RunContext) -> Output? {
        guard let data = try? SafeRead.contents(of: StageRunner.resultURL(i, ctx), limit: SafeRead.recordLimit) else { return nil }
        return try? ResultJSON.decoder().decode(Output.self, from: data)
    }

    /// The output of a done instance, or an error naming the command that makes it.
    public static func requireOutput(_ i: StageInstance, _ ctx: RunContext, for consumer: String) throws -> Output {
        let url = StageRunner.resultURL(i, ctx)
        guard let data = try? SafeRead.contents(of: url, limit: SafeRead.recordLimit) else {
            throw StageError.missingInput(stage: consumer, path: url.path, runFirst: i.commandArguments + " --pipeline <file>")
        }
        do { return try ResultJSON.decoder().decode(Output.self, from: data) } catch {
            throw StageError.invalidSettings("\(url.path) is not a result of \(i) (\(error)). Fix: rerun it with '\(i.command) --pipeline <file> --force'")
        }
    }
}

/// What the runner adds to every result: where it ran, from which inputs, what it wrote, how long it took.
public struct RunRecord: Codable, Sendable {
    public var stage: String
    public var split: String?
    public var ratio: Int?
    public var variant: String?
    public var pipeline: String
    public var seed: UInt64?
    public var inputsSha256: String
    /// The canonical JSON of the settings that decided the result (what `inputs_sha256` hashes with the inputs).
    public var settings: String?
    /// The `outputs_sha256` of every instance it read, by instance.
    public var inputOutputs: [String: String]?
    public var outputsSha256: String
    public var outputs: [String]
    public var stageWallSeconds: Double
    public var threads: Int?
    public var blasCore: String?
    public var convKernels: String?
    public var peakRssBytes: Int?
    /// The CPU it ran on (`Machine.cpuDescription`).
    public var cpu: String?
    /// The build that ran it: version and commit.
    public var aecnnVersion: String?
    /// Size and modification time of each output file when it was published (the cheap check on every look).
    public var outputStats: [String: FileStat]?

    public struct FileStat: Codable, Sendable {
        public var size: Int
        /// Seconds since 1970.
        public var modified: Double
    }
}

/// An empty output (the stage publishes nothing beyond its training figures or files).
public struct NoFields: Codable, Sendable { public init() {} }

/// A training stage's figures: final test accuracy on the held-out test set and how training went.
public struct TrainingFigures: Codable, Sendable {
    public var testAccuracy: Double
    public var testLoss: Double?
    public var epochs: Int?
    public var resumedFromEpoch: Int?
    public var trainWallSeconds: Double?
    public var trainImagesPerSecond: Double?
    /// Images of the test set the accuracy is measured on.
    public var testImages: Int?
    /// Each test image's predicted class (absent in results written before they were kept).
    public var predictions: TestPredictions?
}

/// A training stage's figures and its own fields, in one flat JSON object.
public struct Trained<Fields: Codable & Sendable>: StageOutput {
    public var training: TrainingFigures
    public var fields: Fields
    public init(_ training: TrainingFigures, _ fields: Fields) { self.training = training; self.fields = fields }
    public init(from decoder: Decoder) throws {
        training = try TrainingFigures(from: decoder)
        fields = try Fields(from: decoder)
    }
    public func encode(to encoder: Encoder) throws {
        try training.encode(to: encoder)
        try fields.encode(to: encoder)
    }
}

// MARK: - The outputs, stage by stage

public struct SplitPointFacts: Codable, Sendable {
    public var split: String
    public var shape: [Int]
    public var deviceFlops: Int
}

/// train-base (trained or imported).
public struct BaseModelFacts: Codable, Sendable {
    public var parameters: Int
    public var flopsPerImage: Int
    public var splitPoints: [SplitPointFacts]
    public var trainImages: Int
    public var testImages: Int
    public var importedFrom: String?
    public var importedSha256: String?
}
public typealias BaseModelOutput = Trained<BaseModelFacts>

/// rank-channels: eq. 8's channel importance and its stability over random batches; for a control ranking
/// (`l1`, `random`) its importance, with no batches (`stability_spearman` empty, minimum and overlaps 1: a
/// ranking that does not look at data ranks every batch alike).
public struct RankingOutput: StageOutput {
    public var importance: [Double]
    public var order: [Int]
    public var channels: Int
    public var stabilitySpearman: [Double]
    public var stabilityMinSpearman: Double
    /// Per ratio V (as a string key): the smallest share of the whole set's top C/V channels that a random
    /// batch's top C/V keeps.
    public var stabilityTopkOverlapMin: [String: Double]
    /// The control ranking (absent for attention, so AECNN's results are as they were).
    public var method: AECNNSettings.RankingMethod? = nil
    /// `l1`: the tensor whose output filters were normed (e.g. `block3.conv2.weight`).
    public var normedWeight: String? = nil
}

/// prune: which channels the device still computes, and what that costs.
public struct PruneOutput: StageOutput {
    public var kept: [Int]
    public var channels: Int
    public var splitShape: [Int]
    public var transmittedShape: [Int]
    public var deviceFlopsUnpruned: Int
    public var deviceFlops: Int
    public var testAccuracyBeforeFineTuning: Double
    public var testImages: Int?
}

public struct DeviceFacts: Codable, Sendable {
    public var deviceFlops: Int
}
/// fine-tune (CA_Pruned).
public typealias FineTuneOutput = Trained<DeviceFacts>

public struct RecoveryFacts: Codable, Sendable {
    public var recoveryParameters: Int
    public var recoveryFlops: Int
    public var deviceFlops: Int
    public var quantizedTrainingBits: Int?
    public var quantizedTrainingRanges: String?
}
/// train-recovery (AECNN).
public typealias RecoveryOutput = Trained<RecoveryFacts>

/// encode-features.
public struct EncodeOutput: StageOutput {
    public var rows: [CodedRow]
    public var modelId: String
    public var testImages: Int
    public var floatAccuracy: Double

    public func row(codec: CodingSettings.Codec, bits: Int) -> CodedRow? { rows.first { $0.codec == codec && $0.bits == bits } }
}

public struct ConditionAccuracy: Codable, Sendable {
    /// σ of the AWGN channel or erasure probability p; 0 = noise-free.
    public var condition: Double
    public var accuracy: Double
    /// Each test image's predicted class at this condition (absent in results written before they were kept).
    public var predictions: TestPredictions?
}

public struct BottleNetPPFacts: Codable, Sendable {
    public var frozenPhaseTestAccuracy: Double?
    public var frozenEpochs: Int?
    public var accuracyAtConditions: [ConditionAccuracy]
    public var channel: BottleNetPPSettings.Channel
    public var reducedChannels: Int
    public var symbolsShape: [Int]
    public var splitShape: [Int]
    /// Split-tensor elements over channel symbols.
    public var bandwidthReduction: Double
    public var deviceFlops: Int
    public var encoderFlops: Int
    public var bridgeParameters: Int

    /// Bit compression over the 8-bit erasure channel: 32·C·H·W / (8·C'·H'·W').
    public var bitCompression8bit: Double { 4 * bandwidthReduction }

    enum CodingKeys: String, CodingKey {
        case frozenPhaseTestAccuracy, frozenEpochs, accuracyAtConditions, channel, reducedChannels, symbolsShape, splitShape
        case bandwidthReduction, deviceFlops, encoderFlops, bridgeParameters
    }
    /// `bit_compression_8bit` is written for readers of the file (its digit after an underscore does not
    /// survive the key conversion, so it is derived on reading).
    struct LegacyKey: CodingKey {
        var stringValue: String; var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    public init(frozenPhaseTestAccuracy: Double?, frozenEpochs: Int?, accuracyAtConditions: [ConditionAccuracy],
                channel: BottleNetPPSettings.Channel, reducedChannels: Int, symbolsShape: [Int], splitShape: [Int],
                bandwidthReduction: Double, deviceFlops: Int, encoderFlops: Int, bridgeParameters: Int) {
        self.frozenPhaseTestAccuracy = frozenPhaseTestAccuracy; self.frozenEpochs = frozenEpochs
        self.accuracyAtConditions = accuracyAtConditions; self.channel = channel; self.reducedChannels = reducedChannels
        self.symbolsShape = symbolsShape; self.splitShape = splitShape; self.bandwidthReduction = bandwidthReduction
        self.deviceFlops = deviceFlops; self.encoderFlops = encoderFlops; self.bridgeParameters = bridgeParameters
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(frozenPhaseTestAccuracy: try c.decodeIfPresent(Double.self, forKey: .frozenPhaseTestAccuracy),
                  frozenEpochs: try c.decodeIfPresent(Int.self, forKey: .frozenEpochs),
                  accuracyAtConditions: try c.decode([ConditionAccuracy].self, forKey: .accuracyAtConditions),
                  channel: try c.decode(BottleNetPPSettings.Channel.self, forKey: .channel),
                  reducedChannels: try c.decode(Int.self, forKey: .reducedChannels), symbolsShape: try c.decode([Int].self, forKey: .symbolsShape),
                  splitShape: try c.decode([Int].self, forKey: .splitShape), bandwidthReduction: try c.decode(Double.self, forKey: .bandwidthReduction),
                  deviceFlops: try c.decode(Int.self, forKey: .deviceFlops), encoderFlops: try c.decode(Int.self, forKey: .encoderFlops),
                  bridgeParameters: try c.decode(Int.self, forKey: .bridgeParameters))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(frozenPhaseTestAccuracy, forKey: .frozenPhaseTestAccuracy)
        try c.encodeIfPresent(frozenEpochs, forKey: .frozenEpochs)
        try c.encode(accuracyAtConditions, forKey: .accuracyAtConditions)
        try c.encode(channel, forKey: .channel)
        try c.encode(reducedChannels, forKey: .reducedChannels)
        try c.encode(symbolsShape, forKey: .symbolsShape)
        try c.encode(splitShape, forKey: .splitShape)
        try c.encode(bandwidthReduction, forKey: .bandwidthReduction)
        try c.encode(deviceFlops, forKey: .deviceFlops)
        try c.encode(encoderFlops, forKey: .encoderFlops)
        try c.encode(bridgeParameters, forKey: .bridgeParameters)
        var legacy = encoder.container(keyedBy: LegacyKey.self)
        try legacy.encode(bitCompression8bit, forKey: LegacyKey(stringValue: "bit_compression_8bit"))
    }
}

/// train-bottlenetpp.
public typealias BottleNetPPOutput = Trained<BottleNetPPFacts>

public struct BottleNetFacts: Codable, Sendable {
    /// JPEG files as sent (the whole container) plus the two 4-byte range bounds, per test image.
    public var bytesPerImage: Double
    /// The same with the JPEG tables shared out of band (abbreviated streams); absent in older results.
    public var bytesPerImageTablesOutOfBand: Double? = nil
    public var reducedShape: [Int]
    public var splitShape: [Int]
    public var quality: Int
    public var compressionRatio: Double
    public var deviceFlops: Int
    public var bridgeParameters: Int
}
/// train-bottlenet.
public typealias BottleNetOutput = Trained<BottleNetFacts>

/// evaluate.
public struct EvaluateOutput: StageOutput {
    public var baseAccuracy: Double?
    public var rows: Int
}

/// compare.
public struct CompareOutput: StageOutput {
    public var rows: Int
    public var referenceRows: Int
    public var baseAccuracy: Double?
}

extension Trained where Fields == NoFields {
    init(_ training: TrainingFigures) { self.init(training, NoFields()) }
}

/// Encodes whichever output a stage returned.
struct AnyStageOutput: Encodable {
    let base: any StageOutput
    init(_ base: any StageOutput) { self.base = base }
    func encode(to encoder: Encoder) throws { try base.encode(to: encoder) }
}
