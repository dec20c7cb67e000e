// AECNNSettings: the method's settings that are not training settings — the optional top-level `aecnn:`
// section of a pipeline file.
//
//   aecnn:
//     attention_eps: 1.0e-5          # ε in the attention normalisation (eq. 6)
//     prune_from: base               # base | attention: which weights the pruned model starts from
//     recovery: {layers: 2, hidden: 32}
//     rank: {batch_size: 500, stability_batches: 3, methods: [attention]}
//     budget_controls: false         # true: CA_Pruned at AECNN's epochs after pruning, and the base trained on

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
    /// The control rankings of `rank.methods` (every method but attention, in the file's order), nil when there
    /// are none: left out of the canonical JSON, which is then the one a pipeline without the option always had.
    var rankControls: [RankingMethod]?
    /// `budget_controls: true`: CA_Pruned fine-tuned for AECNN's epochs after pruning (fine-tune + recovery), and
    /// the base model trained on for AECNN's epochs after the base, uncompressed. Nil when false (left out of
    /// the canonical JSON, as for a pipeline without the option).
    var budgetControlsOn: Bool?
    public var budgetControls: Bool {
        get { budgetControlsOn ?? false }
        set { budgetControlsOn = newValue ? true : nil }
    }

    /// The rankings to run: `attention` first and always (AECNN's chain, the one the others are compared with),
    /// then the controls.
    public var rankMethods: [RankingMethod] {
        get { [.attention] + controlRankings }
        set { let controls = newValue.filter { $0 != .attention }; rankControls = controls.isEmpty ? nil : controls }
    }

    /// The control rankings: every method but `attention`, in the order the file lists them.
    public var controlRankings: [RankingMethod] { rankControls ?? [] }

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

    static let keys = ["attention_eps", "prune_from", "recovery", "rank", "budget_controls"]

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
                return list
            }
        }
        self.init(attentionEps: eps, pruneFrom: source, recoveryLayers: layers, recoveryHidden: hidden,
                  rankBatchSize: rankBatch, stabilityBatches: stability, rankMethods: methods)
        budgetControls = try map.get("budget_controls", default: false) { try $0.bool() }
    }
}
