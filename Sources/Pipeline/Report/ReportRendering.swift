// A ComparisonReport as files: comparison.md (per split, a row per ratio V), comparison.csv (RFC 4180,
// long form: one line per report row), comparison.json (the report itself), accuracy_vs_ratio_<split>.svg
// and accuracy_vs_bytes_<split>.svg, and report.md around them (provenance, budgets, wall times, the
// pipeline file). The same code renders one seed's report and a merge of several.

import Foundation
import Plots
import PipelineSpec
import Checkpoint

public enum ReportRendering {
    // MARK: cells

    /// "93.31", "93.31 ± 0.12" (several seeds), or "–".
    static func accuracy(_ row: ReportRow?) -> String {
        guard let a = row?.accuracy, a.isFinite else { return "–" }
        if let s = row?.accuracyStd, let n = row?.n, n >= 2 { return String(format: "%.2f ± %.2f", 100 * a, 100 * s) }
        return String(format: "%.2f", 100 * a)
    }

    /// `accuracy(row)`, and when the report merges more seeds than the row has, how many it has: "93.31 (1 of 3 seeds)".
    static func accuracy(_ row: ReportRow?, seeds: Int) -> String {
        let text = accuracy(row)
        guard seeds > 1, text != "–", let n = row?.n, n < seeds else { return text }
        return text + " (\(n) of \(seeds) seeds)"
    }

    /// The row's accuracy minus the base model's in points (`ComparisonReport.minusBase(of:)`); "–" when missing.
    static func minusBase(_ row: ReportRow?, _ r: ComparisonReport) -> String {
        guard let row, row.accuracy != nil, let d = r.minusBase(of: row), d.isFinite else { return "–" }
        return signedPoints(100 * d)
    }

    /// "+0.12", "−0.31", and "0.00" for anything that rounds to zero (no "−0.00").
    static func signedPoints(_ x: Double) -> String {
        let text = String(format: "%+.2f", x)
        return text == "+0.00" || text == "-0.00" ? "0.00" : text.replacingOccurrences(of: "-", with: "−")
    }

    static func number(_ x: Double?, _ format: String) -> String { x.map { $0.isFinite ? String(format: format, $0) : "–" } ?? "–" }

    /// "+1.20 ahead", "−0.31 within noise (±0.62)", "−1.40 behind" (points).
    static func verdict(_ a: ReportRow?, _ b: ReportRow?) -> String {
        guard let c = Statistics.compare(a, b) else { return "–" }
        let d = signedPoints(100 * c.difference)
        switch c.verdict {
        case .ahead: return "\(d) ahead"
        case .behind: return "\(d) **behind**"
        case .withinNoise: return "\(d) within noise (±\(String(format: "%.2f", 100 * c.noise)))"
        }
    }

    static func find(_ rows: [ReportRow], _ method: ReportMethod, split: String, ratio: Int, where extra: (ReportRow) -> Bool = { _ in true }) -> [ReportRow] {
        rows.filter { $0.method == method && $0.split == split && $0.ratio == ratio && $0.ranking == nil && extra($0) }
    }

    /// The noise-free (or least noisy) BottleNet++ test of a channel, its symbols uncoded.
    static func bottleNetPP(_ rows: [ReportRow], split: String, ratio: Int, channel: BottleNetPPSettings.Channel) -> ReportRow? {
        find(rows, .bottleNetPP, split: split, ratio: ratio) { $0.channel == channel && $0.codec == nil }.min { ($0.condition ?? 0) < ($1.condition ?? 0) }
    }

    static func seedsPhrase(_ r: ComparisonReport) -> String {
        r.seeds.count == 1 ? "seed \(r.seeds[0])" : "mean ± standard deviation over \(r.seeds.count) seeds (\(r.seeds.map(String.init).joined(separator: ", ")))"
    }

    static func imagesPhrase(_ r: ComparisonReport) -> String {
        if let n = r.testImages { return "every accuracy on the same \(n) test images" }
        return "rows measured on different numbers of test images (see the CSV's test_images): rebuild the stages to compare them"
    }

    // MARK: comparison.md

