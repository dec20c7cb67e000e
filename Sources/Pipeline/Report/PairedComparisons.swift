// The comparisons a report makes, from its rows' per-image predictions: per split, families of cells over the
// ratios V — AECNN (float) against each BottleNet++ channel (its noise-free or least noisy test), against
// BottleNet at each JPEG quality, against CA_Pruned (what the recovery CNN adds), and each coded configuration
// against AECNN float (what the quantiser and coder cost). Each cell is A − B with a paired bootstrap interval
// over seeds and test images (`PairedStatistics`); each family's verdicts are Holm-adjusted over its cells, and
// its pooled line is the mean difference over the cells with its own interval from the same draws.

import Foundation
import Datasets

/// One paired comparison of the report: a cell (a split and V) or a family's pooled line (`ratio` nil).
public struct PairedResult: Codable, Sendable {
    /// "AECNN vs BottleNet++ noiseless", "AECNN vs CA_Pruned", "AECNN arith-context 4-bit vs AECNN float".
    public var family: String
    public var split: String
    /// The cell's V; nil for the family's pooled line (the mean over its cells).
    public var ratio: Int?
    /// The cell's setting where V alone does not name it ("V=4, arith-context 4-bit").
    public var setting: String? = nil
    /// The rows compared (their labels): A − B.
    public var a: String
    public var b: String
    public var comparison: PairedStatistics.Comparison
    /// The verdict after Holm's adjustment over the family's cells (the pooled line: its own verdict).
    public var adjustedVerdict: PairedStatistics.Verdict
}

extension ComparisonReport {
    /// The bootstrap every report uses: 2,000 draws, 95 % intervals, equivalence within ±0.5 points.
    public static let pairedSettings = PairedStatistics.Settings(resamples: 2000, confidence: 0.95, margin: 0.005, seed: 0x5eed)

    /// Every test set a row's predictions name is the report's one test set, of its size.
    func checkTestSets(names: [String]) throws {
        var seen: (hash: String, row: String)?
        for row in rows { for p in row.predictions ?? [] {
            if let seen, seen.hash != p.predictions.testSetSha256 {
                throw ReportError("\(row.label) (seed \(p.seed)) was measured on another test set (\(p.predictions.testSetSha256.prefix(12))) than \(seen.row) (\(seen.hash.prefix(12))) in \(names.joined(separator: ", ")): paired comparisons need the same test images. Fix: merge only runs measured on the same test set")
            }
            seen = seen ?? (p.predictions.testSetSha256, row.label)
        } }
    }

