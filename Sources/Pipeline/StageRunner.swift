// The stage graph's machinery: stage instances (a stage at a split and ratio), their output folders,
// whether each is up to date, and running one with its inputs checked, its failure recorded and its result
// published last.
//
// Up to date is decided by content, as DVC's lock file does, never by timestamps: an instance's
// `inputs_sha256` hashes the canonical JSON of the settings that decide its result together with the
// `outputs_sha256` of every instance it reads; `outputs_sha256` hashes the files it wrote. result.json,
// written atomically after everything else, carries both: its presence with a matching inputs hash means done.

import Foundation
import CoInference
import TensorCore
import Autograd
import Checkpoint
import PipelineSpec

/// A stage at a split point and compression ratio (either may be absent), with a baseline's variant.
public struct StageInstance: Hashable, CustomStringConvertible, Sendable {
    public var stage: String
    public var split: String?
    public var ratio: Int?
    /// A further choice of the baseline stages: BottleNet++'s channel, BottleNet's JPEG quality.
    public var variant: StageVariant?

    public init(_ stage: String, split: String? = nil, ratio: Int? = nil, variant: StageVariant? = nil) {
        self.stage = stage; self.split = split; self.ratio = ratio; self.variant = variant
    }

    public init(_ stage: String, _ point: OperatingPoint, variant: StageVariant? = nil) {
        self.init(stage, split: point.split, ratio: point.ratio, variant: variant)
    }

    public var description: String {
        [stage, split, ratio.map { "V=\($0)" }, variant?.description].compactMap { $0 }.joined(separator: " ")
    }

    /// Folder parts below the stage's folder.
    var pathParts: [String] { [split, ratio.map(String.init), variant?.description].compactMap { $0 } }

    /// The instance as one file name stem, `<stage>[--split][--V][--variant]`: its lock, its job logs.
    public var fileStem: String { ([stage] + pathParts).joined(separator: "--") }

    /// The stage and its coordinates as `aecnn stage` takes them: "prune --split stem --ratio 4".
    public var commandArguments: String {
        stage + (split.map { " --split \($0)" } ?? "") + (ratio.map { " --ratio \($0)" } ?? "")
            + (variant.map { " --variant \($0)" } ?? "")
    }

    /// The command that runs this instance.
    public var command: String { "aecnn stage " + commandArguments }

    /// The split of a per-split instance (an instance without one is a bug in the stage graph).
    public func requireSplit() throws -> String {
        guard let split else { throw StageError.invalidSettings("\(self) has no split point") }
        return split
    }

    /// The operating point of a per-split, per-ratio instance.
    public func requirePoint() throws -> OperatingPoint {
        guard let split, let ratio else { throw StageError.invalidSettings("\(self) has no split point and ratio") }
        return OperatingPoint(split: split, ratio: ratio)
    }

    /// The operating point, when the instance has one.
    public var point: OperatingPoint? { split.flatMap { s in ratio.map { OperatingPoint(split: s, ratio: $0) } } }
}

/// What a stage's work produced: its typed output and the files whose content is its result.
public struct StageProduct {
    public var output: any StageOutput
    public var files: [String]
    public init(_ output: any StageOutput, files: [String]) { self.output = output; self.files = files }
}

