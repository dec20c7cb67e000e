// TrainingSettings+YAML: reads one `stages.<name>` section. Fields not given keep the stage's defaults
// (see TrainingStages), except `epochs`, which a section must always give. The optimizer and schedule
// `kind` default to the stage default's kind; their other fields default per kind.

extension TrainingSettings {
    /// The keys a training section accepts.
    static let keys = ["epochs", "batch_size", "optimizer", "schedule", "eval_batch_size", "trainable"]

    /// Reads a training section, filling absent fields from `defaults`.
    /// `epochs`, when given, is used where the section has no `epochs` (a baseline's matched budget).
    public init(yaml value: YAMLValue, defaults: TrainingSettings, epochs matched: Int? = nil) throws {
        let map = try value.mapping(knownKeys: Self.keys)
        let epochs = try matched.map { m in try map.get("epochs", default: m) { try $0.int(in: 1...100_000) } }
            ?? map.required("epochs", hint: "a stage section must say how many epochs to train").int(in: 1...100_000)
        let batchSize = try map.get("batch_size", default: defaults.batchSize) { try $0.int(in: 1...65_536) }
        let evalBatchSize = try map.get("eval_batch_size", default: defaults.evalBatchSize) { try $0.int(in: 1...65_536) }
        let optimizer = try map.get("optimizer", default: defaults.optimizer) {
            try OptimizerSettings(yaml: $0, defaults: defaults.optimizer)
        }
        let schedule = try map.get("schedule", default: defaults.schedule) {
            try ScheduleSettings(yaml: $0, defaults: defaults.schedule, epochs: epochs, lr: optimizer.lr)
        }
        let trainable = try map.get("trainable", default: defaults.trainable) { value in
            let items = try value.list()
            guard !items.isEmpty else {
                throw value.error(.invalidValue, "must list at least one parameter-name prefix",
                                  hint: "leave 'trainable' out to train every parameter")
            }
            return try uniqueStrings(items)
        }
        self.init(epochs: epochs, batchSize: batchSize, optimizer: optimizer, schedule: schedule,
                  evalBatchSize: evalBatchSize, trainable: trainable)
    }
}

extension OptimizerSettings {
    /// Keys per optimizer kind.
    static let keysByKind: [(kind: String, keys: [String])] = [
        ("sgd", ["kind", "lr", "momentum", "weight_decay", "nesterov"]),
        ("adam", ["kind", "lr", "beta1", "beta2", "eps", "weight_decay"]),
    ]

    /// Reads `optimizer: {kind: sgd | adam, ...}`; `kind` defaults to the kind of `defaults`.
    public init(yaml value: YAMLValue, defaults: OptimizerSettings) throws {
        let kind = try kindField(of: value, kinds: Self.keysByKind, default: defaults.kind)
        let map = try value.mapping(knownKeys: Self.keysByKind.first { $0.kind == kind }!.keys)
        func positive(_ v: YAMLValue) throws -> Double { let x = try v.double(); try v.require(x > 0, "> 0"); return x }
        func nonNegative(_ v: YAMLValue) throws -> Double { let x = try v.double(); try v.require(x >= 0, "≥ 0"); return x }
        func unitInterval(_ v: YAMLValue) throws -> Double {
            let x = try v.double(); try v.require(x >= 0 && x < 1, "in [0, 1)"); return x
        }
        switch kind {
        case "sgd":
            var base = SGDSettings()
            if case let .sgd(settings) = defaults { base = settings }
            let momentum = try map.get("momentum", default: base.momentum, unitInterval)
            let nesterov = try map.get("nesterov", default: base.nesterov) { try $0.bool() }
            if nesterov && momentum == 0 {
                throw (map.optional("nesterov") ?? value).error(.invalidValue, "Nesterov momentum needs momentum > 0",
                                                                hint: "set momentum or nesterov: false")
            }
            self = .sgd(SGDSettings(lr: try map.get("lr", default: base.lr, positive), momentum: momentum,
                                    weightDecay: try map.get("weight_decay", default: base.weightDecay, nonNegative),
                                    nesterov: nesterov))
        default:
            var base = AdamSettings()
            if case let .adam(settings) = defaults { base = settings }
            self = .adam(AdamSettings(lr: try map.get("lr", default: base.lr, positive),
                                      beta1: try map.get("beta1", default: base.beta1, unitInterval),
                                      beta2: try map.get("beta2", default: base.beta2, unitInterval),
                                      eps: try map.get("eps", default: base.eps, positive),
                                      weightDecay: try map.get("weight_decay", default: base.weightDecay, nonNegative)))
        }
    }
}

