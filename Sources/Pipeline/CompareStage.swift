// Stage `compare` (and `aecnn report` to rebuild it): AECNN next to its baselines and the reference rows,
// per split, under Checkpoints/<pipeline>/report/:
//   comparison.md/.csv/.json   per split, rows V: CA_Pruned, AECNN (float and through the real codec, with
//                              bits per element, bytes per image and overall compression ratio), BottleNet++
//                              at each channel and fixed condition, device-half FLOPs; then the reference rows
//   accuracy_vs_ratio_<split>.svg, accuracy_vs_bytes_<split>.svg, importance_<split>.svg, training.svg
//   report.md                  all of it with the pipeline's settings, the machine and every stage's wall time
// Reference rows (measured here on the coding test images): the base model; the split tensor sent raw as
// float32; the split tensor 8-bit (per-tensor min–max) + zstd; the input image as PNG.

import Foundation
import TensorCore
import Autograd
import Models
import Methods
import Datasets
import Checkpoint
import FeatureCoding
import PipelineSpec

public enum CompareStage: StageDefinition {
    public static let name = "compare"
    public static let folder = "report"

    public static func instances(_ spec: PipelineSpec) -> [StageInstance] { [StageInstance(name)] }
    public static func dependencies(_ i: StageInstance, _ spec: PipelineSpec) -> [StageInstance] {
        [StageInstance(EvaluateStage.name)] + AECNNStageSupport.splitInstances(RankChannelsStage.name, spec)
            + TrainBottleNetPPStage.instances(spec) + TrainBottleNetStage.instances(spec)
    }
    public static func training(_ spec: PipelineSpec) -> TrainingSettings? { nil }
    public static func settingsJSON(_ i: StageInstance, _ spec: PipelineSpec) throws -> String {
        try canonicalJSON(of: ["splits": spec.splits, "ratios": spec.ratios.map(String.init),
                               "reference_images": ["\(referenceImages(spec))"], "zstd_level": ["\(spec.coding?.zstdLevel ?? 19)"]])
    }

    static func referenceImages(_ spec: PipelineSpec) -> Int { min(spec.coding?.testImages ?? 1000, 1000) }

    public static func execute(_ i: StageInstance, _ ctx: RunContext, directory: URL, options: StageOptions) throws
        -> (result: [String: Any], outputs: [String]) {
        let report = try build(ctx, directory: directory)
        return (["rows": report.rows, "reference_rows": report.references.count, "base_accuracy": report.baseAccuracy], ["comparison.json"])
    }

    /// `aecnn report`: the report from whatever results exist (missing ones show as –), without the stage's
    /// up-to-date bookkeeping. Returns the report folder.
    public static func rebuild(_ ctx: RunContext) throws -> URL {
        let dir = StageRunner.directory(StageInstance(name), ctx)
        guard StageRunner.result(TrainBaseStage.instance, ctx) != nil else {
            throw StageError.missingInput(stage: "report", path: StageRunner.directory(TrainBaseStage.instance, ctx).path, runFirst: "train-base --pipeline <file>")
        }
        try build(ctx, directory: dir)
        return dir
    }

    struct Built { var rows: Int; var references: [[String: Any]]; var baseAccuracy: Double }

    static func r(_ ctx: RunContext, _ stage: String, _ split: String? = nil, _ ratio: Int? = nil, _ variant: String? = nil) -> [String: Any] {
        StageRunner.result(StageInstance(stage, split: split, ratio: ratio, variant: variant), ctx) ?? [:]
    }

    static func pct(_ x: Any?) -> String { (x as? Double).map { $0.isNaN ? "–" : String(format: "%.2f", 100 * $0) } ?? "–" }

