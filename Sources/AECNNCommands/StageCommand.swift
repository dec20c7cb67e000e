// `aecnn stage NAME --pipeline FILE`: run one stage of a pipeline.

import ArgumentParser
import Foundation
import Pipeline
import PipelineSpec

struct PipelineOptions: ParsableArguments {
    @Option(name: .long, help: "Pipeline file (YAML), e.g. Pipelines/smoke.yaml.")
    var pipeline: String

    @Option(name: .long, help: "Folder holding every pipeline's outputs.")
    var checkpoints = "Checkpoints"

    @Option(name: .long, help: "Override the pipeline's worker thread count.")
    var threads: Int?

    func context() throws -> RunContext {
        var spec = try PipelineSpec.load(path: pipeline)
        if let threads { spec.threads = threads }
        return RunContext(spec: spec, checkpointsDirectory: URL(fileURLWithPath: checkpoints, isDirectory: true))
    }
}

struct Stage: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one stage of a pipeline (resumable: run the same command again after an interruption).",
        subcommands: [TrainBase.self])
}

struct TrainBase: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train-base", abstract: "Train the base CNN.")
    @OptionGroup var options: PipelineOptions
    @Flag(help: "Retrain even if the stage is up to date (discards its earlier outputs).") var force = false

    func run() throws {
        _ = try TrainBaseStage.run(try options.context(), force: force)
    }
}
