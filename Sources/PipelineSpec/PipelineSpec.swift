// PipelineSpec: one pipeline file, fully resolved — every default applied, every value checked.
// `load(path:)` reads a file, `parse(yaml:fileName:)` a string; both throw PipelineSpecError.
// Split-point names are only checked for shape here; whether the model has them is decided by Models.
// Note: this type shares its name with its module, so refer to its nested types as `PipelineSpec.X` only
// for members of the type, never to qualify module-level names.

import Foundation
import Yams

/// A pipeline: data set, model, split points, compression ratios and the settings of every training stage.
///
/// Values are fully resolved: fields the file leaves out hold their defaults, and `stages` has an entry for
/// every name in `TrainingStages.names`. `Codable` so `canonicalJSON(of:)` can hash it (or any part of it).
public struct PipelineSpec: Equatable, Codable, Sendable {
    /// Pipeline name; outputs go to `Checkpoints/<name>/`. Letters, digits, `.`, `_`, `-`; not starting with `.`.
    public var name: String
    /// Seed of every random choice (initialization, subsets, shuffling, augmentation). With `seeds`, the
    /// seed of the run at hand (a `RunContext` sets it to one of `seeds`).
    public var seed: UInt64
    /// The seeds to run the whole graph with, one after another, each in its own folder
    /// (`Checkpoints/<name>/seed-<k>/`); nil for a pipeline of one `seed` (outputs in `Checkpoints/<name>/`).
    public var seeds: [UInt64]?
    /// Worker threads for the kernels; ≥ 1.
    public var threads: Int
    /// The data set.
    public var dataset: DatasetSpec
    /// The network.
    public var model: ModelSpec
    /// Split-point names (where the device half ends), distinct; checked against the model later.
    public var splits: [String]
    /// Compression ratios V (channel reduction factors), distinct powers of two ≥ 2.
    public var ratios: [Int]
    /// Settings of every training stage, keyed by stage name (`train-base`, ...); absent sections hold defaults.
    public var stages: [String: TrainingSettings]
    /// AECNN method settings (the `aecnn:` section; defaults when absent).
    public var aecnn: AECNNSettings
    /// Feature coding settings (the `coding:` section); nil when absent, and then the pipeline has no
    /// `encode-features` stage.
    public var coding: CodingSettings?
    /// The baselines compared with AECNN (the `baselines:` section); nil when absent.
    public var baselines: BaselineSettings?
    /// The baseline training stages whose epochs the file left out, so that they got AECNN's budget after
    /// pruning (fine-tune + train-recovery epochs; for BottleNet++ minus its frozen-backbone epochs).
    public var matchedBudgets: [String] = []

    /// The JPEG qualities at which the report sends the input image whole (`baselines.input.jpeg_qualities`).
    public var inputJPEGQualities: [Int] { baselines?.input?.jpegQualities ?? InputBaselineSettings.defaultQualities }

    /// Creates a spec; `stages` entries missing from the argument are filled from `TrainingStages`.
    public init(name: String, seed: UInt64 = 0, threads: Int = 2, dataset: DatasetSpec, model: ModelSpec,
                splits: [String] = [], ratios: [Int] = [], stages: [String: TrainingSettings] = [:],
                aecnn: AECNNSettings = AECNNSettings(), coding: CodingSettings? = nil,
                baselines: BaselineSettings? = nil) {
        self.name = name
        self.seed = seed
        self.threads = threads
        self.dataset = dataset
        self.model = model
        self.splits = splits
        self.ratios = ratios
        var all = stages
        for (stage, defaults) in TrainingStages.all where all[stage] == nil { all[stage] = defaults }
        self.stages = all
        self.aecnn = aecnn
        self.coding = coding
        self.baselines = baselines
    }

    /// The settings of training stage `stage`, or nil when it is not a training stage.
    public func training(_ stage: String) -> TrainingSettings? { stages[stage] }

