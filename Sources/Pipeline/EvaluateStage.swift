// Stage `evaluate`: the paper's Table I for this pipeline — test accuracy of the base model, the pruned
// network before fine-tuning, CA_Pruned (fine-tune) and AECNN (train-recovery) at every (split, V), with
// the split tensor shape, the transmitted shape and the device half's FLOPs — as Markdown, CSV and JSON
// under Checkpoints/<pipeline>/evaluate/. Accuracies are the held-out test set's, all on the same images,
// as each stage measured them on its final weights. The tables hold no timings (those are in each stage's
// result.json), so the same pipeline gives the same bytes. With a `coding:` section it also gathers every
// encode-features row into coding.md/csv/json (reports holding encode/decode times, so not part of the
// hashed outputs).

import Foundation
import CoInference
import Checkpoint
import PipelineSpec

/// One row of Table I.
public struct EvaluateRow: Codable, Sendable {
    public var split: String
    public var ratio: Int
    public var splitShape: [Int]?
    public var transmittedShape: [Int]?
    public var baseAccuracy: Double?
    public var prunedNoFinetuneAccuracy: Double?
    public var caPrunedAccuracy: Double?
    public var aecnnAccuracy: Double?
    public var deviceFlops: Int?
    public var deviceFlopsUnpruned: Int?
    public var recoveryParameters: Int?
    public var recoveryFlops: Int?
}

/// table.json.
public struct EvaluateTable: Codable, Sendable {
    public var pipeline: String
    public var baseAccuracy: Double?
    public var testImages: Int
    public var rows: [EvaluateRow]
}