/// What a stage is: its instances, inputs, deciding settings and work.
public protocol StageDefinition {
    static var name: String { get }
    /// The stage's folder below Checkpoints/<pipeline>/ (default: its name).
    static var folder: String { get }
    static func instances(_ spec: PipelineSpec) -> [StageInstance]
    static func dependencies(_ instance: StageInstance, _ spec: PipelineSpec) -> [StageInstance]
    /// Canonical JSON of every setting that decides this instance's result.
    static func settingsJSON(_ instance: StageInstance, _ spec: PipelineSpec) throws -> String
    /// Training settings, when the stage trains (its progress is then reported as epoch k of n).
    static func training(_ spec: PipelineSpec) -> TrainingSettings?
    /// Do the work in `directory`; return the typed output and the files whose content is the stage's output.
    static func execute(_ instance: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct
}

extension StageDefinition {
    public static var folder: String { name }
}

public struct StageOptions: Sendable {
    public var force = false
    /// Test hook: stop as if killed after this many optimizer steps.
    public var stopAfterSteps: Int?
    /// The instance's inputs hash, set by the runner: saved progress made under other settings is not resumed.
    public var fingerprint = ""
    public init(force: Bool = false, stopAfterSteps: Int? = nil) { self.force = force; self.stopAfterSteps = stopAfterSteps }
}

public enum InstanceState: Equatable, CustomStringConvertible {
    case done, stale(String), partial(epoch: Int, of: Int), pending, waiting(on: String), failed(String)
    /// Up to date by its inputs, but an output file is missing or changed since: `run` recomputes it.
    case damaged(String)
    public var description: String {
        switch self {
        case .done: return "done"
        case .damaged(let why): return "damaged (\(why)); aecnn run recomputes it"
        case .stale(let why): return "stale (\(why))"
        case .partial(let e, let n): return "partial (epoch \(e) of \(n), resumable)"
        case .pending: return "pending"
        case .waiting(let on): return "pending (needs \(on))"
        case .failed(let e): return "failed: \(e)"
        }
    }
}

public enum StageRunner {
    /// Every stage, in dependency order.
    public static let stages: [StageDefinition.Type] = [
        TrainBaseStage.self, TrainBaseContinuedStage.self, TrainAttentionStage.self, RankChannelsStage.self, PruneStage.self,
        FineTuneStage.self, FineTuneMatchedStage.self, TrainRecoveryStage.self, EncodeFeaturesStage.self, TrainBottleNetPPStage.self, EncodeBottleNetPPStage.self, TrainBottleNetStage.self, TrainEntropicStage.self, EvaluateStage.self, CompareStage.self,
    ]

    public static func definition(_ name: String) -> StageDefinition.Type? { stages.first { $0.name == name } }

    public static func directory(_ i: StageInstance, _ ctx: RunContext) -> URL {
        let folder = ctx.root.appendingPathComponent(definition(i.stage)?.folder ?? i.stage, isDirectory: true)
        return i.pathParts.reduce(folder) { $0.appendingPathComponent($1, isDirectory: true) }
    }

    /// The instance's lock: Checkpoints/<pipeline>/[seed-k/].locks/<stage>[--split][--V][--variant].lock
    /// (outside the instance's folder, which a forced rerun deletes).
    public static func lockURL(_ i: StageInstance, _ ctx: RunContext) -> URL {
        ctx.root.appendingPathComponent(".locks", isDirectory: true)
            .appendingPathComponent(i.fileStem + ".lock")
    }

    /// The process running the instance now, if any.
    public static func runningHolder(_ i: StageInstance, _ ctx: RunContext) -> PipelineLock.Holder? {
        PipelineLock.holder(of: lockURL(i, ctx))
    }

    public static func resultURL(_ i: StageInstance, _ ctx: RunContext) -> URL { directory(i, ctx).appendingPathComponent("result.json") }
    static func failedURL(_ i: StageInstance, _ ctx: RunContext) -> URL { directory(i, ctx).appendingPathComponent("failed.json") }