    /// Every seed the pipeline runs with: `seeds`, or the one `seed`.
    public var seedList: [UInt64] { seeds ?? [seed] }

    /// The most seeds a pipeline may list.
    public static let maxSeeds = 32

    /// AECNN's training epochs after pruning (fine-tune + train-recovery): the default budget of each baseline.
    public var aecnnEpochsAfterPruning: Int { (stages["fine-tune"]?.epochs ?? 0) + (stages["train-recovery"]?.epochs ?? 0) }

    /// The keys accepted at the top level of a pipeline file.
    static let topLevelKeys = ["name", "seed", "seeds", "threads", "dataset", "model", "splits", "ratios", "stages", "aecnn", "coding", "baselines"]

    /// Reads and validates the pipeline file at `path`.
    ///
    /// - Throws: `PipelineSpecError` — `fileNotFound` (with a hint to `ls Pipelines/`), `unreadableFile`,
    ///   or any error of `parse(yaml:fileName:)`, all naming `path`.
    public static func load(path: String) throws -> PipelineSpec {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PipelineSpecError(kind: .fileNotFound, fileName: path, message: "no such pipeline file",
                                    hint: "run 'ls Pipelines/' to see the available pipelines")
        }
        guard !isDirectory.boolValue else {
            throw PipelineSpecError(kind: .unreadableFile, fileName: path, message: "is a directory, not a pipeline file",
                                    hint: "pass a .yaml file, e.g. Pipelines/smoke.yaml")
        }
        // Kind and size from stat before any open: a FIFO would block the read, a huge file would be loaded whole.
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard attributes?[.type] as? FileAttributeType == .typeRegular else {
            throw PipelineSpecError(kind: .unreadableFile, fileName: path, message: "is not a regular file (a FIFO, a device or a socket)",
                                    hint: "pass a .yaml file, e.g. Pipelines/smoke.yaml")
        }
        if let size = (attributes?[.size] as? NSNumber)?.intValue, size > maxFileBytes {
            throw PipelineSpecError(kind: .unreadableFile, fileName: path, message: "is \(size) bytes, more than a pipeline file's \(maxFileBytes)",
                                    hint: "pass the pipeline's .yaml file, e.g. Pipelines/smoke.yaml")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PipelineSpecError(kind: .unreadableFile, fileName: path, message: "cannot read the file: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineSpecError(kind: .unreadableFile, fileName: path, message: "the file is not valid UTF-8")
        }
        return try parse(yaml: text, fileName: path)
    }