    public static func comparisonMarkdown(_ r: ComparisonReport) -> String {
        let seeds = r.seeds.count
        func accuracy(_ row: ReportRow?) -> String { Self.accuracy(row, seeds: seeds) }
        var md = "# \(r.pipeline): AECNN against its baselines\n\n"
        md += "Test accuracy in %, \(seedsPhrase(r)); \(imagesPhrase(r)). Base model \(accuracy(baseRow(r))) %. "
        md += "Ratios are against the float32 split tensor: 32·C·H·W bits over the bits sent (AECNN coded: payload bits; BottleNet++: its channel symbols, 32-bit when noise-free or over AWGN, 8-bit over the erasure channel; BottleNet: its JPEG bytes). "
        if r.paired == nil {
            md += "\"vs\" columns: AECNN (float) minus the baseline in points, ahead or behind when the difference exceeds twice its standard error (test-set sampling √(p(1−p)/N), and the spread over seeds when there are several), otherwise within noise.\n\n"
        } else {
            md += "\"vs\" columns: AECNN (float) minus the baseline in points with its paired 95 % interval and verdict (see Paired comparisons below).\n\n"
        }
        md += "AECNN − base: AECNN (float) minus the base model in points, each seed against its own base model. Coded ratios are of the payload, and in brackets of whole frames (header and checksum counted). "
        md += "A figure measured on fewer seeds than the report merges says how many it has.\n\n"
        md += findingsMarkdown(r)
        md += budgetsMarkdown(r)
        let rows = r.rows
        for split in r.layout.splits {
            md += "## Split `\(split)`\n\n"
            var header = "| V | sent C' | device MFLOP | CA_Pruned | AECNN (float) | AECNN − base |"
            var rule = "|---|---|---|---|---|---|"
            if !r.layout.bits.isEmpty { header += " AECNN coded: accuracy, bits/el, bytes/image, ratio |"; rule += "---|" }
            for c in r.layout.channels { header += " BottleNet++ \(c.rawValue) |"; rule += "---|" }
            for q in r.layout.qualities { header += " BottleNet JPEG q\(q): accuracy, bytes, ratio |"; rule += "---|" }
            for c in r.layout.channels { header += " AECNN vs BottleNet++ \(c.rawValue)\(c == .noiseless ? "" : " (noise-free test)") |"; rule += "---|" }
            for q in r.layout.qualities { header += " AECNN vs BottleNet q\(q) |"; rule += "---|" }
            md += header + "\n" + rule + "\n"
            for v in r.layout.ratios {
                let ca = find(rows, .caPruned, split: split, ratio: v).first, ae = find(rows, .aecnn, split: split, ratio: v).first
                let mflop = number(ae?.deviceFlops.map { Double($0) / 1e6 }, "%.2f")
                var line = "| \(v) | \(ae?.sentChannels.map(String.init) ?? "–") | \(mflop) | \(accuracy(ca)) | \(accuracy(ae)) | \(minusBase(ae, r)) |"
                if !r.layout.bits.isEmpty {
                    let coded = find(rows, .aecnnCoded, split: split, ratio: v)
                    let cells = coded.map { c in
                        "\(c.codec?.rawValue ?? "?") \(c.bits ?? 0)b: \(accuracy(c)), \(number(c.bitsPerElement, "%.2f")), \(number(c.bytesPerImage, "%.0f")) B, \(number(c.compressionRatio, "%.0f"))×" + (c.compressionRatioFrame.map { String(format: " (%.0f×)", $0) } ?? "")
                    }
                    line += " \(cells.isEmpty ? "–" : cells.joined(separator: "<br>")) |"
                }
                for c in r.layout.channels {
                    let tests = find(rows, .bottleNetPP, split: split, ratio: v) { $0.channel == c && $0.codec == nil }
                    let cell = tests.filter { $0.accuracy != nil }.map { t -> String in
                        let level = t.condition ?? 0
                        return (level == 0 ? "" : (c == .bec ? "p=\(level): " : "σ=\(level): ")) + accuracy(t)
                    }.joined(separator: ", ")
                    line += " \(cell.isEmpty ? "–" : cell + " (\(number(tests.first?.compressionRatio, "%.0f"))×)") |"
                }
                for q in r.layout.qualities {
                    let b = find(rows, .bottleNet, split: split, ratio: v) { $0.quality == q }.first
                    line += b?.accuracy == nil ? " – |" : " \(accuracy(b)), \(number(b?.bytesPerImage, "%.0f")) B, \(number(b?.compressionRatio, "%.0f"))× |"
                }
                for c in r.layout.channels {
                    line += " \(r.paired("AECNN vs BottleNet++ \(c.rawValue)", split: split, ratio: v).map(pairedCell) ?? verdict(ae, bottleNetPP(rows, split: split, ratio: v, channel: c))) |"
                }
                for q in r.layout.qualities {
                    line += " \(r.paired("AECNN vs BottleNet q\(q)", split: split, ratio: v).map(pairedCell) ?? verdict(ae, find(rows, .bottleNet, split: split, ratio: v) { $0.quality == q }.first)) |"
                }
                md += line + "\n"
            }
            md += "\n"
        }
        md += controlsMarkdown(r)
        md += budgetControlsMarkdown(r)
        md += rateMarkdown(r)
        md += pairedMarkdown(r)
        md += headlineMarkdown(r, tolerance: 0.02)
        let refs = rows.filter { $0.method == .reference }
        if !refs.isEmpty {
            md += "## Reference rows (the base model)\n\n| what | split | accuracy | bytes/image | ratio |\n|---|---|---|---|---|\n"
            for ref in refs {
                let what = (ref.reference ?? "?") + (ref.quality.map { " q\($0)" } ?? "")
                let bytes = number(ref.bytesPerImage, "%.1f") + (ref.bytesPerImageTablesOutOfBand.map { String(format: " (%.1f with tables out of band)", $0) } ?? "")
                md += "| \(what) | \(ref.split ?? "–") | \(accuracy(ref)) | \(bytes) | \(ref.compressionRatio.map { String(format: "%.1f×", $0) } ?? "–") |\n"
            }
            md += "\n"
        }
        return md
    }

