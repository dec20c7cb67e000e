// TrainingStages: the one list of stage names that take a `TrainingSettings` section under `stages:` in a
// pipeline file, with the settings each stage uses when the file has no section for it.
// Add a stage here and the parser, the error suggestions and `PipelineSpec.stages` all follow.

/// The stages that train, and their default settings.
public enum TrainingStages {
    /// Every training stage, in pipeline order, with the settings used when a pipeline file has no section for it.
    /// A section that exists replaces these field by field, except `epochs`, which a section must always give.
    public static let all: [(name: String, defaults: TrainingSettings)] = [
        ("train-base", TrainingSettings(epochs: 10)),
        ("train-attention", TrainingSettings(epochs: 5, optimizer: .sgd(SGDSettings(lr: 0.01)))),
        ("fine-tune", TrainingSettings(epochs: 5, optimizer: .sgd(SGDSettings(lr: 0.01)))),
        ("train-recovery", TrainingSettings(epochs: 10, optimizer: .adam(AdamSettings()))),
        ("train-bottlenetpp", TrainingSettings(epochs: 5, optimizer: .adam(AdamSettings()))),
        ("train-bottlenet", TrainingSettings(epochs: 5, optimizer: .adam(AdamSettings()))),
        ("train-entropic", TrainingSettings(epochs: 5, optimizer: .adam(AdamSettings()))),
    ]

    /// The baselines' training stages: a section may leave `epochs` out to get AECNN's budget after pruning.
    public static let baselineStages = ["train-bottlenetpp", "train-bottlenet", "train-entropic"]

    /// The stage names, in pipeline order.
    public static var names: [String] { all.map(\.name) }

    /// The default settings of `stage`, or nil when it is not a training stage.
    public static func defaults(for stage: String) -> TrainingSettings? {
        all.first { $0.name == stage }?.defaults
    }
}