    /// The instance's published result file as JSON, if any (whether or not it is up to date): for tools
    /// that show it whole. Code that reads a value decodes the stage's output type (`TypedStage.output`).
    public static func result(_ i: StageInstance, _ ctx: RunContext) -> [String: Any]? {
        guard let data = try? SafeRead.contents(of: resultURL(i, ctx), limit: SafeRead.recordLimit) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// The runner's record of the instance's last run, if it has a result.
    public static func record(_ i: StageInstance, _ ctx: RunContext) -> RunRecord? {
        guard let data = try? SafeRead.contents(of: resultURL(i, ctx), limit: SafeRead.recordLimit) else { return nil }
        return try? ResultJSON.decoder().decode(RunRecord.self, from: data)
    }

    /// Hash of the deciding settings and the outputs of the inputs; nil while an input has no result.
    public static func inputsHash(_ i: StageInstance, _ ctx: RunContext) throws -> String? {
        guard let def = definition(i.stage) else { return nil }
        var text = try def.settingsJSON(i, ctx.spec)
        for d in def.dependencies(i, ctx.spec) {
            guard let h = record(d, ctx)?.outputsSha256 else { return nil }
            text += "\n\(d.description)=\(h)"
        }
        return SHA256.hexDigest(text)
    }

    public static func state(_ i: StageInstance, _ ctx: RunContext) throws -> InstanceState {
        guard let def = definition(i.stage) else { return .failed("unknown stage") }
        for d in def.dependencies(i, ctx.spec) where try state(d, ctx) != .done {
            if result(i, ctx) != nil { return .stale("input \(d) is not up to date") }
            // Its last attempt failed (e.g. on that input's damage): say so rather than only "needs".
            if let data = try? SafeRead.contents(of: failedURL(i, ctx), limit: SafeRead.recordLimit), let failure = try? JSONDecoder().decode(FailureRecord.self, from: data) {
                return .failed(failure.error)
            }
            return .waiting(on: d.description)
        }
        let current = try inputsHash(i, ctx)
        if FileManager.default.fileExists(atPath: resultURL(i, ctx).path) {
            guard let r = record(i, ctx) else { return .stale("its result.json is unreadable") }
            guard r.inputsSha256 == current else { return .stale(try staleness(i, ctx, recorded: r)) }
            return try quickCheck(i, ctx, r).map { .damaged($0) } ?? .done
        }
        if let data = try? SafeRead.contents(of: failedURL(i, ctx), limit: SafeRead.recordLimit), let failure = try? JSONDecoder().decode(FailureRecord.self, from: data) {
            return .failed(failure.error)
        }
        if let t = def.training(ctx.spec), let epoch = latestEpoch(directory(i, ctx)) {
            return .partial(epoch: epoch, of: t.epochs)
        }
        return .pending
    }

    /// Why a result is out of date: the settings that changed (old → new) and the inputs whose outputs changed,
    /// as far as the result recorded them.
    static func staleness(_ i: StageInstance, _ ctx: RunContext, recorded r: RunRecord) throws -> String {
        guard let def = definition(i.stage) else { return "unknown stage" }
        var reasons: [String] = []
        if let old = r.settings {
            let new = try def.settingsJSON(i, ctx.spec)
            if old != new {
                let changes = SettingsDiff.changes(from: old, to: new)
                reasons.append(changes.isEmpty ? "settings changed" : "settings changed: " + changes.prefix(4).joined(separator: "; ")
                               + (changes.count > 4 ? "; and \(changes.count - 4) more" : ""))
            }
        }
        if let recorded = r.inputOutputs {
            for d in def.dependencies(i, ctx.spec) where recorded[d.description] != record(d, ctx)?.outputsSha256 {
                reasons.append("the outputs of \(d) changed")
            }
        }
        return reasons.isEmpty ? "settings or inputs changed" : reasons.joined(separator: "; ")
    }

    /// The cheap check of a done instance's outputs on every look: each file present with the size it had; a
    /// file whose modification time moved (a copy, a touch) is hashed again. Nil when they are as recorded.
    static func quickCheck(_ i: StageInstance, _ ctx: RunContext, _ r: RunRecord) throws -> String? {
        guard let stats = r.outputStats else { return nil }   // results written before sizes were recorded
        let dir = directory(i, ctx)
        var moved = false
        for f in r.outputs {
            guard let s = stats[f] else { continue }
            guard let a = try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(f).path) else { return "\(f) is missing" }
            let size = (a[.size] as? NSNumber)?.intValue ?? -1
            if size != s.size { return "\(f) has \(size) bytes, \(s.size) were written" }
            if ((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) != s.modified { moved = true }
        }
        if moved, try outputsHash(r.outputs, in: dir) != r.outputsSha256 { return "its files no longer hash to what it recorded" }
        return nil
    }

    /// Size and modification time of each output file, for `quickCheck`.
    static func outputStats(_ outputs: [String], in dir: URL) -> [String: RunRecord.FileStat] {
        var out: [String: RunRecord.FileStat] = [:]
        for f in outputs {
            guard let a = try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(f).path) else { continue }
            out[f] = RunRecord.FileStat(size: (a[.size] as? NSNumber)?.intValue ?? -1,
                                        modified: (a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        }
        return out
    }

    static func latestEpoch(_ dir: URL) -> Int? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("state").path)) ?? []
        return names.filter { $0.hasSuffix(".manifest.json") && $0.hasPrefix("epoch-") }
            .compactMap { Int($0.dropFirst(6).prefix(4)) }.max()
    }