    /// The ranking controls beside attention: per split and V, CA_Pruned and AECNN (float) of each ranking's
    /// chain (the paired comparisons below say which differences the data resolve).
    static func controlsMarkdown(_ r: ComparisonReport) -> String {
        let controls = Set(r.rows.compactMap(\.ranking)).sorted()
        guard !controls.isEmpty else { return "" }
        let rankings = ["attention"] + controls
        var md = "## Ranking controls\n\nThe channels kept chosen by channel attention (AECNN's ranking) or by a control: `l1`, the L1 norm of each filter of the split unit's last convolution in the base model; `random`, a seeded permutation. Each ranking has its own prune → fine-tune → recovery chain with the same training.\n\n"
        for split in r.layout.splits {
            md += "### `\(split)`\n\n| V |" + rankings.map { " CA_Pruned, \($0) |" }.joined() + rankings.map { " AECNN, \($0) |" }.joined() + "\n"
            md += "|---|" + String(repeating: "---|", count: 2 * rankings.count) + "\n"
            for v in r.layout.ratios {
                func cell(_ method: ReportMethod, _ ranking: String) -> String {
                    accuracy(r.rows.first { $0.method == method && $0.split == split && $0.ratio == v && ($0.ranking ?? "attention") == ranking }, seeds: r.seeds.count)
                }
                md += "| \(v) |" + rankings.map { " \(cell(.caPruned, $0)) |" }.joined() + rankings.map { " \(cell(.aecnn, $0)) |" }.joined() + "\n"
            }
            md += "\n"
        }
        return md
    }

    /// The training-budget controls: CA_Pruned at AECNN's epochs after pruning beside CA_Pruned and AECNN, and
    /// the base model trained on for AECNN's epochs after the base.
    static func budgetControlsMarkdown(_ r: ComparisonReport) -> String {
        let matched = r.rows.filter { $0.method == .caPrunedMatched }, continued = r.rows.first { $0.method == .baseContinued }
        guard !matched.isEmpty || continued != nil else { return "" }
        var md = "## Training-budget controls\n\nAECNN trains for more epochs after the base model than CA_Pruned and the base itself. "
        if let c = continued {
            md += "The base model trained on, uncompressed, for AECNN's \(c.epochs.map(String.init) ?? "?") epochs after it: \(accuracy(c, seeds: r.seeds.count)) % (the base model: \(accuracy(baseRow(r))) %). "
        }
        md += "CA_Pruned fine-tuned for AECNN's epochs after pruning:\n\n"
        for split in r.layout.splits where matched.contains(where: { $0.split == split }) {
            md += "### `\(split)`\n\n| V | CA_Pruned | CA_Pruned, matched epochs | AECNN (float) |\n|---|---|---|---|\n"
            for v in r.layout.ratios {
                let cell = { (m: ReportMethod) -> String in
                    guard let row = r.rows.first(where: { $0.method == m && $0.split == split && $0.ratio == v && $0.ranking == nil }) else { return "–" }
                    return self.accuracy(row, seeds: r.seeds.count) + (row.epochs.map { " (\($0) epochs)" } ?? "")
                }
                md += "| \(v) | \(cell(.caPruned)) | \(cell(.caPrunedMatched)) | \(cell(.aecnn)) |\n"
            }
            md += "\n"
        }
        return md
    }

    /// One point of the rate axis: what is sent, its bytes per image, and the accuracy it is classified at.
    struct RatePoint { var what: String; var bytes: Double; var row: ReportRow }

    /// Every operating point of a split on one axis, bytes per image: what each method really sends. AECNN
    /// coded: whole frames; AECNN float and BottleNet++: their uncoded symbols (32-bit floats, 8-bit over the
    /// erasure channel); BottleNet and the input image as JPEG: the whole file and, as a second point, the
    /// abbreviated stream (tables out of band); the input as PNG; the base model's split tensor.
    static func ratePoints(_ r: ComparisonReport, split: String) -> [RatePoint] {
        var points: [RatePoint] = []
        for row in r.rows where row.accuracy != nil && row.ranking == nil {   // methods, not the ranking controls
            guard row.split == split || (row.method == .reference && row.split == nil) else { continue }
            let v = row.ratio.map { "V=\($0)" } ?? ""
            switch row.method {
            case .aecnnCoded:
                if let b = row.bytesPerImage { points.append(RatePoint(what: "AECNN \(v), \(row.codec?.rawValue ?? "?") \(row.bits ?? 0)-bit (frames)", bytes: b, row: row)) }
            case .aecnn:
                if let b = row.bytesPerImage { points.append(RatePoint(what: "AECNN \(v), float32 (uncoded)", bytes: b, row: row)) }
            case .bottleNetPP:
                if (row.condition ?? 0) == 0, let b = row.bytesPerImage {
                    let how = row.codec.map { "\($0.rawValue) \(row.bits ?? 0)-bit (frames)" } ?? "uncoded symbols"
                    points.append(RatePoint(what: "BottleNet++ \(v), \(row.channel?.rawValue ?? "?"), \(how)", bytes: b, row: row))
                }
            case .bottleNet:
                if let b = row.bytesPerImage { points.append(RatePoint(what: "BottleNet \(v), JPEG q\(row.quality ?? 0)", bytes: b, row: row)) }
                if let b = row.bytesPerImageTablesOutOfBand { points.append(RatePoint(what: "BottleNet \(v), JPEG q\(row.quality ?? 0), tables out of band", bytes: b, row: row)) }
            case .reference:
                let what = (row.reference ?? "?") + (row.quality.map { " q\($0)" } ?? "")
                if let b = row.bytesPerImage { points.append(RatePoint(what: what, bytes: b, row: row)) }
                if let b = row.bytesPerImageTablesOutOfBand { points.append(RatePoint(what: what + ", tables out of band", bytes: b, row: row)) }
            case .entropic:
                if let b = row.bytesPerImage { points.append(RatePoint(what: "entropy bottleneck \(v), λ=\(row.lambda ?? 0) (range-coded payload)", bytes: b, row: row)) }
            case .caPruned, .caPrunedMatched, .baseContinued:
                break   // accuracy references of the training budget, not ways of sending features
            }
        }
        return points.sorted { ($0.bytes, $0.what) < ($1.bytes, $1.what) }
    }