    /// Parses and validates pipeline YAML.
    ///
    /// - Parameters:
    ///   - yaml: the file contents.
    ///   - fileName: the name used in errors; its stem (`Pipelines/smoke.yaml` → `smoke`) is the default `name`.
    /// - Throws: `PipelineSpecError` for malformed YAML, a non-mapping top level, unknown keys, wrong types,
    ///   missing fields and out-of-range values.
    public static func parse(yaml: String, fileName: String) throws -> PipelineSpec {
        let root = YAMLValue(node: try compose(yaml, fileName: fileName), fileName: fileName)
        guard case .mapping = root.node else {
            throw root.error(.typeMismatch, "expected a mapping of pipeline settings at the top level, found \(root.found)",
                             hint: "start with 'dataset:' and 'model:' sections")
        }
        let map = try root.mapping(knownKeys: topLevelKeys)

        let stem = URL(fileURLWithPath: fileName).deletingPathExtension().lastPathComponent
        let name: String
        if let given = map.optional("name") {
            name = try given.string()
            guard isValidName(name) else {
                throw given.error(.invalidValue, "'\(name.prefix(80))\(name.count > 80 ? "…" : "")' cannot name a checkpoint directory",
                                  hint: "use letters, digits, '.', '_' and '-', not starting with '.', at most \(maxNameLength) characters")
            }
        } else {
            name = stem
            guard isValidName(name) else {
                throw root.error(.invalidValue, "the file stem '\(stem)' cannot name a checkpoint directory",
                                 hint: "add 'name:' with letters, digits, '.', '_' and '-'")
            }
        }
        let seed = try map.get("seed", default: 0) { try $0.uint64() }
        let seeds: [UInt64]? = try map.optional("seeds").map { node in
            if map.optional("seed") != nil {
                throw node.error(.invalidValue, "'seed' and 'seeds' are both given", hint: "keep one: 'seeds: [0, 1, 2]' runs the graph once per seed")
            }
            let count = try node.list().count
            guard (1...maxSeeds).contains(count) else {
                throw node.error(.invalidValue, "lists \(count) seeds", hint: "list 1 to \(maxSeeds) seeds, e.g. seeds: [0, 1, 2]")
            }
            return try node.distinctList("seed") { try $0.uint64() }
        }
        let threads = try map.get("threads", default: 2) { try $0.int(in: 1...maxThreads) }
        let dataset = try DatasetSpec(yaml: try map.required("dataset", hint: "e.g. dataset: {kind: fashion-mnist}"))
        let model = try ModelSpec(yaml: try map.required("model", hint: "e.g. model: {arch: resnet20}"))
        // Split names become folder names (Checkpoints/<name>/<stage>/<split>/…): the same rule as `name`,
        // so no split can reach outside the pipeline's folder.
        let splits: [String] = try map.get("splits", default: []) { node in
            let items = try node.list()
            let names = try uniqueStrings(items)
            for (item, split) in zip(items, names) where !isValidName(split) {
                throw item.error(.invalidValue, "'\(split)' cannot name a split folder",
                                 hint: "use a unit name of the model (stem, block1, …): letters, digits, '.', '_' and '-', not starting with '.', at most \(maxNameLength) characters")
            }
            return names
        }
        let ratios: [Int] = try map.get("ratios", default: []) { list in
            var result: [Int] = []
            for item in try list.list() {
                let v = try item.int()
                try item.require(v >= 2 && v & (v - 1) == 0, "a power of two ≥ 2")
                if result.contains(v) { throw item.error(.invalidValue, "ratio \(v) is listed twice") }
                result.append(v)
            }
            return result
        }
        let aecnn = try map.get("aecnn", default: AECNNSettings()) { try AECNNSettings(yaml: $0) }
        let coding = try map.optional("coding").map { try CodingSettings(yaml: $0) }
        let baselines = try map.optional("baselines").map { try BaselineSettings(yaml: $0) }
        if let only = baselines?.entropic?.splits, let bad = only.first(where: { !splits.contains($0) }),
           let node = map.optional("baselines").flatMap({ try? $0.mapping(knownKeys: ["bottlenetpp", "bottlenet", "input", "entropic"]).optional("entropic") }) {
            throw node.error(.invalidValue, "splits: '\(bad.prefix(80))' is not one of the pipeline's splits (\(splits.joined(separator: ", ")))",
                             hint: "list splits of the top-level 'splits:', or leave baselines.entropic.splits out to run at all of them")
        }
        // The baselines' sections may leave `epochs` out (or be absent): they then get AECNN's training budget
        // after pruning, so the comparison is at equal epochs. AECNN's own stages are read first.
        var stages: [String: TrainingSettings] = [:]
        let stageMap = try map.optional("stages").map { try $0.mapping(knownKeys: TrainingStages.names, noun: "stage") }
        let matchedStages = TrainingStages.baselineStages
        for entry in stageMap?.entries ?? [] where !matchedStages.contains(entry.key) {
            stages[entry.key] = try TrainingSettings(yaml: entry.value, defaults: TrainingStages.defaults(for: entry.key)!)
        }
        let afterPruning = (stages["fine-tune"] ?? TrainingStages.defaults(for: "fine-tune")!).epochs
            + (stages["train-recovery"] ?? TrainingStages.defaults(for: "train-recovery")!).epochs
        var matched: [String] = []
        for stage in matchedStages {
            let frozen = stage == "train-bottlenetpp" ? (baselines?.bottlenetpp?.frozenEpochs ?? 0) : 0
            let budget = max(1, afterPruning - frozen)
            let entry = stageMap?.entries.first { $0.key == stage }
            if let entry, (try? entry.value.mapping(knownKeys: TrainingSettings.keys))?.optional("epochs") != nil {
                stages[stage] = try TrainingSettings(yaml: entry.value, defaults: TrainingStages.defaults(for: stage)!)
            } else {
                stages[stage] = try entry.map { try TrainingSettings(yaml: $0.value, defaults: TrainingStages.defaults(for: stage)!, epochs: budget) }
                    ?? { var d = TrainingStages.defaults(for: stage)!; d.epochs = budget; return d }()
                matched.append(stage)
            }
        }
        var spec = PipelineSpec(name: name, seed: seeds?.first ?? seed, threads: threads, dataset: dataset, model: model,
                                splits: splits, ratios: ratios, stages: stages, aecnn: aecnn, coding: coding, baselines: baselines)
        spec.seeds = seeds
        spec.matchedBudgets = matched
        return spec
    }