    /// The paired comparisons of this report's rows (empty when no row kept predictions).
    public func pairedComparisons(settings: PairedStatistics.Settings = ComparisonReport.pairedSettings) throws -> [PairedResult] {
        var out: [PairedResult] = []
        for split in layout.splits {
            func at(_ method: ReportMethod, _ v: Int, _ pick: (ReportRow) -> Bool = { _ in true }) -> ReportRow? {
                rows.first { $0.method == method && $0.split == split && $0.ratio == v && $0.ranking == nil && pick($0) }
            }
            var families: [(name: String, cells: [(v: Int, a: ReportRow?, b: ReportRow?)])] = []
            var cellNames: [String: [String?]] = [:]   // family → cell settings, where V alone does not name a cell
            for c in layout.channels {
                families.append(("AECNN vs BottleNet++ \(c.rawValue)", layout.ratios.map { v in
                    (v, at(.aecnn, v), rows.filter { $0.method == .bottleNetPP && $0.split == split && $0.ratio == v && $0.channel == c && $0.codec == nil }
                        .min { ($0.condition ?? 0) < ($1.condition ?? 0) })
                }))
            }
            for q in layout.qualities {
                families.append(("AECNN vs BottleNet q\(q)", layout.ratios.map { v in (v, at(.aecnn, v), at(.bottleNet, v) { $0.quality == q }) }))
            }
            families.append(("AECNN vs CA_Pruned", layout.ratios.map { v in (v, at(.aecnn, v), at(.caPruned, v)) }))
            for lambda in Set(rows.compactMap { $0.method == .entropic ? $0.lambda : nil }).sorted() {
                families.append(("AECNN vs entropy bottleneck λ=\(lambda)", layout.ratios.map { v in (v, at(.aecnn, v), at(.entropic, v) { $0.lambda == lambda }) }))
            }
            // The training-budget controls: CA_Pruned at AECNN's epochs after pruning, and the base model trained
            // on for AECNN's epochs after the base (one row, against every cell).
            families.append(("AECNN vs CA_Pruned at matched epochs", layout.ratios.map { v in (v, at(.aecnn, v), at(.caPrunedMatched, v)) }))
            let continued = rows.first { $0.method == .baseContinued }
            families.append(("AECNN vs the base model trained on", layout.ratios.map { v in (v, at(.aecnn, v), continued) }))
            // The ranking controls: the attention ranking's chain against each control's, at the same V.
            for m in Set(rows.compactMap(\.ranking)).sorted() {
                func control(_ method: ReportMethod, _ v: Int) -> ReportRow? {
                    rows.first { $0.method == method && $0.split == split && $0.ratio == v && $0.ranking == m }
                }
                families.append(("AECNN: attention vs \(m) ranking", layout.ratios.map { v in (v, at(.aecnn, v), control(.aecnn, v)) }))
                families.append(("CA_Pruned: attention vs \(m) ranking", layout.ratios.map { v in (v, at(.caPruned, v), control(.caPruned, v)) }))
            }
            // Per bit width only: the coders are lossless, so every codec of a width decodes the same values and
            // classifies every image alike (the first codec's rows stand for all).
            if let codec = layout.codecs.first {
                for b in layout.bits {
                    families.append(("AECNN \(b)-bit vs AECNN float", layout.ratios.map { v in
                        (v, at(.aecnnCoded, v) { $0.codec == codec && $0.bits == b }, at(.aecnn, v))
                    }))
                }
                // Both through the same quantiser and frames: coded AECNN against coded BottleNet++ symbols.
                for c in layout.channels { for b in layout.bits {
                    let cells = layout.ratios.map { v in
                        (v, at(.aecnnCoded, v) { $0.codec == codec && $0.bits == b }, at(.bottleNetPP, v) { $0.channel == c && $0.codec == codec && $0.bits == b })
                    }
                    if cells.contains(where: { $0.2 != nil }) { families.append(("AECNN vs BottleNet++ \(c.rawValue), both \(b)-bit", cells)) }
                } }
            }
            // The naive baseline on the rate axis: each coded AECNN point against the most accurate way of sending
            // the input image whole (PNG, or JPEG with its tables out of band) in no more bytes per image.
            let inputs = rows.filter { $0.method == .reference && $0.split == nil && $0.accuracy != nil && $0.predictions?.isEmpty == false }
            func sent(_ r: ReportRow) -> Double { r.bytesPerImageTablesOutOfBand ?? r.bytesPerImage ?? .infinity }
            var rateCells: [(v: Int, a: ReportRow?, b: ReportRow?)] = [], rateSettings: [String?] = []
            for v in layout.ratios { for b in layout.bits { for codec in layout.codecs {
                guard let coded = at(.aecnnCoded, v, { $0.codec == codec && $0.bits == b }), let bytes = coded.bytesPerImage else { continue }
                guard let best = inputs.filter({ sent($0) <= bytes }).max(by: { ($0.accuracy!, -sent($0)) < ($1.accuracy!, -sent($1)) }) else { continue }
                rateCells.append((v, coded, best))
                rateSettings.append("V=\(v), \(codec.rawValue) \(b)-bit vs \(best.reference ?? "input")\(best.quality.map { " q\($0)" } ?? "")")
            } } }
            if !rateCells.isEmpty {
                families.append((Self.inputFamily, rateCells))
                cellNames[Self.inputFamily] = rateSettings
            }
            for family in families {
                // The family's seeds: those every cell has on both sides.
                let cells = family.cells.enumerated().compactMap { k, c -> (v: Int, a: ReportRow, b: ReportRow, setting: String?)? in
                    guard let a = c.a, let b = c.b, a.predictions?.isEmpty == false, b.predictions?.isEmpty == false else { return nil }
                    return (c.v, a, b, cellNames[family.name]?[k] ?? nil)
                }
                guard !cells.isEmpty else { continue }
                var seeds = Set(cells[0].a.predictions!.map(\.seed))
                for c in cells { seeds.formIntersection(c.a.predictions!.map(\.seed)); seeds.formIntersection(c.b.predictions!.map(\.seed)) }
                let order = seeds.sorted()
                guard !order.isEmpty else { continue }
                func outcomes(_ row: ReportRow) -> PairedStatistics.Outcomes {
                    order.map { s in row.predictions!.first { $0.seed == s }!.predictions.correct }
                }
                let (results, pooled) = try PairedStatistics.compareFamily(cells.map { (outcomes($0.a), outcomes($0.b)) }, settings: settings)
                let adjusted = PairedStatistics.adjustedVerdicts(results)
                for (k, c) in cells.enumerated() {
                    out.append(PairedResult(family: family.name, split: split, ratio: c.v, setting: c.setting, a: c.a.label, b: c.b.label,
                                            comparison: results[k], adjustedVerdict: adjusted[k]))
                }
                out.append(PairedResult(family: family.name, split: split, ratio: nil, a: cells[0].a.method.rawValue, b: cells[0].b.method.rawValue,
                                        comparison: pooled, adjustedVerdict: pooled.verdict))
            }
        }
        return out
    }

    /// The paired result of a family's cell (or its pooled line with `ratio` nil).
    public func paired(_ family: String, split: String, ratio: Int?) -> PairedResult? {
        paired?.first { $0.family == family && $0.split == split && $0.ratio == ratio }
    }

    /// The family of coded AECNN points against sending the input image in no more bytes.
    public static let inputFamily = "AECNN coded vs the input image in no more bytes"
}