    /// Per split, every operating point on the bytes-per-image axis, with the accuracy-rate frontier marked.
    /// Only reports that measure the input image as JPEG (the naive baseline every method must beat) have it.
    static func rateMarkdown(_ r: ComparisonReport) -> String {
        guard r.rows.contains(where: { $0.reference == "input image as JPEG" }) else { return "" }
        var md = "## Accuracy against bytes per image\n\n"
        md += "Every operating point on one axis: the bytes each method really sends per image (coded AECNN: whole frames, header and checksum counted; JPEG: the whole file, and again with its tables shared out of band). "
        md += "★ marks the frontier: no point with as few or fewer bytes is more accurate.\n\n"
        for split in r.layout.splits {
            md += "### `\(split)`\n\n| bytes/image | accuracy | what is sent | frontier |\n|---|---|---|---|\n"
            var best = -Double.infinity
            for p in ratePoints(r, split: split) {
                let a = p.row.accuracy ?? 0
                let frontier = a > best
                best = max(best, a)
                md += "| \(String(format: "%.1f", p.bytes)) | \(accuracy(p.row, seeds: r.seeds.count)) | \(p.what) | \(frontier ? "★" : "") |\n"
            }
            md += "\n"
        }
        return md
    }

    /// What the paired comparisons support, in sentences generated from their intervals: per split and family
    /// the pooled difference with its interval and verdict, how the cells' (Holm-adjusted) verdicts fall, and
    /// every cell that separates, with its interval.
    static func findingsMarkdown(_ r: ComparisonReport) -> String {
        guard let paired = r.paired, !paired.isEmpty else { return "" }
        var md = "## Findings\n\nGenerated from the paired intervals below (95 %, seeds × test images; cells Holm-adjusted within each family).\n\n"
        let families = familyOrder(paired)
        func interval(_ c: PairedStatistics.Comparison) -> String {
            "\(signedPoints(100 * c.difference)) points [\(signedPoints(100 * c.lower)), \(signedPoints(100 * c.upper))]"
        }
        for (split, family) in families {
            let cells = paired.filter { $0.split == split && $0.family == family && $0.ratio != nil }
            guard !cells.isEmpty else { continue }
            var counts: [String] = []
            for v in [PairedStatistics.Verdict.ahead, .behind, .equivalent, .inconclusive] {
                let n = cells.filter { $0.adjustedVerdict == v }.count
                if n > 0 { counts.append("\(n) \(v.rawValue)") }
            }
            var line = "- `\(split)`, \(family): "
            if let pooled = paired.first(where: { $0.split == split && $0.family == family && $0.ratio == nil }), cells.count > 1 {
                let verdict = pooled.adjustedVerdict == .equivalent ? "equivalent within ±\(String(format: "%g", 100 * pooled.comparison.margin)) points" : pooled.adjustedVerdict.rawValue
                line += "pooled over \(cells.count) cells \(interval(pooled.comparison)), \(verdict); "
            }
            line += "cells: " + counts.joined(separator: ", ")
            let separating = cells.filter { $0.adjustedVerdict == .ahead || $0.adjustedVerdict == .behind }
            if !separating.isEmpty {
                line += " — " + separating.map { "\($0.setting ?? "V=\($0.ratio!)") \($0.adjustedVerdict.rawValue), \(interval($0.comparison))" }.joined(separator: "; ")
            }
            md += line + ".\n"
        }
        return md + "\n"
    }

    /// The (split, family) pairs of paired results, in the order they first appear.
    static func familyOrder(_ paired: [PairedResult]) -> [(String, String)] {
        var families: [(String, String)] = []
        for p in paired where !families.contains(where: { $0 == (p.split, p.family) }) { families.append((p.split, p.family)) }
        return families
    }

    /// "−0.33 [−0.52, −0.14] behind" (points; the Holm-adjusted verdict).
    static func pairedCell(_ p: PairedResult) -> String {
        let c = p.comparison
        let verdict = p.adjustedVerdict == .behind ? "**behind**" : (p.adjustedVerdict == .equivalent ? "equivalent (±\(String(format: "%g", 100 * c.margin)))" : p.adjustedVerdict.rawValue)
        return "\(signedPoints(100 * c.difference)) [\(signedPoints(100 * c.lower)), \(signedPoints(100 * c.upper))] \(verdict)"
    }