    /// Yams' composer, with its errors turned into located `PipelineSpecError`s.
    private static func compose(_ yaml: String, fileName: String) throws -> Node {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw malformed(error, yaml: yaml, fileName: fileName)
        } catch {
            throw PipelineSpecError(kind: .malformedYAML, fileName: fileName, message: "malformed YAML: \(error)")
        }
        guard let node else {
            throw PipelineSpecError(kind: .malformedYAML, fileName: fileName, line: 1, column: 1,
                                    message: "the file is empty", hint: "a pipeline needs at least 'dataset:' and 'model:'")
        }
        return node
    }

    private static func malformed(_ error: YamlError, yaml: String, fileName: String) -> PipelineSpecError {
        func located(_ mark: (line: Int, column: Int)?, _ message: String, hint: String? = nil) -> PipelineSpecError {
            PipelineSpecError(kind: .malformedYAML, fileName: fileName, line: mark?.line, column: mark?.column,
                              message: "malformed YAML: " + message, hint: hint)
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
            return located((mark.line, mark.column), problem + detail,
                           hint: "check indentation, brackets and quotes around this point")
        case let .composer(_, problem, mark, _):
            let several = problem.contains("another document")
            return located((mark.line, mark.column), several ? "more than one YAML document" : problem,
                           hint: several ? "a pipeline file holds one document; remove the '---' line" : nil)
        case let .reader(problem, offset, _, _):
            var mark: (line: Int, column: Int)?
            if let offset {
                let prefix = yaml.prefix(offset)
                let line = prefix.filter { $0 == "\n" }.count + 1
                let column = prefix.count - (prefix.lastIndex(of: "\n").map { prefix.distance(from: prefix.startIndex, to: $0) + 1 } ?? 0) + 1
                mark = (line, column)
            }
            return located(mark, problem)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return located((context.mark.line, context.mark.column), "duplicate key \(keys) in one mapping", hint: "keep one of them")
        default:
            return located(nil, error.description)
        }
    }

    /// Largest pipeline file read (the reference recipes are a few kB).
    public static let maxFileBytes = 1 << 20

    /// Most worker threads a pipeline or a command accepts.
    public static let maxThreads = 256

    /// Longest pipeline or split name (folder names stay far below the file system's 255-byte limit).
    public static let maxNameLength = 64

    /// Whether `name` can name a pipeline or split folder: letters, digits, `.`, `_`, `-`, not starting with `.`,
    /// at most `maxNameLength` characters. Names read from files another machine wrote (a merged report's splits,
    /// a submission record) are checked with the same rule before they become paths.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != ".", name.unicodeScalars.count <= maxNameLength else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)
        }
    }
}
