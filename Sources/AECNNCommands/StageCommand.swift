// `aecnn stage NAME`, `aecnn run`, `aecnn status`: the pipeline's stages one at a time, all that are not up
// to date, and where each instance stands.

import ArgumentParser
import Foundation
import Checkpoint
import Pipeline
import CoInference
import PipelineSpec
import BuildStamp

/// The build, as results and reports record it.
let buildDescription: String? = BuildInfo.description

struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: "Pipeline file (YAML), e.g. Pipelines/smoke.yaml.")
    var pipeline: String

    @Option(name: .long, help: "Folder holding every pipeline's outputs.")
    var checkpoints = "Checkpoints"

    @Option(name: .long, help: "Override the pipeline's worker thread count (results are reproducible per thread count).")
    var threads: Int?

    @Option(name: .long, help: "With a pipeline that lists seeds: work on this one only (default: stage, run, status and report take every seed; other commands the first).")
    var seed: UInt64?

    func validate() throws {
        if checkpoints.isEmpty {
            throw ValidationError("--checkpoints is empty. Fix: name a folder, e.g. --checkpoints Checkpoints")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: checkpoints, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("--checkpoints \(checkpoints) is a file, not a folder. Fix: name a folder (it is created if missing)")
        }
        if let threads { try OptionRange.check("threads", threads, 1...PipelineSpec.maxThreads) }
    }

    /// The context of `--seed` (default: the pipeline's first seed).
    func context() throws -> RunContext {
        try runContexts(pipeline: pipeline, checkpoints: checkpoints, threads: threads, seed: seed, every: false)[0]
    }

    /// The contexts of `--seed`, or of every seed of the pipeline.
    func contexts() throws -> [RunContext] {
        try runContexts(pipeline: pipeline, checkpoints: checkpoints, threads: threads, seed: seed, every: true)
    }
}

/// Run contexts of a pipeline file: for `seed`, else for every seed (`every`) or the first.
func runContexts(pipeline: String, checkpoints: String, threads: Int?, seed: UInt64?, every: Bool) throws -> [RunContext] {
    var spec = try PipelineSpec.load(path: pipeline)
    if let threads { spec.threads = threads }
    if let seed, !spec.seedList.contains(seed) {
        throw ValidationError("--seed \(seed): \(pipeline) runs with seed\(spec.seedList.count == 1 ? "" : "s") \(spec.seedList.map(String.init).joined(separator: ", ")). Fix: pick one of those, or list \(seed) under seeds:")
    }
    let seeds = seed.map { [$0] } ?? (every ? spec.seedList : [spec.seedList[0]])
    let text = (try? SafeRead.contents(of: URL(fileURLWithPath: pipeline), limit: PipelineSpec.maxFileBytes)).map { String(decoding: $0, as: UTF8.self) }
    return seeds.map { s in
        let ctx = RunContext(spec: spec, checkpointsDirectory: URL(fileURLWithPath: checkpoints, isDirectory: true), seed: s)
        ctx.buildVersion = buildDescription
        ctx.pipelineText = text
        return ctx
    }
}