    /// The paired comparisons, a table per split and family, each with its pooled line.
    static func pairedMarkdown(_ r: ComparisonReport) -> String {
        guard let paired = r.paired, !paired.isEmpty, let settings = paired.first?.comparison else { return "" }
        var md = "## Paired comparisons\n\n"
        md += "A − B in points with a 95 % interval from a paired bootstrap (\(ComparisonReport.pairedSettings.resamples) draws, seeded): each draw resamples the seeds and, within each, the test images, the same images for both methods. "
        md += "Verdicts: *ahead* or *behind* when the interval excludes 0, *equivalent* when it lies within ±\(String(format: "%g", 100 * settings.margin)) points, otherwise *inconclusive*; in each family the verdicts of its cells are adjusted for their number (Holm, at 5 %). "
        md += "The pooled line is the mean difference over the family's cells, with its interval from the same draws.\n\n"
        let families = familyOrder(paired)
        for (split, family) in families {
            let cells = paired.filter { $0.split == split && $0.family == family }
            guard let any = cells.first else { continue }
            let named = cells.contains { $0.setting != nil }
            md += "### `\(split)`: \(family)\n\n| \(named ? "cell" : "V") | A − B | 95 % interval | verdict (Holm) | p | seeds × images |\n|---|---|---|---|---|---|\n"
            for p in cells {
                let c = p.comparison
                md += "| \(p.ratio == nil ? "**pooled**" : (p.setting ?? String(p.ratio!))) | \(signedPoints(100 * c.difference)) | [\(signedPoints(100 * c.lower)), \(signedPoints(100 * c.upper))] | \(p.adjustedVerdict.rawValue) | \(String(format: "%.3g", c.pValue)) | \(c.seeds) × \(c.images) |\n"
            }
            if named {
                md += "\nThe input image's bytes are those of a PNG file, or of a JPEG file with its tables shared out of band (the fewer); the coded AECNN point's are whole frames.\n\n"
            } else {
                md += "\nA: \(any.a.replacingOccurrences(of: " \(split) V=\(any.ratio.map(String.init) ?? "")", with: "")); B: \(any.b.replacingOccurrences(of: " \(split) V=\(any.ratio.map(String.init) ?? "")", with: "")).\n\n"
            }
        }
        return md
    }

    /// Per split and method, the highest compression ratio whose (mean) accuracy is at most `tolerance` below
    /// the base model's: the headline figure of a feature-compression method.
    static func headlineMarkdown(_ r: ComparisonReport, tolerance: Double) -> String {
        guard let base = r.baseAccuracy else { return "" }
        let points = String(format: "%g", 100 * tolerance)
        var md = "## Highest compression within \(points) points of the base model\n\n"
        md += "Per split and method, the highest ratio among its rows at most \(points) points below the base model (\(String(format: "%.2f", 100 * base)) %; with several seeds, the mean of each seed's difference from its own base model). "
        md += "A selection made on test accuracy: the rows are chosen by the same test images they are reported on, so the chosen accuracies lean optimistic.\n\n"
        md += "| split | method | setting | accuracy | − base | ratio | ratio, whole frames |\n|---|---|---|---|---|---|---|\n"
        for split in r.layout.splits {
            var groups: [(String, (ReportRow) -> Bool)] = [
                ("AECNN (float)", { $0.method == .aecnn && $0.ranking == nil }),
                ("AECNN coded", { $0.method == .aecnnCoded && $0.ranking == nil }),
            ]
            for c in r.layout.channels { groups.append(("BottleNet++ \(c.rawValue)", { $0.method == .bottleNetPP && $0.channel == c && ($0.condition ?? 0) == 0 && $0.codec == nil })) }
            for c in r.layout.channels where r.rows.contains(where: { $0.method == .bottleNetPP && $0.channel == c && $0.codec != nil }) {
                groups.append(("BottleNet++ \(c.rawValue) coded", { $0.method == .bottleNetPP && $0.channel == c && $0.codec != nil }))
            }
            for q in r.layout.qualities { groups.append(("BottleNet JPEG q\(q)", { $0.method == .bottleNet && $0.quality == q })) }
            if r.rows.contains(where: { $0.method == .entropic }) { groups.append(("Entropy bottleneck", { $0.method == .entropic })) }
            for (name, pick) in groups {
                let measured = r.rows.filter { $0.split == split && pick($0) && $0.accuracy != nil }
                if measured.isEmpty { md += "| \(split) | \(name) | not measured | | | | |\n"; continue }
                let within = measured
                    .filter { row in
                        guard row.accuracy?.isFinite == true, row.compressionRatio?.isFinite == true, let d = r.minusBase(of: row) else { return false }
                        return d >= -tolerance - 1e-12
                    }
                guard let best = within.max(by: { ($0.compressionRatio!, $0.accuracy!) < ($1.compressionRatio!, $1.accuracy!) }) else {
                    md += "| \(split) | \(name) | none within \(points) points | | | | |\n"
                    continue
                }
                var setting = "V=\(best.ratio.map(String.init) ?? "?")"
                if let codec = best.codec, let bits = best.bits { setting += ", \(codec.rawValue) \(bits)-bit" }
                md += "| \(split) | \(name) | \(setting) | \(accuracy(best, seeds: r.seeds.count)) | \(minusBase(best, r)) | \(number(best.compressionRatio, "%.0f"))× | \(best.compressionRatioFrame.map { String(format: "%.0f×", $0) } ?? "–") |\n"
            }
        }
        return md + "\n"
    }

