// Stage `compare` (and `aecnn report` to rebuild it): AECNN next to its baselines and the reference rows,
// per split, under Checkpoints/<pipeline>/report/ (a seed's own folder when the pipeline lists `seeds`):
//   comparison.md/.csv/.json   per split, rows V: CA_Pruned, AECNN (float and through the real codec, with
//                              bits per element, bytes per image and overall compression ratio), BottleNet++
//                              at each channel and fixed condition, BottleNet, and AECNN against each baseline
//                              (ahead, behind or within noise); then the reference rows
//   accuracy_vs_ratio_<split>.svg, accuracy_vs_bytes_<split>.svg, importance_<split>.svg, training.svg
//   report.md                  all of it with provenance, training budgets, every stage's wall time and the
//                              pipeline file
// Gathering is ReportGathering, rendering ReportRendering; a pipeline with several seeds also gets the
// merged report in Checkpoints/<pipeline>/report/ (`mergeSeeds`).

import Foundation
import Plots
import Checkpoint
import FeatureCoding
import PipelineSpec

public enum CompareStage: TypedStage {
    public typealias Output = CompareOutput
    public static let name = "compare"
    public static let folder = "report"

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { [StageInstance(name)] }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [StageInstance(EvaluateStage.name)] + AECNNStageSupport.splitInstances(RankChannelsStage.name, spec)
            + TrainBottleNetPPStage.instances(spec) + EncodeBottleNetPPStage.instances(spec) + TrainBottleNetStage.instances(spec)
            // The ranking controls' chains, whose rows the report sets beside AECNN's.
            + [FineTuneStage.instances(spec), TrainRecoveryStage.instances(spec), EncodeFeaturesStage.instances(spec)].joined().filter { $0.controlRanking != nil }
            // The training-budget controls.
            + FineTuneMatchedStage.instances(spec) + TrainBaseContinuedStage.instances(spec)
            // The learned entropy bottleneck.
            + TrainEntropicStage.instances(spec)
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        // The reference rows are measured on the pipeline's whole test set (the first 1000 images before), in
        // compact frames (self-describing ones before), so older reports are out of date.
        try canonicalJSON(of: ["splits": spec.splits, "ratios": spec.ratios.map(String.init),
                               "reference_images": ["all"], "zstd_level": ["\(spec.coding?.zstdLevel ?? 19)"],
                               "frame_version": ["\(FeatureBitstream.compactVersion)"],
                               // The input image sent whole as JPEG; every row with its per-image predictions.
                               "input_jpeg_qualities": spec.inputJPEGQualities.map(String.init), "predictions": ["1"]])
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let report = try build(ctx, directory: directory)
        return StageProduct(Output(rows: report.rows.count, referenceRows: report.rows.filter { $0.method == .reference }.count,
                                   baseAccuracy: report.baseAccuracy), files: ["comparison.json"])
    }

    /// `aecnn report`: the report from whatever results exist (missing ones show as –), without the stage's
    /// up-to-date bookkeeping. Returns the report folder.
    public static func rebuild(_ ctx: RunContext) throws -> URL {
        let instance = StageInstance(name)
        let dir = StageRunner.directory(instance, ctx)
        let lock = PipelineLock(file: StageRunner.lockURL(instance, ctx), guarding: dir)
        try lock.acquire()
        defer { lock.release() }
        try build(ctx, directory: dir)
        return dir
    }

    /// Writes every report file of one seed into `directory`.
    @discardableResult
    static func build(_ ctx: RunContext, directory: URL) throws -> ComparisonReport {
        let report = try ReportGathering.gather(ctx, referencesCache: directory.appendingPathComponent("references.json"))
        let md = try ReportRendering.write(report, to: directory, extraPlots: seedPlots(ctx))
        ctx.log?(md)
        return report
    }

    /// The merged report of every seed of a pipeline with `seeds`, in Checkpoints/<pipeline>/report/, from
    /// each seed's comparison.json. Returns the folder.
    public static func mergeSeeds(_ contexts: [RunContext]) throws -> URL {
        guard let first = contexts.first else { throw ReportError("no seeds to merge") }
        let reports = try contexts.map { ctx in
            try ComparisonReport.read(StageRunner.directory(StageInstance(name), ctx).appendingPathComponent("comparison.json"))
        }
        let merged = try ComparisonReport.merge(reports, names: contexts.map { "seed \($0.spec.seed)" })
        let dir = first.pipelineRoot.appendingPathComponent(folder, isDirectory: true)
        let lock = PipelineLock(file: first.pipelineRoot.appendingPathComponent(".locks/merged-report.lock"), guarding: dir)
        try lock.acquire()
        defer { lock.release() }
        try ReportRendering.write(merged, to: dir)
        return dir
    }

    /// The plots that need one seed's files: channel importance per split and the training curves.
    static func seedPlots(_ ctx: RunContext) -> [(name: String, svg: String)] {
        let spec = ctx.spec
        var out: [(String, String)] = []
        for split in spec.splits {
            let rank = StageInstance(RankChannelsStage.name, split: split)
            guard let imp = RankChannelsStage.output(rank, ctx)?.importance else { continue }
            var plot = SVGPlot(title: "\(spec.name), split \(split): channel importance (mean attention)", xLabel: "channel", yLabel: "importance")
            plot.series.append(.init(name: "whole training set", points: imp.enumerated().map { (Double($0.offset), $0.element) }))
            if let file = try? RankingFile.read(StageRunner.directory(rank, ctx).appendingPathComponent("ranking.json")) {
                for (k, b) in file.batchImportance.enumerated() {
                    plot.series.append(.init(name: "random batch \(k + 1)", points: b.enumerated().map { (Double($0.offset), $0.element) }, connect: false))
                }
            }
            out.append(("importance_\(split).svg", plot.render()))
        }
        var curves = SVGPlot(title: "\(spec.name): test accuracy after each epoch", xLabel: "epoch", yLabel: "test accuracy (%)")
        struct EpochLine: Decodable { var event: String; var epoch: Int?; var testAccuracy: Double? }
        for inst in StageRunner.allInstances(spec) where StageRunner.definition(inst.stage)?.training(spec) != nil {
            let url = StageRunner.directory(inst, ctx).appendingPathComponent("metrics.jsonl")
            guard let data = try? SafeRead.contents(of: url, limit: SafeRead.recordLimit) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            let decoder = ResultJSON.decoder()
            let pts: [(x: Double, y: Double)] = text.split(separator: "\n").compactMap { line in
                guard let o = try? decoder.decode(EpochLine.self, from: Data(line.utf8)), o.event == "epoch",
                      let e = o.epoch, let a = o.testAccuracy else { return nil }
                return (Double(e), 100 * a)
            }
            if !pts.isEmpty {
                var s = SVGPlot.Series(name: inst.description, points: pts)
                s.style = SVGPlot.style(forMethod: inst.description)
                curves.series.append(s)
            }
        }
        out.append(("training.svg", curves.render()))
        return out
    }
}