extension ScheduleSettings {
    /// Keys per schedule kind.
    static let keysByKind: [(kind: String, keys: [String])] = [
        ("cosine", ["kind", "min_lr"]),
        ("step", ["kind", "milestones", "gamma"]),
        ("constant", ["kind"]),
    ]

    /// Reads `schedule: {kind: cosine | step | constant, ...}`; `kind` defaults to the kind of `defaults`.
    ///
    /// - Parameters:
    ///   - epochs: the stage's epoch count, which bounds the step milestones.
    ///   - lr: the optimizer's rate, which bounds `min_lr`.
    public init(yaml value: YAMLValue, defaults: ScheduleSettings, epochs: Int, lr: Double) throws {
        let kind = try kindField(of: value, kinds: Self.keysByKind, default: defaults.kind)
        let map = try value.mapping(knownKeys: Self.keysByKind.first { $0.kind == kind }!.keys)
        switch kind {
        case "cosine":
            var base = 0.0
            if case let .cosine(minLR) = defaults { base = minLR }
            let minLR = try map.get("min_lr", default: base) { v in
                let x = try v.double()
                try v.require(x >= 0 && x <= lr, "between 0 and the optimizer's lr (\(lr))")
                return x
            }
            self = .cosine(minLR: minLR)
        case "step":
            var baseGamma = 0.1
            if case let .step(_, gamma) = defaults { baseGamma = gamma }
            let list = try map.required("milestones", hint: "the epochs after which the rate drops, e.g. [5, 8]")
            var milestones: [Int] = []
            for item in try list.list() {
                let m = try item.int()
                try item.require(m >= 1 && m < epochs, "between 1 and epochs − 1 (\(epochs - 1)); a milestone at or after the last epoch has no effect")
                if let last = milestones.last, m <= last {
                    throw item.error(.invalidValue, "milestones must be strictly increasing, found \(m) after \(last)")
                }
                milestones.append(m)
            }
            if milestones.isEmpty {
                throw list.error(.invalidValue, "must list at least one epoch", hint: "use kind: constant for no drops")
            }
            let gamma = try map.get("gamma", default: baseGamma) { v in
                let x = try v.double(); try v.require(x > 0 && x <= 1, "in (0, 1]"); return x
            }
            self = .step(milestones: milestones, gamma: gamma)
        default:
            self = .constant
        }
    }
}

/// Reads the `kind` field of an optimizer or schedule mapping (defaulting to `defaultKind`), and rejects fields
/// that belong to another kind with a hint to set `kind`, before the strict key check runs.
private func kindField(of value: YAMLValue, kinds: [(kind: String, keys: [String])], default defaultKind: String) throws -> String {
    let allKeys = Array(Set(kinds.flatMap(\.keys))).sorted()
    let loose = try value.mapping(knownKeys: allKeys)
    var kind = defaultKind
    if let kindValue = loose.optional("kind") {
        let text = try kindValue.string()
        let names = kinds.map(\.kind)
        guard names.contains(text) else {
            var hint = "expected one of: " + names.joined(separator: ", ")
            if let guess = closestMatch(to: text, among: names) { hint = "did you mean '\(guess)'? " + hint }
            throw kindValue.error(.unknownValue, "unknown kind '\(text)'", hint: hint)
        }
        kind = text
    }
    let accepted = kinds.first { $0.kind == kind }!.keys
    for entry in loose.entries where !accepted.contains(entry.key) {
        let owners = kinds.filter { $0.keys.contains(entry.key) }.map(\.kind)
        throw PipelineSpecError(kind: .unknownField, fileName: value.fileName, line: entry.keyLine,
                                column: entry.keyColumn, keyPath: value.keyPath,
                                message: "unknown field '\(entry.key)' for kind '\(kind)'",
                                hint: "'\(entry.key)' belongs to kind " + owners.map { "'\($0)'" }.joined(separator: " or ")
                                    + "; set kind: \(owners[0])")
    }
    return kind
}

/// Non-empty, distinct strings from a list.
func uniqueStrings(_ items: [YAMLValue]) throws -> [String] {
    var result: [String] = []
    for item in items {
        let text = try item.nonEmptyString()
        if result.contains(text) { throw item.error(.invalidValue, "'\(text)' is listed twice") }
        result.append(text)
    }
    return result
}