struct Stage: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run stages of a pipeline (resumable: run the same command again after an interruption).",
        discussion: "Stages, in order: " + StageRunner.stages.map { $0.name }.joined(separator: ", ")
            + ". Per-split stages take --split, per-ratio stages --split and --ratio; without them every instance of the stage runs.")

    @Argument(help: "Stage name.") var name: String
    @OptionGroup var options: PipelineOptions
    @Option(help: "Split point (per-split stages).") var split: String?
    @Option(help: "Compression ratio V (per-ratio stages).") var ratio: Int?
    @Option(help: "Variant: the channel of train-bottlenetpp (noiseless, awgn, bec), the JPEG quality of train-bottlenet (q20), or the ranking of a chain of rank-channels, prune, fine-tune, train-recovery and encode-features (l1, random; attention: AECNN's own instances).") var variant: String?
    @Flag(help: "Rerun even if up to date, in a fresh folder swapped in when it completes (the earlier outputs stay until then; the same command resumes an interrupted rerun).") var force = false
    @Flag(name: .customLong("with-upstream"), help: "First run every instance upstream that is not up to date (as `dvc repro`); --force applies to the named instances only.") var withUpstream = false

    func run() throws {
        let names = StageRunner.stages.map { $0.name }
        guard let def = StageRunner.definition(name) else {
            let guess = closestMatch(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw ValidationError("unknown stage '\(name)'\(guess); stages: \(names.joined(separator: ", "))")
        }
        let contexts = try options.contexts()
        let all = def.instances(contexts[0].spec)
        // Each coordinate on its own first, so the message names the one that is wrong and what exists.
        func check(_ option: String, _ given: String?, _ values: [String]) throws {
            guard let given, !values.isEmpty, !values.contains(given) else { return }
            let guess = closestMatch(to: given, among: values).map { " (did you mean '\($0)'?)" } ?? ""
            throw ValidationError("--\(option) \(given)\(guess): \(name) in \(options.pipeline) has \(option)s \(values.joined(separator: ", "))")
        }
        func distinct(_ xs: [String]) -> [String] { xs.reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }
        try check("split", split, distinct(all.compactMap(\.split)))
        try check("ratio", ratio.map(String.init), distinct(all.compactMap { $0.ratio.map(String.init) }))
        // AECNN's own chain has no variant: among a ranking chain stage's instances `--variant attention` names it.
        let chain = RankingChains.stages.contains(name)
        func variantName(_ i: StageInstance) -> String? { i.variant?.description ?? (chain ? AECNNSettings.RankingMethod.attention.rawValue : nil) }
        if chain, let variant, let m = AECNNSettings.RankingMethod(rawValue: variant), !contexts[0].spec.aecnn.rankMethods.contains(m) {
            throw ValidationError("--variant \(variant): \(options.pipeline) has no \(variant) ranking chain (aecnn.rank.methods is [\(contexts[0].spec.aecnn.rankMethods.map(\.rawValue).joined(separator: ", "))]). Fix: add \(variant) to aecnn.rank.methods (docs/pipeline.md)")
        }
        try check("variant", variant, distinct(all.compactMap(variantName)))
        let chosen = all.filter {
            (split == nil || $0.split == split) && (ratio == nil || $0.ratio == ratio) && (variant == nil || variantName($0) == variant)
        }
        guard !chosen.isEmpty else {
            throw ValidationError("\(name) has no instance for split \(split ?? "any"), ratio \(ratio.map(String.init) ?? "any") and variant \(variant ?? "any") in \(options.pipeline) (splits \(contexts[0].spec.splits), ratios \(contexts[0].spec.ratios), rankings \(contexts[0].spec.aecnn.rankMethods.map(\.rawValue)))")
        }
        for ctx in contexts {
            if contexts.count > 1 { ctx.log?("== seed \(ctx.spec.seed)") }
            // Each instance takes its own lock: another process may run other instances meanwhile.
            if withUpstream {
                try StageRunner.runWithUpstream(chosen, ctx, options: StageOptions(force: force))
            } else {
                for i in chosen { try StageRunner.run(i, ctx, options: StageOptions(force: force)) }
            }
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every stage instance that is not up to date, in dependency order.",
        discussion: "With --jobs N, up to N ready instances run at once, each as its own `aecnn stage` process with threads/N threads: the results are those of --threads threads/N (results are reproducible per thread count). Instances done with the pipeline's threads make --jobs refuse (rather than train them again) unless --rerun-at-job-threads is given.")
    @OptionGroup var options: PipelineOptions
    @Option(help: "Run up to this many instances at once, dividing the pipeline's threads among them (1 … threads).") var jobs: Int = 1
    @Flag(name: .customLong("rerun-at-job-threads"), help: "With --jobs: rerun the instances done at the pipeline's thread count with threads/N (replacing their outputs); without it --jobs refuses to.") var rerunAtJobThreads = false

    func validate() throws {
        try OptionRange.check("jobs", jobs, 1...PipelineSpec.maxThreads)
    }

    func run() throws {
        var contexts = try options.contexts()
        let started = Date()
        if jobs > 1 {
            contexts = try ParallelRun(options: options, contexts: contexts, jobs: jobs, rerunAtJobThreads: rerunAtJobThreads).run()
        } else {
            for ctx in contexts {
                if contexts.count > 1 { ctx.log?("== seed \(ctx.spec.seed)") }
                try StageRunner.runAll(ctx)
            }
        }
        let ctx = contexts[0]
        FileHandle.standardError.write(Data(String(format: "pipeline %@ complete in %.0f s\n", ctx.spec.name, Date().timeIntervalSince(started)).utf8))
        var reportDir = StageRunner.directory(StageInstance("compare"), ctx)
        if ctx.spec.seeds != nil && options.seed == nil {
            reportDir = try CompareStage.mergeSeeds(contexts)
        }
        if let text = try? String(contentsOf: reportDir.appendingPathComponent("comparison.md"), encoding: .utf8) {
            print(text)
            FileHandle.standardError.write(Data("report with plots and stage wall times: \(reportDir.appendingPathComponent("report.md").path)\n".utf8))
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every stage instance's state: done, stale (and why), partial, pending or failed.")
    @OptionGroup var options: PipelineOptions
    @Flag(help: "Hash every done instance's output files against its result: damaged or missing files show as such.") var verify = false

    func run() throws {
        struct Accuracy: Decodable { var testAccuracy: Double? }
        for ctx in try options.contexts() {
            if ctx.spec.seeds != nil { print("seed \(ctx.spec.seed) (\(ctx.root.path))") }
            let all = StageRunner.allInstances(ctx.spec)
            let width = (all.map(\.description.count).max() ?? 0) + 2
            for i in all {
                let state = try StageRunner.state(i, ctx)
                var stateText = state.description
                if verify, state == .done {
                    do { try StageRunner.verifyOutputs(i, ctx) } catch { stateText = "damaged: \(error)" }
                }
                var line = (ctx.spec.seeds != nil ? "  " : "") + i.description.padding(toLength: width, withPad: " ", startingAt: 0) + stateText
                if state == .done, stateText == state.description, let r = StageRunner.record(i, ctx) {
                    let figures = try? SnakeCaseJSON.decoder().decode(Accuracy.self, from: SafeRead.contents(of: StageRunner.resultURL(i, ctx), limit: SafeRead.recordLimit))
                    if let acc = figures?.testAccuracy { line += String(format: "  test %.2f%%", 100 * acc) }
                    line += String(format: "  %.0f s", r.stageWallSeconds)
                }
                if let h = StageRunner.runningHolder(i, ctx) { line += "  running (\(h))" }
                print(line)
            }
        }
    }
}

struct Report: ParsableCommand {
    /// `--output` of a merge: a folder (or a path to create one at) that holds none of the inputs, so that the
    /// merge cannot replace a report it reads.
    static func checkMergeOutput(_ dir: URL, inputs: [String]) throws {
        let out = dir.standardizedFileURL.resolvingSymlinksInPath().path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("--output \(dir.path) is a file, not a folder. Fix: name a new or existing folder for the merged report")
        }
        for input in inputs {
            let folder = URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().deletingLastPathComponent().path
            if folder == out {
                throw ValidationError("--output \(dir.path) is the folder of the input \(input): the merged report would replace it. Fix: choose another folder, e.g. --output \(dir.path)-merged")
            }
        }
    }

    static let configuration = CommandConfiguration(
        abstract: "Rebuild Checkpoints/<pipeline>/report/ (comparison tables, plots, report.md) from the stages' results, or merge reports of separate runs.",
        discussion: """
        With --pipeline: each seed's report from whatever results exist (a missing result shows as –), and for a pipeline \
        with several seeds the merged report (mean ± standard deviation per cell) in Checkpoints/<pipeline>/report/.
        With --merge: the comparison.json files of separate runs of one pipeline (e.g. seeds run on different machines) \
        merged into --output.
        """)
    @Option(help: "Pipeline file (YAML), e.g. Pipelines/smoke.yaml.") var pipeline: String?
    @Option(name: .long, help: "Folder holding every pipeline's outputs.") var checkpoints = "Checkpoints"
    @Option(name: .long, help: "With a pipeline that lists seeds: rebuild this seed's report only.") var seed: UInt64?
    @Option(name: .long, parsing: .upToNextOption, help: "comparison.json files of separate runs to merge.") var merge: [String] = []
    @Option(help: "Folder for the merged report (with --merge).") var output: String?

    func validate() throws {
        if pipeline == nil && merge.isEmpty { throw ValidationError("give --pipeline <file> or --merge <comparison.json> … --output <folder>") }
        if pipeline != nil && !merge.isEmpty { throw ValidationError("--pipeline and --merge are separate uses: give one") }
        if !merge.isEmpty {
            guard merge.count >= 1, let output, !output.isEmpty else { throw ValidationError("--merge needs --output <folder> for the merged report") }
        }
    }

    func run() throws {
        if !merge.isEmpty, let output {
            let dir = URL(fileURLWithPath: output, isDirectory: true)
            try Self.checkMergeOutput(dir, inputs: merge)
            let reports = try merge.map { try ComparisonReport.read(URL(fileURLWithPath: $0)) }
            let merged = try ComparisonReport.merge(reports, names: merge)
            print(try ReportRendering.write(merged, to: dir))
            FileHandle.standardError.write(Data("merged report of seed\(merged.seeds.count == 1 ? "" : "s") \(merged.seeds.map(String.init).joined(separator: ", ")): \(dir.appendingPathComponent("report.md").path)\n".utf8))
            return
        }
        guard let pipeline else { return }
        if checkpoints.isEmpty { throw ValidationError("--checkpoints is empty. Fix: name a folder, e.g. --checkpoints Checkpoints") }
        let contexts = try runContexts(pipeline: pipeline, checkpoints: checkpoints, threads: nil, seed: seed, every: true)
        var last = ""
        for ctx in contexts {
            let dir = try CompareStage.rebuild(ctx)
            last = try String(contentsOf: dir.appendingPathComponent("comparison.md"), encoding: .utf8)
        }
        if contexts[0].spec.seeds != nil && seed == nil {
            let dir = try CompareStage.mergeSeeds(contexts)
            last = try String(contentsOf: dir.appendingPathComponent("comparison.md"), encoding: .utf8)
        }
        print(last)
    }
}