    static func baseRow(_ r: ComparisonReport) -> ReportRow {
        var row = ReportRow(method: .reference, reference: "base model")
        row.accuracy = r.baseAccuracy; row.accuracyStd = r.baseAccuracyStd; row.n = r.seeds.count
        return row
    }

    static func budgetsMarkdown(_ r: ComparisonReport) -> String {
        guard !r.budgets.isEmpty else { return "" }
        var md = "Training after the base model (epochs):\n\n| method | epochs | as |\n|---|---|---|\n"
        for b in r.budgets {
            let note = b.matched == true ? " (matched to AECNN's epochs after pruning)" : (b.matched == false ? " (set by the pipeline)" : "")
            md += "| \(b.method.rawValue) | \(b.epochsAfterBase) | \(b.breakdown)\(note) |\n"
        }
        return md + "\n"
    }

    // MARK: comparison.csv

    static let csvColumns = ["method", "reference", "split", "ratio", "channel", "condition", "quality", "codec", "bits", "accuracy",
                             "accuracy_std", "n", "minus_base", "test_images", "epochs", "bits_per_element", "bytes_per_image", "compression_ratio",
                             "compression_ratio_frame", "device_flops", "sent_channels"]

    /// RFC 4180, one line per row; an absent value is an empty field. A report with JPEG rows measured with
    /// their tables out of band has one more column, `bytes_per_image_tables_out_of_band`.
    public static func csv(_ r: ComparisonReport) -> String {
        func s<T>(_ x: T?) -> String { x.map { "\($0)" } ?? "" }
        let outOfBand = r.rows.contains { $0.bytesPerImageTablesOutOfBand != nil }, controls = r.rows.contains { $0.ranking != nil }
        var out = (csvColumns + (outOfBand ? ["bytes_per_image_tables_out_of_band"] : []) + (controls ? ["ranking"] : [])).joined(separator: ",") + "\r\n"
        for row in r.rows {
            let fields = [row.method.rawValue, s(row.reference), s(row.split), s(row.ratio), s(row.channel?.rawValue), s(row.condition), s(row.quality),
                          s(row.codec?.rawValue), s(row.bits), s(row.accuracy), s(row.accuracyStd), s(row.n), s(row.minusBase), s(row.testImages), s(row.epochs),
                          s(row.bitsPerElement), s(row.bytesPerImage), s(row.compressionRatio), s(row.compressionRatioFrame), s(row.deviceFlops),
                          s(row.sentChannels)] + (outOfBand ? [s(row.bytesPerImageTablesOutOfBand)] : []) + (controls ? [s(row.ranking)] : [])
            out += fields.map(csvField).joined(separator: ",") + "\r\n"
        }
        return out
    }

    // MARK: plots

