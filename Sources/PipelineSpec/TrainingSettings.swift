// TrainingSettings: how one training stage runs (epochs, batch sizes, optimizer, learning-rate schedule,
// which parameters train). Every training stage (train-base, train-attention, fine-tune, train-recovery, ...)
// uses this same struct. These are plain values: building optimizers and schedules from them is NN's job.

/// The settings of one training stage, as written in `stages.<name>` of a pipeline file.
public struct TrainingSettings: Equatable, Codable, Sendable {
    /// Number of passes over the training set; ≥ 1.
    public var epochs: Int
    /// Mini-batch size for training; ≥ 1.
    public var batchSize: Int
    /// The optimizer and its hyper-parameters.
    public var optimizer: OptimizerSettings
    /// How the learning rate changes over the run.
    public var schedule: ScheduleSettings
    /// Mini-batch size for evaluation; ≥ 1.
    public var evalBatchSize: Int
    /// Parameter-name prefixes that train; every other parameter stays frozen. Empty means all parameters train.
    public var trainable: [String]

    /// Creates settings; the defaults are those of a plain SGD + cosine run over all parameters.
    public init(epochs: Int, batchSize: Int = 128, optimizer: OptimizerSettings = .sgd(SGDSettings()),
                schedule: ScheduleSettings = .cosine(minLR: 0), evalBatchSize: Int = 500, trainable: [String] = []) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.schedule = schedule
        self.evalBatchSize = evalBatchSize
        self.trainable = trainable
    }

    /// Whether the parameter called `name` trains under these settings (prefix match on `trainable`).
    public func trains(parameter name: String) -> Bool {
        trainable.isEmpty || trainable.contains { name.hasPrefix($0) }
    }
}

/// Stochastic gradient descent with momentum and L2 weight decay.
public struct SGDSettings: Equatable, Codable, Sendable {
    /// Peak learning rate; > 0.
    public var lr: Double
    /// Momentum coefficient; 0 ≤ momentum < 1.
    public var momentum: Double
    /// L2 penalty coefficient added to the gradient; ≥ 0.
    public var weightDecay: Double
    /// Nesterov momentum; needs momentum > 0.
    public var nesterov: Bool

    /// Creates SGD settings; defaults are the ResNet-on-CIFAR recipe (0.1, 0.9, 5e-4, no Nesterov).
    public init(lr: Double = 0.1, momentum: Double = 0.9, weightDecay: Double = 5e-4, nesterov: Bool = false) {
        self.lr = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }
}

/// Adam (Kingma & Ba, 2015) with optional L2 weight decay added to the gradient.
public struct AdamSettings: Equatable, Codable, Sendable {
    /// Peak learning rate; > 0.
    public var lr: Double
    /// First-moment decay; 0 ≤ beta1 < 1.
    public var beta1: Double
    /// Second-moment decay; 0 ≤ beta2 < 1.
    public var beta2: Double
    /// Denominator term for numerical stability; > 0.
    public var eps: Double
    /// L2 penalty coefficient added to the gradient; ≥ 0.
    public var weightDecay: Double

    /// Creates Adam settings; defaults are the paper's (1e-3, 0.9, 0.999, 1e-8) with no weight decay.
    public init(lr: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                weightDecay: Double = 0) {
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// The optimizer of a training stage. Encodes as `{"sgd": {...}}` or `{"adam": {...}}`.
public enum OptimizerSettings: Equatable, Codable, Sendable {
    /// SGD with momentum.
    case sgd(SGDSettings)
    /// Adam.
    case adam(AdamSettings)

    /// The `kind` name used in pipeline files.
    public var kind: String {
        switch self {
        case .sgd: return "sgd"
        case .adam: return "adam"
        }
    }

    /// The peak learning rate, whatever the kind.
    public var lr: Double {
        switch self {
        case let .sgd(settings): return settings.lr
        case let .adam(settings): return settings.lr
        }
    }

    private enum CodingKeys: String, CodingKey { case sgd, adam }

    /// Decodes `{"sgd": {...}}` or `{"adam": {...}}`.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let settings = try container.decodeIfPresent(SGDSettings.self, forKey: .sgd) {
            self = .sgd(settings)
        } else if let settings = try container.decodeIfPresent(AdamSettings.self, forKey: .adam) {
            self = .adam(settings)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected key 'sgd' or 'adam'"))
        }
    }

    /// Encodes as `{"sgd": {...}}` or `{"adam": {...}}`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .sgd(settings): try container.encode(settings, forKey: .sgd)
        case let .adam(settings): try container.encode(settings, forKey: .adam)
        }
    }
}

/// The learning-rate schedule of a training stage.
public enum ScheduleSettings: Equatable, Codable, Sendable {
    /// The optimizer's rate throughout.
    case constant
    /// Cosine annealing per optimizer step, from the optimizer's rate down to `minLR` at the last step:
    /// `lr(t) = minLR + (lr − minLR) · (1 + cos(π t / T)) / 2`, with `T` the total number of steps.
    case cosine(minLR: Double)
    /// Multiply the rate by `gamma` each time a milestone is passed; a milestone `m` takes effect once `m`
    /// epochs have completed (as PyTorch's `MultiStepLR`). Milestones are strictly increasing, in 1 ..< epochs.
    case step(milestones: [Int], gamma: Double)

    /// The `kind` name used in pipeline files.
    public var kind: String {
        switch self {
        case .constant: return "constant"
        case .cosine: return "cosine"
        case .step: return "step"
        }
    }
}
