// `aecnn stage NAME`, `aecnn run`, `aecnn status`: the pipeline's stages one at a time, all that are not up
// to date, and where each instance stands.

import ArgumentParser
import Foundation
import Pipeline
import PipelineSpec

struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: "Pipeline file (YAML), e.g. Pipelines/smoke.yaml.")
    var pipeline: String

    @Option(name: .long, help: "Folder holding every pipeline's outputs.")
    var checkpoints = "Checkpoints"

    @Option(name: .long, help: "Override the pipeline's worker thread count (results are reproducible per thread count).")
    var threads: Int?

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

    func context() throws -> RunContext {
        var spec = try PipelineSpec.load(path: pipeline)
        if let threads { spec.threads = threads }
        return RunContext(spec: spec, checkpointsDirectory: URL(fileURLWithPath: checkpoints, isDirectory: true))
    }
}

/// Run `body` holding the pipeline's lock.
func withLock<T>(_ ctx: RunContext, _ body: () throws -> T) throws -> T {
    let lock = PipelineLock(root: ctx.root)
    try lock.acquire()
    defer { lock.release() }
    return try body()
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
    @Option(help: "Variant (e.g. the channel of train-bottlenetpp: noiseless, awgn, bec).") var variant: String?
    @Flag(help: "Rerun even if up to date (discards the instance's earlier outputs).") var force = false

    func run() throws {
        let names = StageRunner.stages.map { $0.name }
        guard let def = StageRunner.definition(name) else {
            let guess = closestMatch(to: name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw ValidationError("unknown stage '\(name)'\(guess); stages: \(names.joined(separator: ", "))")
        }
        let ctx = try options.context()
        let all = def.instances(ctx.spec)
        // Each coordinate on its own first, so the message names the one that is wrong and what exists.
        func check(_ option: String, _ given: String?, _ values: [String]) throws {
            guard let given, !values.isEmpty, !values.contains(given) else { return }
            let guess = closestMatch(to: given, among: values).map { " (did you mean '\($0)'?)" } ?? ""
            throw ValidationError("--\(option) \(given)\(guess): \(name) in \(options.pipeline) has \(option)s \(values.joined(separator: ", "))")
        }
        func distinct(_ xs: [String]) -> [String] { xs.reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }
        try check("split", split, distinct(all.compactMap(\.split)))
        try check("ratio", ratio.map(String.init), distinct(all.compactMap { $0.ratio.map(String.init) }))
        try check("variant", variant, distinct(all.compactMap(\.variant)))
        let chosen = all.filter {
            (split == nil || $0.split == split) && (ratio == nil || $0.ratio == ratio) && (variant == nil || $0.variant == variant)
        }
        guard !chosen.isEmpty else {
            throw ValidationError("\(name) has no instance for split \(split ?? "any") and ratio \(ratio.map(String.init) ?? "any") in \(options.pipeline) (splits \(ctx.spec.splits), ratios \(ctx.spec.ratios))")
        }
        try withLock(ctx) {
            for i in chosen { try StageRunner.run(i, ctx, options: StageOptions(force: force)) }
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run every stage instance that is not up to date, in dependency order.")
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let ctx = try options.context()
        let started = Date()
        try withLock(ctx) { try StageRunner.runAll(ctx) }
        FileHandle.standardError.write(Data(String(format: "pipeline %@ complete in %.0f s\n", ctx.spec.name, Date().timeIntervalSince(started)).utf8))
        let reportDir = StageRunner.directory(StageInstance("compare"), ctx)
        if let text = try? String(contentsOf: reportDir.appendingPathComponent("comparison.md"), encoding: .utf8) {
            print(text)
            FileHandle.standardError.write(Data("report with plots and stage wall times: \(reportDir.appendingPathComponent("report.md").path)\n".utf8))
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every stage instance's state: done, stale, partial, pending or failed.")
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let ctx = try options.context()
        let all = StageRunner.allInstances(ctx.spec)
        let width = (all.map(\.description.count).max() ?? 0) + 2
        for i in all {
            let state = try StageRunner.state(i, ctx)
            var line = i.description.padding(toLength: width, withPad: " ", startingAt: 0) + state.description
            if state == .done, let r = StageRunner.result(i, ctx) {
                if let acc = r["test_accuracy"] as? Double { line += String(format: "  test %.2f%%", 100 * acc) }
                if let s = r["stage_wall_seconds"] as? Double { line += String(format: "  %.0f s", s) }
            }
            print(line)
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rebuild Checkpoints/<pipeline>/report/ (comparison tables, plots, report.md) from the stages' results.")
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let ctx = try options.context()
        try withLock(ctx) {
            let dir = try CompareStage.rebuild(ctx)
            print(try String(contentsOf: dir.appendingPathComponent("comparison.md"), encoding: .utf8))
        }
    }
}