    /// Accuracy against compression ratio and against bytes per image, for each split.
    public static func plots(_ r: ComparisonReport) -> [(name: String, svg: String)] {
        var out: [(String, String)] = []
        for split in r.layout.splits {
            let rows = r.rows.filter { $0.split == split || ($0.method == .reference && $0.split == nil) }
            var byRatio = SVGPlot(title: "\(r.pipeline), split \(split): accuracy against compression", xLabel: "compression ratio against the float32 split tensor (log scale)",
                                  yLabel: "test accuracy (%)", xScale: .log2)
            var byBytes = SVGPlot(title: "\(r.pipeline), split \(split): accuracy against bytes sent", xLabel: "bytes per image (log scale)",
                                  yLabel: "test accuracy (%)", xScale: .log10)
            if let b = r.baseAccuracy {
                byRatio.references = [("base model", 100 * b)]
                byBytes.references = [("base model", 100 * b)]
            }
            func series(_ name: String, style: String, _ pick: (ReportRow) -> Bool, x: KeyPath<ReportRow, Double?>, connect: Bool = true) -> SVGPlot.Series {
                let picked = rows.filter(pick).filter { $0.accuracy != nil && $0[keyPath: x] != nil }
                    .sorted { ($0[keyPath: x] ?? 0) < ($1[keyPath: x] ?? 0) }
                var s = SVGPlot.Series(name: name, points: picked.map { ($0[keyPath: x]!, 100 * $0.accuracy!) }, connect: connect)
                s.style = SVGPlot.style(forMethod: style)
                let errors = picked.map { 100 * ($0.accuracyStd ?? 0) }
                if errors.contains(where: { $0 > 0 }) { s.errors = errors }
                return s
            }
            for (method, name) in [(ReportMethod.caPruned, "CA_Pruned (float)"), (.aecnn, "AECNN (float)")] {
                byRatio.series.append(series(name, style: method.rawValue, { $0.method == method && $0.ranking == nil }, x: \.compressionRatio))
            }
            byBytes.series.append(series("AECNN (float)", style: ReportMethod.aecnn.rawValue, { $0.method == .aecnn && $0.ranking == nil }, x: \.bytesPerImage))
            for bits in r.layout.bits { for codec in r.layout.codecs {
                let pick: (ReportRow) -> Bool = { $0.method == .aecnnCoded && $0.bits == bits && $0.codec == codec && $0.ranking == nil }
                let name = "AECNN \(bits)-bit \(codec.rawValue)"
                byRatio.series.append(series(name, style: "AECNN \(bits)-bit", pick, x: \.compressionRatio))
                byBytes.series.append(series(name, style: "AECNN \(bits)-bit", pick, x: \.bytesPerImage))
            } }
            for c in r.layout.channels {
                let pick: (ReportRow) -> Bool = { $0.method == .bottleNetPP && $0.channel == c && ($0.condition ?? 0) == 0 && $0.codec == nil }
                let name = "BottleNet++ \(c.rawValue)" + (c == .bec ? " (8-bit)" : "")
                byRatio.series.append(series(name, style: "BottleNet++", pick, x: \.compressionRatio))
                byBytes.series.append(series(name, style: "BottleNet++", pick, x: \.bytesPerImage))
                for bits in r.layout.bits { for codec in r.layout.codecs {
                    let coded: (ReportRow) -> Bool = { $0.method == .bottleNetPP && $0.channel == c && $0.codec == codec && $0.bits == bits }
                    guard rows.contains(where: coded) else { continue }
                    let name = "BottleNet++ \(c.rawValue) \(bits)-bit \(codec.rawValue)"
                    byRatio.series.append(series(name, style: "BottleNet++ \(bits)-bit", coded, x: \.compressionRatio))
                    byBytes.series.append(series(name, style: "BottleNet++ \(bits)-bit", coded, x: \.bytesPerImage))
                } }
            }
            for q in r.layout.qualities {
                let pick: (ReportRow) -> Bool = { $0.method == .bottleNet && $0.quality == q }
                byRatio.series.append(series("BottleNet JPEG q\(q)", style: "BottleNet", pick, x: \.compressionRatio))
                byBytes.series.append(series("BottleNet JPEG q\(q)", style: "BottleNet", pick, x: \.bytesPerImage))
                if rows.contains(where: { pick($0) && $0.bytesPerImageTablesOutOfBand != nil }) {
                    byBytes.series.append(series("BottleNet JPEG q\(q), tables out of band", style: "BottleNet, tables out of band", pick, x: \.bytesPerImageTablesOutOfBand))
                }
            }
            for lambda in Set(rows.compactMap { $0.method == .entropic ? $0.lambda : nil }).sorted() {
                let pick: (ReportRow) -> Bool = { $0.method == .entropic && $0.lambda == lambda }
                byRatio.series.append(series("entropy bottleneck λ=\(lambda)", style: "Entropy bottleneck", pick, x: \.compressionRatio))
                byBytes.series.append(series("entropy bottleneck λ=\(lambda)", style: "Entropy bottleneck", pick, x: \.bytesPerImage))
            }
            // The input image sent whole as JPEG over the quality sweep: a curve of its own (container, and tables
            // out of band); the other references are single points.
            let inputJPEG: (ReportRow) -> Bool = { $0.method == .reference && $0.reference == "input image as JPEG" }
            byBytes.series.append(series("references (base model)", style: "references", { $0.method == .reference && !inputJPEG($0) }, x: \.bytesPerImage, connect: false))
            if rows.contains(where: inputJPEG) {
                byBytes.series.append(series("input image as JPEG", style: "input image as JPEG", inputJPEG, x: \.bytesPerImage))
                byBytes.series.append(series("input image as JPEG, tables out of band", style: "input image as JPEG, tables out of band", inputJPEG, x: \.bytesPerImageTablesOutOfBand))
            }
            out.append(("accuracy_vs_ratio_\(split).svg", byRatio.render()))
            out.append(("accuracy_vs_bytes_\(split).svg", byBytes.render()))
        }
        return out
    }

    // MARK: report.md

    /// A stage-time column for values too long for a cell (a CPU, a build): each row names its value by number
    /// ("CPU 2"), and a legend below the table spells the numbers out.
    struct NumberedColumn {
        let header: String, name: String, values: [String], key: KeyPath<StageTime, String?>
        init(header: String, name: String, of times: [StageTime], _ key: KeyPath<StageTime, String?>) {
            self.header = header; self.name = name; self.key = key
            values = Array(Set(times.compactMap { $0[keyPath: key] })).sorted()
        }
        func cell(_ t: StageTime) -> String { t[keyPath: key].flatMap { values.firstIndex(of: $0) }.map { "\(name) \($0 + 1)" } ?? "–" }
        var legend: String { values.enumerated().map { "\(name) \($0.offset + 1): \($0.element)" }.joined(separator: "  \n") }
    }