    /// The SHA-256 over an instance's output files, as recorded in its result (`outputs_sha256`).
    static func outputsHash(_ outputs: [String], in dir: URL) throws -> String {
        var hasher = SHA256()
        for f in outputs.sorted() {
            hasher.update(Array(f.utf8))
            hasher.update(Array(try SHA256.hexDigest(ofFile: dir.appendingPathComponent(f)).utf8))
        }
        return SHA256.hex(hasher.finalize())
    }

    /// Throws, naming the file and the stage to rerun, when a done instance's output files are missing or no
    /// longer hash to what its result recorded.
    public static func verifyOutputs(_ i: StageInstance, _ ctx: RunContext) throws {
        guard let r = record(i, ctx) else { return }
        let recorded = r.outputsSha256, outputs = r.outputs
        let dir = directory(i, ctx)
        let fix = "Fix: rerun it with '\(i.command) --pipeline <file> --force'"
        for f in outputs where !FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path) {
            throw StageError.invalidSettings("\(dir.appendingPathComponent(f).path), an output of \(i), is missing. \(fix)")
        }
        if try outputsHash(outputs, in: dir) != recorded {
            throw StageError.invalidSettings("the outputs of \(i) in \(dir.path) (\(outputs.joined(separator: ", "))) differ from what it recorded: damaged or replaced. \(fix)")
        }
    }

    struct FailureRecord: Codable { var error: String; var stage: String }

    /// Writes the error into the instance's failed.json (what `status` shows).
    static func recordFailure(_ error: Error, _ i: StageInstance, _ ctx: RunContext) {
        let record = FailureRecord(error: String(describing: error), stage: i.description)
        try? FileManager.default.createDirectory(at: failedURL(i, ctx).deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try? AtomicFile.write(try encoder.encode(record), to: failedURL(i, ctx))
    }

    /// Run one instance: its inputs must be done; a done instance is skipped unless forced.
    @discardableResult
    public static func run(_ i: StageInstance, _ ctx: RunContext, options: StageOptions = StageOptions()) throws -> StageSummary {
        guard let def = definition(i.stage) else { throw StageError.invalidSettings("unknown stage \(i.stage)") }
        guard def.instances(ctx.spec).contains(i) else {
            throw StageError.invalidSettings("\(i) is not part of pipeline \(ctx.spec.name): its splits are \(ctx.spec.splits) and ratios \(ctx.spec.ratios)")
        }
        Parallel.threads = ctx.spec.threads
        ProcessMemory.configureAllocatorForTraining()
        for d in def.dependencies(i, ctx.spec) {
            let s = try state(d, ctx)
            if s == .done { continue }
            // A damaged input is named with the file and the command that recomputes it.
            if case .damaged = s {
                do { try verifyOutputs(d, ctx) } catch { recordFailure(error, i, ctx); throw error }
            }
            // Name the first instance upstream that can run now, not only the direct input.
            let first = try upstream(of: [i], ctx).first { try state($0, ctx) != .done } ?? d
            let exists = FileManager.default.fileExists(atPath: resultURL(d, ctx).path)
            throw StageError.missingUpstream(stage: i.description, path: resultURL(d, ctx).path,
                                             first: first.commandArguments + " --pipeline <file>", target: i.command + " --pipeline <file>",
                                             state: exists ? "\(d) is \(s)" : nil)
        }
        // Inputs are read from disk: check their files against the hashes their results recorded before
        // anything of this instance is touched (a damaged input must not cost a forced rerun its old outputs).
        do {
            for d in def.dependencies(i, ctx.spec) { try verifyOutputs(d, ctx) }
        } catch {
            recordFailure(error, i, ctx)
            throw error
        }
        let dir = directory(i, ctx)
        // One process per instance; others may run other instances of the pipeline at the same time.
        let lock = PipelineLock(file: lockURL(i, ctx), guarding: dir)
        try lock.acquire()
        defer { lock.release() }
        recoverSwap(dir)
        if !options.force, try state(i, ctx) == .done {
            ctx.log?("\(i): up to date; --force reruns it")
            return StageSummary(stage: i.stage, skipped: true)
        }
        // A file where the instance's folder or its progress folder belongs is named with the fix, not left to
        // Foundation's "list directory failed … Code=256".
        for (url, role) in [(dir, "the folder of \(i)'s outputs"), (dir.appendingPathComponent("state"), "the folder of \(i)'s resumable progress")] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw StageError.invalidSettings("\(url.path) is a file where aecnn keeps \(role) (a folder). Fix: move or remove that file, then rerun '\(i.command) --pipeline <file>'")
            }
        }
        // A forced rerun works in a fresh folder next to the instance's and swaps it in only when it completes:
        // until then (an interruption, a failure) the earlier outputs and result stay as they were. The same
        // forced command resumes in that folder.
        let fresh = dir.deletingLastPathComponent().appendingPathComponent("." + dir.lastPathComponent + ".forced", isDirectory: true)
        let work = options.force ? fresh : dir
        if !options.force {
            try? FileManager.default.removeItem(at: resultURL(i, ctx))
            try? FileManager.default.removeItem(at: failedURL(i, ctx))
        }
        try FileIOError.createDirectory(at: work, detail: "Fix: Checkpoints must be a writable folder (choose one with --checkpoints DIR)")
        // A forced rerun's folder too: a temporary file there is what a killed forced run left half-written.
        if options.force { lock.removeStaleTemporaries(in: work) }
        guard let inputs = try inputsHash(i, ctx) else { throw StageError.invalidSettings("\(i): inputs disappeared") }
        let started = Date()
        var produced: StageProduct
        var options = options
        options.fingerprint = inputs
        do {
            produced = try def.execute(i, ctx, directory: work, options: options)
        } catch let e as Trainer.Interrupted {
            throw e
        } catch {
            recordFailure(error, i, ctx)
            throw error
        }
        // The result is encoded before anything is published: a non-finite figure (a diverged training) leaves
        // no outputs behind, the earlier ones of a forced rerun stay, and the error names the figure.
        let output: [String: Any]
        do { output = try ResultJSON.object(AnyStageOutput(produced.output)) } catch is EncodingError {
            let fields = ResultJSON.nonFiniteFields(AnyStageOutput(produced.output))
            for f in produced.files {   // with a checkpoint's manifest beside it
                try? FileManager.default.removeItem(at: work.appendingPathComponent(f))
                if f.hasSuffix(".safetensors") { try? FileManager.default.removeItem(at: work.appendingPathComponent(String(f.dropLast(12)) + ".manifest.json")) }
            }
            if options.force { try? FileManager.default.removeItem(at: fresh) }
            let error = StageError.invalidSettings("\(i) produced a non-finite number (\(fields.isEmpty ? "in its result" : fields.joined(separator: ", "))): its training diverged (NaN or ∞ loss) or its test set is empty. Nothing was published\(options.force ? " (the earlier outputs stay)" : ""). Fix: lower the learning rate or check the data set, then rerun '\(i.command) --pipeline <file>'")
            recordFailure(error, i, ctx)
            throw error
        }
        if options.force {
            // Swap: the old folder aside, the fresh one in place, the old one removed (`recoverSwap` finishes a
            // swap cut short between the two renames).
            let old = dir.deletingLastPathComponent().appendingPathComponent("." + dir.lastPathComponent + ".replaced", isDirectory: true)
            try? FileManager.default.removeItem(at: old)
            if FileManager.default.fileExists(atPath: dir.path) { try FileManager.default.moveItem(at: dir, to: old) }
            try FileManager.default.moveItem(at: fresh, to: dir)
            try? FileManager.default.removeItem(at: old)
            try? FileManager.default.removeItem(at: resultURL(i, ctx))
            try? FileManager.default.removeItem(at: failedURL(i, ctx))
        }
        var inputOutputs: [String: String] = [:]
        for d in def.dependencies(i, ctx.spec) { inputOutputs[d.description] = record(d, ctx)?.outputsSha256 }
        let record = RunRecord(stage: i.stage, split: i.split, ratio: i.ratio, variant: i.variant?.description, pipeline: ctx.spec.name,
                               seed: ctx.spec.seeds == nil ? nil : ctx.spec.seed,
                               inputsSha256: inputs, settings: try def.settingsJSON(i, ctx.spec), inputOutputs: inputOutputs, outputsSha256: try outputsHash(produced.files, in: dir), outputs: produced.files.sorted(),
                               stageWallSeconds: Date().timeIntervalSince(started), threads: Parallel.threads, blasCore: BLAS.coreName,
                               convKernels: Kernels.convKernelName, peakRssBytes: ProcessMemory.peakResidentBytes,
                               cpu: Machine.cpuDescription, aecnnVersion: ctx.buildVersion,
                               outputStats: outputStats(produced.files, in: dir))
        // One JSON object: the stage's output and the runner's record (the record wins a shared key).
        var result = output
        result.merge(try ResultJSON.object(record)) { _, r in r }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted]), to: resultURL(i, ctx))
        return StageSummary(stage: i.stage, skipped: false)
    }

    /// A forced rerun's swap cut short after the old folder was moved aside: put it back (the fresh folder is
    /// still there and the forced command resumes in it).
    static func recoverSwap(_ dir: URL) {
        let old = dir.deletingLastPathComponent().appendingPathComponent("." + dir.lastPathComponent + ".replaced", isDirectory: true)
        if !FileManager.default.fileExists(atPath: dir.path), FileManager.default.fileExists(atPath: old.path) {
            try? FileManager.default.moveItem(at: old, to: dir)
        }
    }

    /// Every instance that `targets` need, transitively, in dependency order (the targets last).
    public static func upstream(of targets: [StageInstance], _ ctx: RunContext) throws -> [StageInstance] {
        var needed = Set(targets), frontier = targets
        while let i = frontier.popLast() {
            for d in definition(i.stage)?.dependencies(i, ctx.spec) ?? [] where !needed.contains(d) {
                needed.insert(d)
                frontier.append(d)
            }
        }
        return allInstances(ctx.spec).filter { needed.contains($0) }
    }

    /// Runs what `targets` need and the targets themselves, as `dvc repro TARGET` does: every instance
    /// upstream that is not up to date, in dependency order.
    public static func runWithUpstream(_ targets: [StageInstance], _ ctx: RunContext, options: StageOptions = StageOptions()) throws {
        let targetSet = Set(targets)
        for i in try upstream(of: targets, ctx) {
            if targetSet.contains(i) {
                try run(i, ctx, options: options)
            } else if try state(i, ctx) != .done {
                ctx.log?("== \(i) (upstream)")
                try run(i, ctx, options: StageOptions(stopAfterSteps: options.stopAfterSteps))
            }
        }
    }

    /// Every instance of the pipeline in dependency order.
    public static func allInstances(_ spec: PipelineSpec) -> [StageInstance] { stages.flatMap { $0.instances(spec) } }

    /// Run every instance that is not up to date, in dependency order. An instance another process is running
    /// is left to it, and so is everything downstream of it (rerun when that process is done).
    public static func runAll(_ ctx: RunContext, options: StageOptions = StageOptions()) throws {
        var leftToOthers = Set<StageInstance>()
        for i in allInstances(ctx.spec) {
            if let d = definition(i.stage)?.dependencies(i, ctx.spec).first(where: { leftToOthers.contains($0) }) {
                ctx.log?("\(i): waits for \(d), which another process is running; left for later")
                leftToOthers.insert(i)
                continue
            }
            if try state(i, ctx) == .done { continue }
            ctx.log?("== \(i)")
            do {
                try run(i, ctx, options: options)
            } catch StageError.locked(_, let holder) {
                ctx.log?("\(i): another process (\(holder)) is running it; left to it")
                leftToOthers.insert(i)
            }
        }
        if !leftToOthers.isEmpty {
            ctx.log?("\(leftToOthers.count) instance(s) left to other processes: run this again when they are done")
        }
    }

    /// A stable 64-bit seed for an instance, derived from the pipeline seed.
    public static func seed(_ i: StageInstance, _ spec: PipelineSpec) -> UInt64 {
        let digest = SHA256.hash(Array("\(spec.seed)/\(i.description)".utf8))
        return digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