public enum EvaluateStage: TypedStage {
    public typealias Output = EvaluateOutput
    public static let name = "evaluate"

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { [StageInstance(name)] }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [TrainBaseStage.instance] + AECNNStageSupport.ratioInstances(PruneStage.name, spec)
            + AECNNStageSupport.ratioInstances(FineTuneStage.name, spec) + AECNNStageSupport.ratioInstances(TrainRecoveryStage.name, spec)
            + EncodeFeaturesStage.aecnnInstances(spec)
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        try canonicalJSON(of: ["splits": spec.splits, "ratios": spec.ratios.map(String.init)])
    }

    static func pct(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%.2f", 100 * $0) : "–" } ?? "–" }
    static func shape(_ x: [Int]?) -> String { (x ?? []).map(String.init).joined(separator: "×") }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws -> StageProduct {
        let baseAcc = TrainBaseStage.output(TrainBaseStage.instance, ctx)?.training.testAccuracy
        let images = try ctx.testImages().count
        var rows: [EvaluateRow] = []
        for split in ctx.spec.splits { for v in ctx.spec.ratios {
            let point = OperatingPoint(split: split, ratio: v)
            let p = PruneStage.output(StageInstance(PruneStage.name, point), ctx)
            let f = FineTuneStage.output(StageInstance(FineTuneStage.name, point), ctx)
            let a = TrainRecoveryStage.output(StageInstance(TrainRecoveryStage.name, point), ctx)
            rows.append(EvaluateRow(split: split, ratio: v, splitShape: p?.splitShape, transmittedShape: p?.transmittedShape,
                                    baseAccuracy: baseAcc, prunedNoFinetuneAccuracy: p?.testAccuracyBeforeFineTuning,
                                    caPrunedAccuracy: f?.training.testAccuracy, aecnnAccuracy: a?.training.testAccuracy,
                                    deviceFlops: p?.deviceFlops, deviceFlopsUnpruned: p?.deviceFlopsUnpruned,
                                    recoveryParameters: a?.fields.recoveryParameters, recoveryFlops: a?.fields.recoveryFlops))
        } }
        var md = "# \(ctx.spec.name): accuracy under compression (test set, %)\n\n"
        md += "Every accuracy on the same \(images) test images. Base model (no split): \(pct(baseAcc)) %. "
        md += "Bold: the highest accuracy of each row, when it leads the next by more than twice the standard error of the difference (√(p(1−p)/N) each); otherwise no entry is bold.\n\n"
        md += "| split | C×H×W | V | pruned, no fine-tune | CA_Pruned | AECNN | sent C'×H×W | device MFLOP (unpruned) | FR params |\n"
        md += "|---|---|---|---|---|---|---|---|---|\n"
        var csv = "split,split_shape,ratio,base_accuracy,pruned_no_finetune_accuracy,ca_pruned_accuracy,aecnn_accuracy,transmitted_shape,device_flops,device_flops_unpruned,recovery_parameters\r\n"
        func s<T>(_ x: T?) -> String { x.map { "\($0)" } ?? "" }
        for row in rows {
            let flops = row.deviceFlops.map { d in String(format: "%.2f (%.2f)", Double(d) / 1e6, Double(row.deviceFlopsUnpruned ?? 0) / 1e6) } ?? "–"
            let accuracies = [row.prunedNoFinetuneAccuracy, row.caPrunedAccuracy, row.aecnnAccuracy]
            let best = bestIndices(accuracies, images: images)
            let cells = accuracies.enumerated().map { k, v in best.contains(k) ? "**\(pct(v))**" : pct(v) }
            md += "| \(row.split) | \(shape(row.splitShape)) | \(row.ratio) | \(cells.joined(separator: " | ")) | \(shape(row.transmittedShape)) | \(flops) | \(row.recoveryParameters.map(String.init) ?? "–") |\n"
            csv += [row.split, shape(row.splitShape), "\(row.ratio)", s(baseAcc), s(row.prunedNoFinetuneAccuracy), s(row.caPrunedAccuracy),
                    s(row.aecnnAccuracy), shape(row.transmittedShape), s(row.deviceFlops), s(row.deviceFlopsUnpruned), s(row.recoveryParameters)]
                .map(csvField).joined(separator: ",") + "\r\n"
        }
        let table = EvaluateTable(pipeline: ctx.spec.name, baseAccuracy: baseAcc, testImages: images, rows: rows)
        try AtomicFile.write(Data(md.utf8), to: directory.appendingPathComponent("table.md"))
        try AtomicFile.write(Data(csv.utf8), to: directory.appendingPathComponent("table.csv"))
        try AtomicFile.write(try ResultJSON.encoder().encode(table), to: directory.appendingPathComponent("table.json"))
        ctx.log?(md)
        let outputs = ["table.md", "table.csv", "table.json"]
        // The encode-features rows of every (split, V), when the pipeline codes its features.
        let coded = EncodeFeaturesStage.aecnnInstances(ctx.spec).compactMap { EncodeFeaturesStage.output($0, ctx) }
        if !coded.isEmpty {
            let rows = coded.flatMap(\.rows)
            let (cmd, ccsv) = EncodeFeaturesStage.tables(title: ctx.spec.name, rows: rows, images: coded[0].testImages, floatAccuracy: nil)
            struct CodingFile: Encodable { var pipeline: String; var testImages: Int; var rows: [CodedRow] }
            try AtomicFile.write(Data(cmd.utf8), to: directory.appendingPathComponent("coding.md"))
            try AtomicFile.write(Data(ccsv.utf8), to: directory.appendingPathComponent("coding.csv"))
            try AtomicFile.write(try ResultJSON.encoder().encode(CodingFile(pipeline: ctx.spec.name, testImages: coded[0].testImages, rows: rows)),
                                 to: directory.appendingPathComponent("coding.json"))
            // Reports, not hashed outputs: they hold coding times, which differ from run to run.
            ctx.log?(cmd)
        }
        return StageProduct(Output(baseAccuracy: baseAcc, rows: rows.count), files: outputs)
    }

    /// The entries to bold: the highest, when it leads every other by more than twice the standard error of
    /// the difference (binomial, on `images` test images); none otherwise.
    static func bestIndices(_ accuracies: [Double?], images: Int) -> Set<Int> {
        let present = accuracies.enumerated().compactMap { k, v in v.map { (k, $0) } }
        guard let top = present.max(by: { $0.1 < $1.1 }) else { return [] }
        var a = ReportRow(method: .aecnn); a.accuracy = top.1; a.testImages = images
        for (k, v) in present where k != top.0 {
            var b = ReportRow(method: .aecnn); b.accuracy = v; b.testImages = images
            if Statistics.compare(a, b)?.verdict != .ahead { return [] }
        }
        return [top.0]
    }
}
