// BaselineSettings: the optional top-level `baselines:` section — the methods AECNN is compared with, on the
// same base model, split points and ratios.
//
//   baselines:
//     bottlenetpp:
//       channels: [noiseless, awgn, bec]   # one train-bottlenetpp instance per split × V × channel
//       awgn_max: 0.2                      # training draws σ uniformly in [0, awgn_max) per batch
//       bec_max: 0.2                       # training draws the bit-erasure probability in [0, bec_max)
//       test: {awgn: [0.05, 0.1], bec: [0.01, 0.05]}   # fixed conditions the test accuracy is reported at
//       frozen_epochs: 1                   # phase 2: backbone frozen, encoder/decoder alone
//       spatial_shrink: false              # 2×2 stride-2 encoder / transposed decoder (4× fewer symbols)

public struct BottleNetPPSettings: Equatable, Codable, Sendable {
    public enum Channel: String, Equatable, Codable, Sendable, CaseIterable { case noiseless, awgn, bec }

    public var channels: [Channel]
    public var awgnMax: Double
    public var becMax: Double
    public var testAWGN: [Double]
    public var testBEC: [Double]
    public var frozenEpochs: Int
    public var spatialShrink: Bool

    public init(channels: [Channel] = [.noiseless, .awgn, .bec], awgnMax: Double = 0.2, becMax: Double = 0.2,
                testAWGN: [Double] = [0.05, 0.1], testBEC: [Double] = [0.01, 0.05], frozenEpochs: Int = 1, spatialShrink: Bool = false) {
        self.channels = channels; self.awgnMax = awgnMax; self.becMax = becMax
        self.testAWGN = testAWGN; self.testBEC = testBEC; self.frozenEpochs = frozenEpochs; self.spatialShrink = spatialShrink
    }

    /// The fixed test conditions of a channel (σ or p); the noiseless channel has the one condition 0.
    public func testConditions(_ c: Channel) -> [Double] {
        switch c {
        case .noiseless: return [0]
        case .awgn: return [0] + testAWGN
        case .bec: return [0] + testBEC
        }
    }

    public func trainingMax(_ c: Channel) -> Double {
        switch c { case .noiseless: return 0; case .awgn: return awgnMax; case .bec: return becMax }
    }

    static let keys = ["channels", "awgn_max", "bec_max", "test", "frozen_epochs", "spatial_shrink"]

    public init(yaml value: YAMLValue) throws {
        let d = BottleNetPPSettings()
        let map = try value.mapping(knownKeys: Self.keys)
        let channels: [Channel] = try map.get("channels", default: d.channels) { try $0.distinctList("channel") { try $0.oneOf(Channel.self) } }
        func level(_ v: YAMLValue) throws -> Double { let x = try v.double(); try v.require(x >= 0 && x < 1, "in [0, 1)"); return x }
        let awgn = try map.get("awgn_max", default: d.awgnMax, level)
        let bec = try map.get("bec_max", default: d.becMax, level)
        var testAWGN = d.testAWGN, testBEC = d.testBEC
        if let t = map.optional("test") {
            let tm = try t.mapping(knownKeys: ["awgn", "bec"])
            testAWGN = try tm.get("awgn", default: testAWGN) { try $0.list().map(level) }
            testBEC = try tm.get("bec", default: testBEC) { try $0.list().map(level) }
        }
        let frozen = try map.get("frozen_epochs", default: d.frozenEpochs) { try $0.int(atLeast: 0) }
        let shrink = try map.get("spatial_shrink", default: d.spatialShrink) { try $0.bool() }
        self.init(channels: channels, awgnMax: awgn, becMax: bec, testAWGN: testAWGN, testBEC: testBEC,
                  frozenEpochs: frozen, spatialShrink: shrink)
    }
}

//     bottlenet:
//       qualities: [20]                    # JPEG qualities; one train-bottlenet instance per split × V × quality
//       stride: 1                          # spatial reduction s (1: none; s > 1: (s+1)×(s+1) conv of stride s)

public struct BottleNetSettings: Equatable, Codable, Sendable {
    public var qualities: [Int]
    public var stride: Int

    public init(qualities: [Int] = [20], stride: Int = 1) { self.qualities = qualities; self.stride = stride }

    public init(yaml value: YAMLValue) throws {
        let d = BottleNetSettings()
        let map = try value.mapping(knownKeys: ["qualities", "stride"])
        let qualities: [Int] = try map.get("qualities", default: d.qualities) { list in
            try list.distinctList("quality") { item in let q = try item.int(); try item.require((1...100).contains(q), "a JPEG quality from 1 to 100"); return q }
        }
        let stride = try map.get("stride", default: d.stride) { v in
            let s = try v.int(); try v.require((1...4).contains(s), "1 (no spatial reduction) to 4"); return s
        }
        self.init(qualities: qualities, stride: stride)
    }
}