    public static func reportMarkdown(_ r: ComparisonReport, comparison: String, plots: [String]) -> String {
        var md = "# Report: \(r.pipeline)\n\n"
        md += "Data: \(r.dataset ?? "?") (\(r.trainImages.map(String.init) ?? "?") training images; \(imagesPhrase(r))); model \(r.model ?? "?"); "
        md += r.seeds.count == 1 ? "seed \(r.seeds[0]).\n\n" : "seeds \(r.seeds.map(String.init).joined(separator: ", ")).\n\n"
        md += "## Provenance\n\n| seed | build | CPU | cores | threads | BLAS | convolutions |\n|---|---|---|---|---|---|---|\n"
        for p in r.provenance {
            md += "| \(p.seed) | \(p.version ?? "–") | \(p.cpu) | \(p.cores) | \(p.threads) | \(p.blasCore ?? "–") | \(p.convKernels ?? "–") |\n"
        }
        md += "\n" + comparison.replacingOccurrences(of: "# \(r.pipeline): AECNN against its baselines\n\n", with: "## Comparison\n\n")
        md += "## Plots\n\n" + plots.map { "![\($0)](\($0))" }.joined(separator: "\n\n") + "\n\n"
        md += "## Wall time of every stage\n\n"
        let cpus = NumberedColumn(header: "cpu", name: "CPU", of: r.stageTimes, \.cpu)
        // The build that trained each stage, named whenever it was recorded: it need not be the one in the
        // provenance above, which rendered the report.
        let builds = NumberedColumn(header: "build", name: "build", of: r.stageTimes, \.build)
        let columns = (cpus.values.count > 1 ? [cpus] : []) + (builds.values.isEmpty ? [] : [builds])
        if cpus.values.count > 1 { md += "Stages ran on more than one CPU: \(cpus.values.joined(separator: "; ")) (column cpu).\n\n" }
        if !builds.values.isEmpty { md += "The build that ran each stage is in column build (those without one predate its recording).\n\n" }
        md += "| seed | stage | wall s | train images/s |" + columns.map { " \($0.header) |" }.joined()
        md += "\n|---|---|---|---|" + String(repeating: "---|", count: columns.count) + "\n"
        var total = 0.0
        for t in r.stageTimes {
            total += t.seconds
            md += String(format: "| %llu | %@ | %.0f | %@ |", t.seed, t.instance, t.seconds, t.trainImagesPerSecond.map { String(format: "%.0f", $0) } ?? "–")
            md += columns.map { " \($0.cell(t)) |" }.joined() + "\n"
        }
        md += String(format: "| | **total** | **%.0f** | |", total) + String(repeating: " |", count: columns.count) + "\n"
        for c in columns { md += "\n" + c.legend + "\n" }
        if let runs = r.seedRuns {
            md += "\n## Seeds\n\n| seed | base model (SHA-256 of train-base's outputs) | pipeline file |\n|---|---|---|\n"
            for run in runs {
                md += "| \(run.seed) | \(run.baseModelSha256.map { "`\($0)`" } ?? "–") | \(run.pipelineText == nil ? "the one below" : "its own, below") |\n"
            }
        }
        if let text = r.pipelineText {
            md += "\n## Pipeline file\n\n```yaml\n\(text)\(text.hasSuffix("\n") ? "" : "\n")```\n"
        } else {
            md += "\nPipeline settings: the pipeline file; every field is in docs/pipeline.md.\n"
        }
        for run in r.seedRuns ?? [] {
            guard let text = run.pipelineText else { continue }
            md += "\n### Seed \(run.seed)'s pipeline file\n\n```yaml\n\(text)\(text.hasSuffix("\n") ? "" : "\n")```\n"
        }
        return md
    }

    /// Writes comparison.md/.csv/.json, the plots and report.md into `directory`; returns comparison.md's text.
    @discardableResult
    public static func write(_ r: ComparisonReport, to directory: URL, extraPlots: [(name: String, svg: String)] = []) throws -> String {
        let md = comparisonMarkdown(r)
        let plots = self.plots(r) + extraPlots
        // Plot names come from split names, which a comparison.json from another machine carries: each must be
        // one file name inside `directory` (read() checks the splits; this holds for any report).
        for p in plots where p.name.isEmpty || p.name.contains("/") || p.name.hasPrefix(".") || p.name.contains("\0") {
            throw ReportError("the plot name '\(p.name.prefix(80))' is not a file name inside \(directory.path): the report's split names must be letters, digits, '.', '_' and '-'")
        }
        try FileIOError.createDirectory(at: directory, detail: "the report's folder")
        for p in plots { try AtomicFile.write(Data(p.svg.utf8), to: directory.appendingPathComponent(p.name)) }
        try AtomicFile.write(Data(md.utf8), to: directory.appendingPathComponent("comparison.md"))
        try AtomicFile.write(Data(csv(r).utf8), to: directory.appendingPathComponent("comparison.csv"))
        try AtomicFile.write(try r.encoded(), to: directory.appendingPathComponent("comparison.json"))
        try AtomicFile.write(Data(reportMarkdown(r, comparison: md, plots: plots.map(\.name)).utf8), to: directory.appendingPathComponent("report.md"))
        return md
    }
}

/// One CSV field as RFC 4180 writes it: quoted when it holds a comma, a double quote or a line break, with
/// inner double quotes doubled.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