    /// Writes every report file into `directory`.
    @discardableResult
    static func build(_ ctx: RunContext, directory: URL) throws -> Built {
        let spec = ctx.spec
        let base = r(ctx, TrainBaseStage.name)
        let baseAccuracy = base["test_accuracy"] as? Double ?? .nan
        let references = try referenceRows(ctx)
        let bpp = spec.baselines?.bottlenetpp
        let bn = spec.baselines?.bottlenet
        var all: [[String: Any]] = []      // long form: one row per method × split × V × setting
        var md = "# \(spec.name): AECNN against its baselines\n\nTest accuracy in %, base model \(pct(baseAccuracy)) %. "
        md += "Ratios are against the float32 split tensor: 32·C·H·W bits over the bits sent (AECNN: payload bits; BottleNet++: its channel symbols, 32-bit when noise-free or over AWGN, 8-bit over the erasure channel; BottleNet: its JPEG bytes).\n\n"
        for split in spec.splits {
            md += "## Split `\(split)`\n\n"
            var header = "| V | sent C' | device MFLOP | CA_Pruned | AECNN (float) | AECNN coded: accuracy, bits/el, bytes/image, ratio |"
            var rule = "|---|---|---|---|---|---|"
            for c in bpp?.channels ?? [] {
                header += " BottleNet++ \(c.rawValue) |"
                rule += "---|"
            }
            for q in bn?.qualities ?? [] {
                header += " BottleNet JPEG q\(q): accuracy, bytes, ratio |"
                rule += "---|"
            }
            md += header + "\n" + rule + "\n"
            for v in spec.ratios {
                let p = r(ctx, PruneStage.name, split, v), f = r(ctx, FineTuneStage.name, split, v), a = r(ctx, TrainRecoveryStage.name, split, v)
                let coded = (r(ctx, EncodeFeaturesStage.name, split, v)["rows"] as? [[String: Any]]) ?? []
                let kept = (p["kept"] as? [Int])?.count ?? 0
                let flops = Double(p["device_flops"] as? Int ?? 0) / 1e6
                all.append(["method": "CA_Pruned", "split": split, "ratio": v, "accuracy": f["test_accuracy"] ?? Double.nan,
                            "compression_ratio": Double(v), "device_flops": p["device_flops"] ?? 0])
                all.append(["method": "AECNN", "split": split, "ratio": v, "accuracy": a["test_accuracy"] ?? Double.nan,
                            "compression_ratio": Double(v), "device_flops": p["device_flops"] ?? 0])
                var codedCell: [String] = []
                for row in coded {
                    all.append(["method": "AECNN coded", "split": split, "ratio": v, "codec": row["codec"]!, "bits": row["bits"]!,
                                "accuracy": row["accuracy"]!, "bits_per_element": row["bits_per_element"]!,
                                "bytes_per_image": row["frame_bytes_mean"]!, "compression_ratio": row["compression_ratio"]!,
                                "compression_ratio_frame": row["compression_ratio_frame"]!, "device_flops": p["device_flops"] ?? 0])
                    codedCell.append(String(format: "%@ %db: %@, %.2f, %.0f B, %.0f×", row["codec"] as? String ?? "?", row["bits"] as? Int ?? 0,
                                            pct(row["accuracy"]), row["bits_per_element"] as? Double ?? .nan,
                                            row["frame_bytes_mean"] as? Double ?? .nan, row["compression_ratio"] as? Double ?? .nan))
                }
                var line = "| \(v) | \(kept) | \(String(format: "%.2f", flops)) | \(pct(f["test_accuracy"])) | \(pct(a["test_accuracy"])) | \(codedCell.isEmpty ? "–" : codedCell.joined(separator: "<br>")) |"
                for c in bpp?.channels ?? [] {
                    let b = r(ctx, TrainBottleNetPPStage.name, split, v, c.rawValue)
                    let conds = (b["accuracy_at_conditions"] as? [[String: Any]]) ?? []
                    let symbolBits = c == .bec ? 8.0 : 32.0
                    let ratio = (b["bandwidth_reduction"] as? Double).map { $0 * 32 / symbolBits } ?? .nan
                    for cond in conds {
                        all.append(["method": "BottleNet++", "channel": c.rawValue, "split": split, "ratio": v,
                                    "condition": cond["condition"]!, "accuracy": cond["accuracy"]!, "compression_ratio": ratio,
                                    "bytes_per_image": Double((c == .bec ? 1 : 4) * (b["symbols_shape"] as? [Int] ?? []).reduce(1, *)),
                                    "device_flops": b["device_flops"] ?? 0])
                    }
                    let cell = conds.map { cond -> String in
                        let level = cond["condition"] as? Double ?? 0
                        return (level == 0 ? "" : (c == .bec ? "p=\(level): " : "σ=\(level): ")) + pct(cond["accuracy"])
                    }.joined(separator: ", ")
                    line += " \(cell.isEmpty ? "–" : cell + String(format: " (%.0f×)", ratio)) |"
                }
                for q in bn?.qualities ?? [] {
                    let b = r(ctx, TrainBottleNetStage.name, split, v, "q\(q)")
                    if let acc = b["test_accuracy"] as? Double, let bytes = b["bytes_per_image"] as? Double, let ratio = b["compression_ratio"] as? Double {
                        all.append(["method": "BottleNet", "split": split, "ratio": v, "quality": q, "accuracy": acc, "bytes_per_image": bytes,
                                    "compression_ratio": ratio, "device_flops": b["device_flops"] ?? 0])
                        line += String(format: " %@, %.0f B, %.0f× |", pct(acc), bytes, ratio)
                    } else {
                        line += " – |"
                    }
                }
                md += line + "\n"
            }
            md += "\n"
        }
        md += "## Reference rows (the base model on the first \(referenceImages(spec)) test images)\n\n| what | split | accuracy | bytes/image | ratio |\n|---|---|---|---|---|\n"
        for ref in references {
            md += String(format: "| %@ | %@ | %@ | %.1f | %@ |\n", ref["what"] as! String, ref["split"] as? String ?? "–", pct(ref["accuracy"]),
                         ref["bytes_per_image"] as! Double, (ref["compression_ratio"] as? Double).map { String(format: "%.1f×", $0) } ?? "–")
            all.append(ref.merging(["method": ref["what"]!]) { a, _ in a })
        }
        // A result that is missing is absent from the rows (the tables show "–"), never NaN.
        all = all.map { row in row.filter { !(($0.value as? Double)?.isNaN ?? false) } }
        // CSV (long form), RFC 4180.
        let columns = ["method", "split", "ratio", "channel", "condition", "quality", "codec", "bits", "accuracy", "bits_per_element",
                       "bytes_per_image", "compression_ratio", "compression_ratio_frame", "device_flops"]
        var csv = columns.joined(separator: ",") + "\n"
        for row in all { csv += columns.map { c in csvField(row[c].map { "\($0)" } ?? "") }.joined(separator: ",") + "\n" }

        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var files: [String] = []
        for split in spec.splits {
            let rows = all.filter { $0["split"] as? String == split || ($0["what"] != nil && $0["split"] == nil) }
            var byRatio = SVGPlot(title: "\(spec.name), split \(split): accuracy against compression", xLabel: "compression ratio against the float32 split tensor (log scale)",
                                  yLabel: "test accuracy (%)", xScale: .log2)
            var byBytes = SVGPlot(title: "\(spec.name), split \(split): accuracy against bytes sent", xLabel: "bytes per image (log scale)",
                                  yLabel: "test accuracy (%)", xScale: .log10)
            if !baseAccuracy.isNaN {
                byRatio.references = [("base model", 100 * baseAccuracy)]
                byBytes.references = [("base model", 100 * baseAccuracy)]
            }
            func points(_ pick: ([String: Any]) -> Bool, x: String) -> [(x: Double, y: Double)] {
                rows.filter(pick).compactMap { row in
                    guard let xv = row[x] as? Double, let y = row["accuracy"] as? Double else { return nil }
                    return (xv, 100 * y)
                }
            }
            byRatio.series.append(.init(name: "CA_Pruned (float)", points: points({ $0["method"] as? String == "CA_Pruned" }, x: "compression_ratio")))
            byRatio.series.append(.init(name: "AECNN (float)", points: points({ $0["method"] as? String == "AECNN" }, x: "compression_ratio")))
            for bits in spec.coding?.bits ?? [] {
                let codec = spec.coding!.codecs[0].rawValue
                let pick: ([String: Any]) -> Bool = { $0["method"] as? String == "AECNN coded" && $0["bits"] as? Int == bits && $0["codec"] as? String == codec }
                byRatio.series.append(.init(name: "AECNN \(bits)-bit \(codec)", points: points(pick, x: "compression_ratio")))
                byBytes.series.append(.init(name: "AECNN \(bits)-bit \(codec)", points: points(pick, x: "bytes_per_image")))
            }
            for c in bpp?.channels ?? [] {
                let pick: ([String: Any]) -> Bool = { $0["method"] as? String == "BottleNet++" && $0["channel"] as? String == c.rawValue && ($0["condition"] as? Double) == 0 }
                byRatio.series.append(.init(name: "BottleNet++ \(c.rawValue)", points: points(pick, x: "compression_ratio")))
                if c == .bec { byBytes.series.append(.init(name: "BottleNet++ bec (8-bit)", points: points(pick, x: "bytes_per_image"))) }
            }
            for q in bn?.qualities ?? [] {
                let pick: ([String: Any]) -> Bool = { $0["method"] as? String == "BottleNet" && $0["quality"] as? Int == q }
                byRatio.series.append(.init(name: "BottleNet JPEG q\(q)", points: points(pick, x: "compression_ratio")))
                byBytes.series.append(.init(name: "BottleNet JPEG q\(q)", points: points(pick, x: "bytes_per_image")))
            }
            let refs = rows.filter { $0["method"] as? String != nil && ($0["what"] != nil) }
            byBytes.series.append(.init(name: "references", points: refs.compactMap { row in
                guard let b = row["bytes_per_image"] as? Double, let y = row["accuracy"] as? Double else { return nil }
                return (b, 100 * y)
            }, connect: false))
            try AtomicFile.write(Data(byRatio.render().utf8), to: directory.appendingPathComponent("accuracy_vs_ratio_\(split).svg"))
            try AtomicFile.write(Data(byBytes.render().utf8), to: directory.appendingPathComponent("accuracy_vs_bytes_\(split).svg"))
            files += ["accuracy_vs_ratio_\(split).svg", "accuracy_vs_bytes_\(split).svg"]
            // Channel importance (Fig. 4): whole set and each random batch.
            let rank = r(ctx, RankChannelsStage.name, split)
            if let imp = rank["importance"] as? [Double] {
                var plot = SVGPlot(title: "\(spec.name), split \(split): channel importance (mean attention)", xLabel: "channel", yLabel: "importance")
                plot.series.append(.init(name: "whole training set", points: imp.enumerated().map { (Double($0.offset), $0.element) }))
                let ranking = StageRunner.directory(StageInstance(RankChannelsStage.name, split: split), ctx).appendingPathComponent("ranking.json")
                if let d = try? Data(contentsOf: ranking), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                   let batches = o["batch_importance"] as? [[Double]] {
                    for (k, b) in batches.enumerated() {
                        plot.series.append(.init(name: "random batch \(k + 1)", points: b.enumerated().map { (Double($0.offset), $0.element) }, connect: false))
                    }
                }
                try AtomicFile.write(Data(plot.render().utf8), to: directory.appendingPathComponent("importance_\(split).svg"))
                files.append("importance_\(split).svg")
            }
        }
        var curves = SVGPlot(title: "\(spec.name): test accuracy after each epoch", xLabel: "epoch", yLabel: "test accuracy (%)")
        for inst in StageRunner.allInstances(spec) where StageRunner.definition(inst.stage)?.training(spec) != nil {
            let url = StageRunner.directory(inst, ctx).appendingPathComponent("metrics.jsonl")
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            let pts: [(x: Double, y: Double)] = text.split(separator: "\n").compactMap { line in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["event"] as? String == "epoch",
                      let e = o["epoch"] as? Int, let a = o["test_accuracy"] as? Double else { return nil }
                return (Double(e), 100 * a)
            }
            if !pts.isEmpty { curves.series.append(.init(name: inst.description, points: pts)) }
        }
        curves.height = max(480, 80 + 20 * Double(curves.series.count))
        try AtomicFile.write(Data(curves.render().utf8), to: directory.appendingPathComponent("training.svg"))
        files.append("training.svg")

        try AtomicFile.write(Data(md.utf8), to: directory.appendingPathComponent("comparison.md"))
        try AtomicFile.write(Data(csv.utf8), to: directory.appendingPathComponent("comparison.csv"))
        var summary: [String: Any] = ["pipeline": spec.name, "rows": all]
        if !baseAccuracy.isNaN { summary["base_accuracy"] = baseAccuracy }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: summary,
                                                        options: [.sortedKeys, .prettyPrinted]),
                             to: directory.appendingPathComponent("comparison.json"))
        try AtomicFile.write(Data(reportMarkdown(ctx, comparison: md, plots: files).utf8), to: directory.appendingPathComponent("report.md"))
        ctx.log?(md)
        return Built(rows: all.count, references: references, baseAccuracy: baseAccuracy)
    }

    /// The reference rows, measured on the first `referenceImages` test images with the base model.
    static func referenceRows(_ ctx: RunContext) throws -> [[String: Any]] {
        let model = try TrainBaseStage.loadModel(ctx)
        model.setTraining(false)
        let test = try ctx.testImages().subset(first: referenceImages(ctx.spec))
        let norm = try ctx.normalization()
        let level = ctx.spec.coding?.zstdLevel ?? 19
        // Frames name the base model by its weights (as encode-features names AECNN models), not by the pipeline.
        let baseID = "base@" + String(((StageRunner.result(TrainBaseStage.instance, ctx)?["outputs_sha256"] as? String) ?? "unknown").prefix(12))
        var rows: [[String: Any]] = []
        var pngBytes = 0
        for k in 0..<test.count {
            pngBytes += PNGEncoder.encode(pixels: Array(test.pixels[(k * test.imageSize)..<((k + 1) * test.imageSize)]),
                                          channels: test.channels, height: test.height, width: test.width).count
        }
        var baseCorrect = 0
        var unused = RNG(seed: 0)
        for range in Batching.batchRanges(count: test.count, batchSize: 250) {
            let (x, labels) = try Batching.makeBatch(test, indices: range, normalization: norm, augmentation: nil, rng: &unused)
            GradMode.withoutGrad { for (p, y) in zip(argmaxRows(model(Variable(x)).value), labels) where p == Int(y) { baseCorrect += 1 } }
        }
        let n = Double(max(test.count, 1))
        rows.append(["what": "input image as PNG", "accuracy": Double(baseCorrect) / n, "bytes_per_image": Double(pngBytes) / n])
        for split in ctx.spec.splits {
            var correct = 0, zstdBytes = 0, elements = 0
            let q = try Quantizer(bits: 8, ranges: .perTensor)
            for range in Batching.batchRanges(count: test.count, batchSize: 250) {
                let (x, labels) = try Batching.makeBatch(test, indices: range, normalization: norm, augmentation: nil, rng: &unused)
                let f = GradMode.withoutGrad { try! model.forwardDevice(Variable(x), split: split).value }
                let per = f.count / labels.count
                elements = per
                let shape = FeatureShape(channels: f.shape[1], height: f.shape[2], width: f.shape[3])
                let received = Tensor(uninitialized: f.shape)
                let src = f.array
                for s in 0..<labels.count {
                    let bytes = try FeatureBitstream.encode(values: Array(src[(s * per)..<((s + 1) * per)]), shape: shape, modelID: baseID,
                                                            splitPoint: split, quantizer: q, codec: .zstd(level: level))
                    zstdBytes += bytes.count
                    let values = try FeatureBitstream.decode(bytes).dequantized()
                    for j in 0..<per { received.buffer[s * per + j] = values[j] }
                }
                GradMode.withoutGrad {
                    for (p, y) in zip(argmaxRows(try! model.forwardEdge(Variable(received), split: split).value), labels) where p == Int(y) { correct += 1 }
                }
            }
            rows.append(["what": "split tensor, float32", "split": split, "accuracy": Double(baseCorrect) / n,
                         "bytes_per_image": Double(4 * elements), "compression_ratio": 1.0])
            rows.append(["what": "split tensor, 8-bit + zstd-\(level)", "split": split, "accuracy": Double(correct) / n,
                         "bytes_per_image": Double(zstdBytes) / n, "compression_ratio": Double(4 * elements) / (Double(zstdBytes) / n)])
        }
        return rows
    }

    static func reportMarkdown(_ ctx: RunContext, comparison: String, plots: [String]) -> String {
        var md = "# Report: \(ctx.spec.name)\n\n"
        md += "Machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, BLAS \(BLAS.coreName), \(ctx.spec.threads) worker threads. "
        md += "Data: \(ctx.spec.dataset.kind.rawValue) (\((try? ctx.trainImages().count) ?? 0) training, \((try? ctx.testImages().count) ?? 0) test images); "
        md += "model \(ctx.spec.model.arch.rawValue) width \(ctx.spec.model.width); seed \(ctx.spec.seed); splits \(ctx.spec.splits); ratios \(ctx.spec.ratios).\n\n"
        md += comparison.replacingOccurrences(of: "# \(ctx.spec.name): AECNN against its baselines\n\n", with: "## Comparison\n\n")
        md += "\n## Plots\n\n" + plots.map { "![\($0)](\($0))" }.joined(separator: "\n\n") + "\n\n"
        md += "## Wall time of every stage\n\n| stage | wall s | train images/s |\n|---|---|---|\n"
        var total = 0.0
        for inst in StageRunner.allInstances(ctx.spec) where inst.stage != name {
            guard let res = StageRunner.result(inst, ctx), let s = res["stage_wall_seconds"] as? Double else { continue }
            total += s
            md += String(format: "| %@ | %.0f | %@ |\n", inst.description, s, (res["train_images_per_second"] as? Double).map { String(format: "%.0f", $0) } ?? "–")
        }
        md += String(format: "| **total** | **%.0f** | |\n", total)
        md += "\nPipeline settings: the pipeline file; every field is in docs/pipeline.md.\n"
        return md
    }
}

/// One CSV field as RFC 4180 writes it: quoted when it holds a comma, a double quote or a line break, with
/// inner double quotes doubled.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