//     entropic:
//       lambdas: [0.0001, 0.001]           # rate weights λ; one train-entropic instance per split × V × λ (K = C/V latents)
//       stride: 1                          # 1: 3×3 encoder; 2: 2×2 stride-2 encoder / transposed decoder (4× fewer latents)
//       splits: [block3]                   # optional: a subset of the pipeline's splits (default: all of them)

/// The learned entropy bottleneck (factorized prior, Ballé et al. 2018, as in Matsubara et al.'s entropic
/// student): loss = cross-entropy + λ · estimated bits per image.
public struct EntropicSettings: Equatable, Codable, Sendable {
    public var lambdas: [Double]
    public var stride: Int
    /// The splits it runs at; nil: every split of the pipeline (left out of the canonical JSON then).
    public var splits: [String]?

    public init(lambdas: [Double] = [0.0001, 0.001], stride: Int = 1, splits: [String]? = nil) {
        self.lambdas = lambdas; self.stride = stride; self.splits = splits
    }

    /// Whether `λ` is usable: finite, > 0, and its shortest decimal spelling (`"\(λ)"`) is at most 20
    /// characters of digits, '.', 'e' and '-' (it names the instance's folder as `lambda<spelling>`).
    public static func isValidLambda(_ v: Double) -> Bool {
        v.isFinite && v > 0 && "\(v)".count <= 20 && "\(v)".allSatisfy { $0.isASCII && ($0.isNumber || $0 == "." || $0 == "e" || $0 == "-") }
    }

    public init(yaml value: YAMLValue) throws {
        let d = EntropicSettings()
        let map = try value.mapping(knownKeys: ["lambdas", "stride", "splits"])
        let lambdas: [Double] = try map.get("lambdas", default: d.lambdas) { list in
            try list.distinctList("lambda") { item in
                let v = try item.double(); try item.require(Self.isValidLambda(v), "a rate weight λ > 0, e.g. 0.001"); return v
            }
        }
        let stride = try map.get("stride", default: d.stride) { v in
            let s = try v.int(); try v.require(s == 1 || s == 2, "1 (3×3 encoder) or 2 (2×2 stride-2 encoder)"); return s
        }
        let splits: [String]? = try map.optional("splits").map { list in try list.distinctList("split") { try $0.string() } }
        self.init(lambdas: lambdas, stride: stride, splits: splits)
    }
}

//     input:
//       jpeg_qualities: [10, 20, 30, 50, 75, 90]   # the input image sent whole as JPEG, classified by the base model

/// The naive baseline: the input image sent whole and classified at the edge by the base model, as PNG
/// (always) and as JPEG at each quality here.
public struct InputBaselineSettings: Equatable, Codable, Sendable {
    public var jpegQualities: [Int]

    public static let defaultQualities = [10, 20, 30, 50, 75, 90]

    public init(jpegQualities: [Int] = InputBaselineSettings.defaultQualities) { self.jpegQualities = jpegQualities }

    public init(yaml value: YAMLValue) throws {
        let map = try value.mapping(knownKeys: ["jpeg_qualities"])
        let qualities: [Int] = try map.get("jpeg_qualities", default: Self.defaultQualities) { list in
            try list.distinctList("quality") { item in let q = try item.int(); try item.require((1...100).contains(q), "a JPEG quality from 1 to 100"); return q }
        }
        self.init(jpegQualities: qualities)
    }
}

public struct BaselineSettings: Equatable, Codable, Sendable {
    /// BottleNet++ settings; nil: no train-bottlenetpp stage.
    public var bottlenetpp: BottleNetPPSettings?
    /// BottleNet settings; nil: no train-bottlenet stage.
    public var bottlenet: BottleNetSettings?
    /// The input image sent whole; nil: the default JPEG qualities (`InputBaselineSettings.defaultQualities`).
    public var input: InputBaselineSettings?
    /// The learned entropy bottleneck; nil: no train-entropic stage.
    public var entropic: EntropicSettings?

    public init(bottlenetpp: BottleNetPPSettings? = nil, bottlenet: BottleNetSettings? = nil, input: InputBaselineSettings? = nil,
                entropic: EntropicSettings? = nil) {
        self.bottlenetpp = bottlenetpp; self.bottlenet = bottlenet; self.input = input; self.entropic = entropic
    }

    public init(yaml value: YAMLValue) throws {
        let map = try value.mapping(knownKeys: ["bottlenetpp", "bottlenet", "input", "entropic"])
        self.init(bottlenetpp: try map.optional("bottlenetpp").map { try BottleNetPPSettings(yaml: $0) },
                  bottlenet: try map.optional("bottlenet").map { try BottleNetSettings(yaml: $0) },
                  input: try map.optional("input").map { try InputBaselineSettings(yaml: $0) },
                  entropic: try map.optional("entropic").map { try EntropicSettings(yaml: $0) })
    }
}
