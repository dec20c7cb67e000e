// AECNNSettings: the method's settings that are not training settings — the optional top-level `aecnn:`
// section of a pipeline file.
//
//   aecnn:
//     attention_eps: 1.0e-5          # ε in the attention normalisation (eq. 6)
//     prune_from: base               # base | attention: which weights the pruned model starts from
//     recovery: {layers: 2, hidden: 32}
//     rank: {batch_size: 500, stability_batches: 3, methods: [attention]}

public struct AECNNSettings: Equatable, Codable, Sendable {
    public enum PruneSource: String, Equatable, Codable, Sendable, CaseIterable { case base, attention }

    /// How the channels to keep are chosen. `attention` is AECNN's own (eq. 8); `l1` (the L1 norm of each output
    /// filter, Li et al. 2017) and `random` (a seeded permutation) are controls, each with its own chain of
    /// rank-channels, prune, fine-tune, train-recovery and encode-features instances.
    public enum RankingMethod: String, Equatable, Hashable, Codable, Sendable, CaseIterable { case attention, l1, random }

    public var attentionEps: Double
    public var pruneFrom: PruneSource
    public var recoveryLayers: Int
    public var recoveryHidden: Int
    public var rankBatchSize: Int
    public var stabilityBatches: Int
    /// The rankings to run, `attention` first and always present (AECNN's chain, the one the others are
    /// compared with); the default `[attention]` leaves the pipeline as it was without the option.
    public var rankMethods: [RankingMethod]

    /// The control rankings: every method but `attention`, in the order the file lists them.
    public var controlRankings: [RankingMethod] { rankMethods.filter { $0 != .attention } }

    public init(attentionEps: Double = 1e-5, pruneFrom: PruneSource = .base, recoveryLayers: Int = 2,
                recoveryHidden: Int = 32, rankBatchSize: Int = 500, stabilityBatches: Int = 3,
                rankMethods: [RankingMethod] = [.attention]) {
        self.attentionEps = attentionEps
        self.pruneFrom = pruneFrom
        self.recoveryLayers = recoveryLayers
        self.recoveryHidden = recoveryHidden
        self.rankBatchSize = rankBatchSize
        self.stabilityBatches = stabilityBatches
        self.rankMethods = rankMethods
    }

    // Codable by hand so that the default `rank_methods` is left out: the canonical JSON of a pipeline without
    // the option is the one it always was.
    enum CodingKeys: String, CodingKey {
        case attentionEps, pruneFrom, recoveryLayers, recoveryHidden, rankBatchSize, stabilityBatches, rankMethods
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(attentionEps: try c.decode(Double.self, forKey: .attentionEps), pruneFrom: try c.decode(PruneSource.self, forKey: .pruneFrom),
                  recoveryLayers: try c.decode(Int.self, forKey: .recoveryLayers), recoveryHidden: try c.decode(Int.self, forKey: .recoveryHidden),
                  rankBatchSize: try c.decode(Int.self, forKey: .rankBatchSize), stabilityBatches: try c.decode(Int.self, forKey: .stabilityBatches),
                  rankMethods: try c.decodeIfPresent([RankingMethod].self, forKey: .rankMethods) ?? [.attention])
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(attentionEps, forKey: .attentionEps)
        try c.encode(pruneFrom, forKey: .pruneFrom)
        try c.encode(recoveryLayers, forKey: .recoveryLayers)
        try c.encode(recoveryHidden, forKey: .recoveryHidden)
        try c.encode(rankBatchSize, forKey: .rankBatchSize)
        try c.encode(stabilityBatches, forKey: .stabilityBatches)
        if rankMethods != [.attention] { try c.encode(rankMethods, forKey: .rankMethods) }
    }

    static let keys = ["attention_eps", "prune_from", "recovery", "rank"]

    public init(yaml value: YAMLValue) throws {
        let d = AECNNSettings()
        let map = try value.mapping(knownKeys: Self.keys)
        let eps = try map.get("attention_eps", default: d.attentionEps) { v in
            let x = try v.double(); try v.require(x > 0 && x < 1, "in (0, 1)"); return x
        }
        let source = try map.get("prune_from", default: d.pruneFrom) { v in
            try v.oneOf(PruneSource.self)
        }
        var layers = d.recoveryLayers, hidden = d.recoveryHidden
        if let r = map.optional("recovery") {
            let rm = try r.mapping(knownKeys: ["layers", "hidden"])
            layers = try rm.get("layers", default: layers) { try $0.int(in: 1...64) }
            hidden = try rm.get("hidden", default: hidden) { try $0.int(in: 1...4096) }
        }
        var rankBatch = d.rankBatchSize, stability = d.stabilityBatches, methods = d.rankMethods
        if let r = map.optional("rank") {
            let rm = try r.mapping(knownKeys: ["batch_size", "stability_batches", "methods"])
            rankBatch = try rm.get("batch_size", default: rankBatch) { try $0.int(atLeast: 1) }
            stability = try rm.get("stability_batches", default: stability) { try $0.int(atLeast: 2) }
            methods = try rm.get("methods", default: methods) { v in
                let list = try v.distinctList("ranking method") { try $0.oneOf(RankingMethod.self) }
                guard list.contains(.attention) else {
                    throw v.error(.invalidValue, "must include attention, found [\(list.map(\.rawValue).joined(separator: ", "))]",
                                  hint: "attention is AECNN's own ranking, which the controls are compared with; write [attention, \(list.map(\.rawValue).joined(separator: ", "))]")
                }
                // AECNN's chain first, the controls in the order given.
                return [.attention] + list.filter { $0 != .attention }
            }
        }
        self.init(attentionEps: eps, pruneFrom: source, recoveryLayers: layers, recoveryHidden: hidden,
                  rankBatchSize: rankBatch, stabilityBatches: stability, rankMethods: methods)
    }
}
