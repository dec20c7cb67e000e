// Stage `evaluate`: the paper's Table I for this pipeline — test accuracy of the base model, CA_Pruned
// (fine-tune) and AECNN (train-recovery) at every (split, V), with the split tensor shape, the transmitted
// shape and the device half's FLOPs — as Markdown, CSV and JSON under Checkpoints/<pipeline>/evaluate/.
// Accuracies are the held-out test set's, as each stage measured them on its final weights. The tables hold
// no timings (those are in each stage's result.json), so the same pipeline gives the same bytes. With a
// `coding:` section it also gathers every encode-features row into coding.md/csv/json (reports holding
// encode/decode times, so not part of the hashed outputs).

import Foundation
import Checkpoint
import PipelineSpec

public enum EvaluateStage: StageDefinition {
    public static let name = "evaluate"

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { [StageInstance(name)] }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [TrainBaseStage.instance] + AECNNStageSupport.ratioInstances(PruneStage.name, spec)
            + AECNNStageSupport.ratioInstances(FineTuneStage.name, spec) + AECNNStageSupport.ratioInstances(TrainRecoveryStage.name, spec)
            + EncodeFeaturesStage.instances(spec)
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        try canonicalJSON(of: ["splits": spec.splits, "ratios": spec.ratios.map(String.init)])
    }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws
        -> (result: [String: Any], outputs: [String]) {
        func r(_ stage: String, _ split: String? = nil, _ ratio: Int? = nil) -> [String: Any] {
            StageRunner.result(StageInstance(stage, split: split, ratio: ratio), ctx) ?? [:]
        }
        let base = r(TrainBaseStage.name)
        let baseAcc = base["test_accuracy"] as? Double ?? .nan
        var rows: [[String: Any]] = []
        for split in ctx.spec.splits { for v in ctx.spec.ratios {
            let p = r(PruneStage.name, split, v), f = r(FineTuneStage.name, split, v), a = r(TrainRecoveryStage.name, split, v)
            rows.append([
                "split": split, "ratio": v,
                "split_shape": p["split_shape"] ?? [], "transmitted_shape": p["transmitted_shape"] ?? [],
                "base_accuracy": baseAcc,
                "pruned_no_finetune_accuracy": p["test_accuracy_before_fine_tuning"] ?? Double.nan,
                "ca_pruned_accuracy": f["test_accuracy"] ?? Double.nan,
                "aecnn_accuracy": a["test_accuracy"] ?? Double.nan,
                "device_flops": p["device_flops"] ?? 0, "device_flops_unpruned": p["device_flops_unpruned"] ?? 0,
                "recovery_parameters": a["recovery_parameters"] ?? 0, "recovery_flops": a["recovery_flops"] ?? 0,
            ])
        } }
        func pct(_ x: Any?) -> String { (x as? Double).map { $0.isNaN ? "–" : String(format: "%.2f", 100 * $0) } ?? "–" }
        func shape(_ x: Any?) -> String { ((x as? [Int]) ?? []).map(String.init).joined(separator: "×") }
        var md = "# \(ctx.spec.name): accuracy under compression (test set, %)\n\n"
        md += "Base model (no split): \(pct(baseAcc)) %. Bold: the highest accuracy of each row.\n\n"
        md += "| split | C×H×W | V | pruned, no fine-tune | CA_Pruned | AECNN | sent C'×H×W | device MFLOP (unpruned) | FR params |\n"
        md += "|---|---|---|---|---|---|---|---|---|\n"
        var csv = "split,split_shape,ratio,base_accuracy,pruned_no_finetune_accuracy,ca_pruned_accuracy,aecnn_accuracy,transmitted_shape,device_flops,device_flops_unpruned,recovery_parameters\n"
        for row in rows {
            let flops = String(format: "%.2f (%.2f)", Double(row["device_flops"] as? Int ?? 0) / 1e6, Double(row["device_flops_unpruned"] as? Int ?? 0) / 1e6)
            // Bold: the row's highest accuracy (by value, ties all bold).
            let accuracies = ["pruned_no_finetune_accuracy", "ca_pruned_accuracy", "aecnn_accuracy"].map { (row[$0] as? Double).flatMap { $0.isNaN ? nil : $0 } }
            let best = accuracies.compactMap { $0 }.max()
            let cells = zip(["pruned_no_finetune_accuracy", "ca_pruned_accuracy", "aecnn_accuracy"], accuracies).map { key, v in
                v != nil && v == best ? "**\(pct(row[key]))**" : pct(row[key])
            }
            md += "| \(row["split"]!) | \(shape(row["split_shape"])) | \(row["ratio"]!) | \(cells.joined(separator: " | ")) | \(shape(row["transmitted_shape"])) | \(flops) | \(row["recovery_parameters"]!) |\n"
            csv += "\(row["split"]!),\(shape(row["split_shape"])),\(row["ratio"]!),\(baseAcc),\(row["pruned_no_finetune_accuracy"]!),\(row["ca_pruned_accuracy"]!),\(row["aecnn_accuracy"]!),\(shape(row["transmitted_shape"])),\(row["device_flops"]!),\(row["device_flops_unpruned"]!),\(row["recovery_parameters"]!)\n"
        }
        let json: [String: Any] = ["pipeline": ctx.spec.name, "base_accuracy": baseAcc, "rows": rows]
        try AtomicFile.write(Data(md.utf8), to: directory.appendingPathComponent("table.md"))
        try AtomicFile.write(Data(csv.utf8), to: directory.appendingPathComponent("table.csv"))
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted]),
                             to: directory.appendingPathComponent("table.json"))
        ctx.log?(md)
        let outputs = ["table.md", "table.csv", "table.json"]
        // The encode-features rows of every (split, V), when the pipeline codes its features.
        let coded = EncodeFeaturesStage.instances(ctx.spec).flatMap { (StageRunner.result($0, ctx)?["rows"] as? [[String: Any]]) ?? [] }
        if !coded.isEmpty {
            let images = EncodeFeaturesStage.instances(ctx.spec).compactMap { StageRunner.result($0, ctx)?["test_images"] as? Int }.first ?? 0
            let (cmd, ccsv) = EncodeFeaturesStage.tables(title: ctx.spec.name, rows: coded, images: images, floatAccuracy: nil)
            try AtomicFile.write(Data(cmd.utf8), to: directory.appendingPathComponent("coding.md"))
            try AtomicFile.write(Data(ccsv.utf8), to: directory.appendingPathComponent("coding.csv"))
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: ["pipeline": ctx.spec.name, "rows": coded], options: [.sortedKeys, .prettyPrinted]),
                                 to: directory.appendingPathComponent("coding.json"))
            // Reports, not hashed outputs: they hold coding times, which differ from run to run.
            ctx.log?(cmd)
        }
        return (["base_accuracy": baseAcc, "rows": rows.count], outputs)
    }
}
