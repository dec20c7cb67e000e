// The comparison as data: typed rows (one per method × operating point × setting), what each method was
// trained for, on which machine and build every seed ran, and every stage's wall time. `ReportGathering`
// fills it from one seed's results, `merge` combines the reports of several seeds (run here or elsewhere),
// and `ReportRendering` turns any of them into Markdown, CSV, JSON and SVG. comparison.json is this type.

import Foundation
import PipelineSpec
import Checkpoint
import Datasets

/// The methods a report compares.
public enum ReportMethod: String, Codable, CaseIterable, Sendable {
    case caPruned = "CA_Pruned"
    case aecnn = "AECNN"
    case aecnnCoded = "AECNN coded"
    case bottleNetPP = "BottleNet++"
    case bottleNet = "BottleNet"
    /// The base model on a reference representation (raw split tensor, 8-bit + zstd, the input as PNG).
    case reference
    /// Training-budget controls: CA_Pruned fine-tuned for AECNN's epochs after pruning, and the base model
    /// trained on for AECNN's epochs after the base (`aecnn.budget_controls`).
    /// The learned entropy bottleneck (factorized prior, `train-entropic`), one row per rate weight λ.
    case entropic = "Entropy bottleneck"
    case caPrunedMatched = "CA_Pruned, matched epochs"
    case baseContinued = "base model, trained on"
}

/// One figure of the comparison. Coordinates that do not apply to a method are absent, and so is a number
/// that was not measured (a stage not run yet).
public struct ReportRow: Codable, Sendable {
    public var method: ReportMethod
    /// For `reference` rows: which representation.
    public var reference: String?
    public var split: String?
    public var ratio: Int?
    public var channel: BottleNetPPSettings.Channel?
    /// The channel condition of a BottleNet++ test (σ or p; 0 = noise-free).
    public var condition: Double?
    public var quality: Int?
    public var codec: CodingSettings.Codec?
    public var bits: Int?
    /// For a control chain's CA_Pruned, AECNN and coded rows: the channel ranking it kept channels by (`l1`,
    /// `random`); absent for AECNN's own (attention) chain.
    public var ranking: String?
    /// For the entropy bottleneck: the rate weight λ of its loss.
    public var lambda: Double?
    /// Test accuracy (a fraction); with several seeds, their mean.
    public var accuracy: Double?
    /// Sample standard deviation over seeds (n ≥ 2).
    public var accuracyStd: Double?
    /// Seeds behind the figure.
    public var n: Int?
    /// Accuracy minus the base model's, paired by seed: in a merge, the mean over the row's seeds of each seed's
    /// difference (so a row measured on fewer seeds than the report is compared with the same seeds' base).
    public var minusBase: Double?
    /// Test images the accuracy is measured on.
    public var testImages: Int?
    /// Training epochs of the method after the base model.
    public var epochs: Int?
    public var bitsPerElement: Double?
    public var bytesPerImage: Double?
    /// For JPEG rows (BottleNet, the input image as JPEG): the bytes with the JPEG tables shared out of band.
    public var bytesPerImageTablesOutOfBand: Double?
    public var compressionRatio: Double?
    public var compressionRatioFrame: Double?
    public var deviceFlops: Int?
    /// Channels the device sends (AECNN, CA_Pruned) or symbol channels (BottleNet++, BottleNet).
    public var sentChannels: Int?
    /// Each seed's per-image predictions behind `accuracy`, where the stage kept them: what the paired
    /// comparisons resample.
    public var predictions: [SeedPredictions]?

    public init(method: ReportMethod, reference: String? = nil, split: String? = nil, ratio: Int? = nil) {
        self.method = method; self.reference = reference; self.split = split; self.ratio = ratio
    }

    /// What identifies a row across seeds.
    public struct Key: Hashable, Sendable {
        var method: ReportMethod, reference: String?, split: String?, ratio: Int?, channel: BottleNetPPSettings.Channel?
        var condition: Double?, quality: Int?, codec: CodingSettings.Codec?, bits: Int?, ranking: String?, lambda: Double?
    }
    /// "AECNN coded stem V=16 arith-context 4b": the row's coordinates, for messages.
    public var label: String {
        [method.rawValue, reference, split, ratio.map { "V=\($0)" }, ranking.map { "\($0) ranking" }, channel?.rawValue, condition.map { "p=\($0)" },
         quality.map { "q\($0)" }, codec?.rawValue, bits.map { "\($0)b" }, lambda.map { "λ=\($0)" }].compactMap { $0 }.joined(separator: " ")
    }

    public var key: Key {
        Key(method: method, reference: reference, split: split, ratio: ratio, channel: channel, condition: condition,
            quality: quality, codec: codec, bits: bits, ranking: ranking, lambda: lambda)
    }
}

/// What one seed of a merged report ran from: its base model and, when it differs from the report's
/// `pipelineText`, its pipeline file.
public struct SeedRun: Codable, Equatable, Sendable {
    public var seed: UInt64
    public var baseModelSha256: String?
    public var pipelineText: String?
}

/// One seed's per-image predictions of a report row.
public struct SeedPredictions: Codable, Equatable, Sendable {
    public var seed: UInt64
    public var predictions: TestPredictions
    public init(seed: UInt64, predictions: TestPredictions) { self.seed = seed; self.predictions = predictions }
}

/// How long each method trained after the base model, and whether the pipeline matched the baselines' budget.
public struct TrainingBudget: Codable, Sendable {
    public var method: ReportMethod
    /// Epochs after the base model, e.g. AECNN: attention + fine-tune + recovery.
    public var epochsAfterBase: Int
    /// How they split, e.g. "2 attention + 3 fine-tune + 3 recovery".
    public var breakdown: String
    /// The pipeline left the baseline's epochs out, so it got AECNN's epochs after pruning.
    public var matched: Bool?
}

/// Where and with what one seed's stages ran.
public struct RunProvenance: Codable, Equatable, Sendable {
    public var seed: UInt64
    public var version: String?
    public var cpu: String
    public var cores: Int
    public var threads: Int
    public var blasCore: String?
    public var convKernels: String?
}

/// One stage instance's wall time.
public struct StageTime: Codable, Equatable, Sendable {
    public var seed: UInt64
    public var instance: String
    public var seconds: Double
    public var trainImagesPerSecond: Double?
    /// The CPU it ran on (stages of one seed may have run in different sittings, on different machines).
    public var cpu: String?
    /// The build that ran it (version and commit), which may differ from the build that renders the report.
    /// Absent in reports written before it was recorded.
    public var build: String? = nil

    /// Whether two parts list the same run of a stage (e.g. the restored base model in every part): the same
    /// figures, and the same build where both recorded one.
    func sameRun(as o: StageTime) -> Bool {
        seed == o.seed && instance == o.instance && seconds == o.seconds && cpu == o.cpu && (build == nil || o.build == nil || build == o.build)
    }
}

/// The settings a report lays its tables out by (so a merged report renders without the pipeline file).
public struct ReportLayout: Codable, Sendable {
    public var splits: [String]
    public var ratios: [Int]
    public var codecs: [CodingSettings.Codec]
    public var bits: [Int]
    public var channels: [BottleNetPPSettings.Channel]
    public var qualities: [Int]
}

public struct ComparisonReport: Codable, Sendable {
    public var pipeline: String
    public var seeds: [UInt64]
    public var layout: ReportLayout
    /// Test images every accuracy of the report is measured on; nil when rows disagree (then each row says).
    public var testImages: Int?
    public var trainImages: Int?
    public var dataset: String?
    public var model: String?
    public var baseAccuracy: Double?
    public var baseAccuracyStd: Double?
    /// SHA-256 of the base model's weights (train-base's outputs hash), when one seed's report; reports of parts
    /// of one seed's run must share it.
    public var baseModelSha256: String?
    public var rows: [ReportRow]
    public var budgets: [TrainingBudget]
    public var provenance: [RunProvenance]
    public var stageTimes: [StageTime]
    /// The pipeline file as run.
    public var pipelineText: String?
    /// A merge of several seeds: each seed's base model (its weights' hash) and the pipeline file each seed
    /// ran, where they differ from the first (e.g. the `seeds:` list edited between runs). Absent in one seed's
    /// report and in merges written before they were kept.
    public var seedRuns: [SeedRun]? = nil
    /// The paired comparisons (`pairedComparisons()`), where rows carry per-image predictions; absent in
    /// reports without them.
    public var paired: [PairedResult]? = nil

    /// The report of several seeds: rows with the same coordinates become one, with the mean accuracy, its
    /// sample standard deviation and n. The reports must be of one pipeline, laid out alike, on the same
    /// number of test images, and no seed may appear twice — except as parts of one seed's run: several
    /// one-seed reports of the same seed and the same base model (e.g. cells run in different sittings from the
    /// same committed base) are first combined into one (`combineParts`).
    public static func merge(_ reports: [ComparisonReport], names: [String]? = nil) throws -> ComparisonReport {
        guard !reports.isEmpty else { throw ReportError("nothing to merge") }
        var names = names ?? reports.indices.map { "report \($0 + 1)" }
        var reports = reports
        // Parts of one seed's run: one-seed reports of the same seed.
        var partsOf: [UInt64: [Int]] = [:]
        for (k, r) in reports.enumerated() where r.seeds.count == 1 { partsOf[r.seeds[0], default: []].append(k) }
        if partsOf.values.contains(where: { $0.count > 1 }) {
            var keep: [ComparisonReport] = [], keepNames: [String] = []
            for (k, r) in reports.enumerated() {
                guard r.seeds.count == 1, let parts = partsOf[r.seeds[0]], parts.count > 1 else { keep.append(r); keepNames.append(names[k]); continue }
                guard parts[0] == k else { continue }
                keep.append(try combineParts(parts.map { reports[$0] }, names: parts.map { names[$0] }))
                keepNames.append(parts.map { names[$0] }.joined(separator: " + "))
            }
            reports = keep
            names = keepNames
        }
        let first = reports[0]
        var seen: [UInt64: String] = [:]
        for (r, name) in zip(reports, names) {
            guard r.pipeline == first.pipeline else {
                throw ReportError("\(name) is of pipeline '\(r.pipeline)', \(names[0]) of '\(first.pipeline)': only seeds of one pipeline merge")
            }
            guard r.testImages == first.testImages else {
                throw ReportError("\(name) measured on \(r.testImages.map(String.init) ?? "mixed") test images, \(names[0]) on \(first.testImages.map(String.init) ?? "mixed"): merged accuracies must be on the same images")
            }
            if let difference = r.experimentDifference(from: first) {
                throw ReportError("\(name) and \(names[0]) are different experiments (\(difference)): only runs of one pipeline, laid out and trained alike, merge into means. Fix: merge each experiment on its own")
            }
            for s in r.seeds {
                if let other = seen[s] { throw ReportError("seed \(s) is in both \(other) and \(name): each seed may be counted once") }
                seen[s] = name
            }
        }
        var order: [ReportRow.Key] = []
        var groups: [ReportRow.Key: [ReportRow]] = [:]
        for r in reports { for var row in r.rows {
            if groups[row.key] == nil { order.append(row.key) }
            if r.seeds.count == 1 { row.minusBase = r.minusBase(of: row) }
            groups[row.key, default: []].append(row)
        } }
        let rows = order.map { key -> ReportRow in
            let g = groups[key]!
            var out = g[0]
            let acc = g.compactMap(\.accuracy)
            out.accuracy = Statistics.mean(acc)
            out.n = acc.count
            out.accuracyStd = acc.count >= 2 ? Statistics.standardDeviation(acc) : nil
            // Weighted by seeds: a row of an already merged report carries its n seeds' mean difference.
            let paired = g.compactMap { row in row.accuracy == nil ? nil : row.minusBase.map { ($0, Double(row.n ?? 1)) } }
            let weight = paired.reduce(0) { $0 + $1.1 }
            out.minusBase = paired.count == acc.count && weight > 0 ? paired.reduce(0) { $0 + $1.0 * $1.1 } / weight : nil
            out.bytesPerImage = Statistics.mean(g.compactMap(\.bytesPerImage))
            out.bytesPerImageTablesOutOfBand = Statistics.mean(g.compactMap(\.bytesPerImageTablesOutOfBand))
            out.bitsPerElement = Statistics.mean(g.compactMap(\.bitsPerElement))
            out.compressionRatio = Statistics.mean(g.compactMap(\.compressionRatio))
            out.compressionRatioFrame = Statistics.mean(g.compactMap(\.compressionRatioFrame))
            let predictions = g.flatMap { $0.predictions ?? [] }
            out.predictions = predictions.isEmpty ? nil : predictions
            return out
        }
        let base = reports.compactMap(\.baseAccuracy)
        var merged = first
        merged.seeds = reports.flatMap(\.seeds)
        merged.rows = rows
        merged.baseAccuracy = Statistics.mean(base)
        merged.baseAccuracyStd = base.count >= 2 ? Statistics.standardDeviation(base) : nil
        merged.provenance = reports.flatMap(\.provenance)
        merged.stageTimes = reports.flatMap(\.stageTimes)
        // Each seed's base model and pipeline file (the first report's text stands for the seeds that ran it).
        var runs: [SeedRun] = []
        for r in reports {
            if let earlier = r.seedRuns { runs += earlier; continue }
            for s in r.seeds { runs.append(SeedRun(seed: s, baseModelSha256: r.seeds.count == 1 ? r.baseModelSha256 : nil, pipelineText: r.pipelineText)) }
        }
        for k in runs.indices where runs[k].pipelineText == merged.pipelineText { runs[k].pipelineText = nil }
        merged.seedRuns = runs.count > 1 ? runs : nil
        if merged.seeds.count > 1 { merged.baseModelSha256 = nil }   // one per seed, in seedRuns
        try merged.checkTestSets(names: names)
        let paired = try merged.pairedComparisons()
        merged.paired = paired.isEmpty ? nil : paired
        return merged
    }

    /// One seed's report from reports of parts of its run: each row from the part that measured it. The parts
    /// must be of one pipeline and seed, on the same test images, from the same base model (its weights' hash;
    /// the base accuracy when a part predates the hash); a row measured by two parts must agree
    /// (`sameMeasurement`), and the earlier part's figures stay.
    public static func combineParts(_ parts: [ComparisonReport], names: [String]) throws -> ComparisonReport {
        var out = parts[0]
        for (p, name) in zip(parts.dropFirst(), names.dropFirst()) {
            guard p.pipeline == out.pipeline, p.seeds == out.seeds else {
                throw ReportError("\(name) is of \(p.pipeline) seed \(p.seeds), \(names[0]) of \(out.pipeline) seed \(out.seeds): only parts of one seed's run combine")
            }
            guard p.testImages == out.testImages else {
                throw ReportError("\(name) measured on \(p.testImages.map(String.init) ?? "mixed") test images, \(names[0]) on \(out.testImages.map(String.init) ?? "mixed"): parts must be on the same images")
            }
            if let difference = p.experimentDifference(from: out) {
                throw ReportError("\(name) and \(names[0]) are parts of seed \(p.seeds[0]) of different experiments (\(difference)): only parts of one run combine")
            }
            let sameBase = (p.baseModelSha256 != nil && out.baseModelSha256 != nil) ? p.baseModelSha256 == out.baseModelSha256 : p.baseAccuracy == out.baseAccuracy
            guard sameBase else {
                throw ReportError("\(name) and \(names[0]) are of seed \(p.seeds[0]) but of different base models (\(p.baseModelSha256 ?? "accuracy \(p.baseAccuracy ?? .nan)") against \(out.baseModelSha256 ?? "accuracy \(out.baseAccuracy ?? .nan)")): parts of one seed's run start from one base model. Fix: restore the seed's committed base model before running its other cells")
            }
            out.baseModelSha256 = out.baseModelSha256 ?? p.baseModelSha256
            for row in p.rows {
                guard let k = out.rows.firstIndex(where: { $0.key == row.key }) else { out.rows.append(row); continue }
                guard row.accuracy != nil else { continue }
                guard out.rows[k].accuracy != nil else { out.rows[k] = row; continue }
                guard sameMeasurement(row, out.rows[k]) else {
                    let figures = { (r: ReportRow) in "accuracy \(r.accuracy ?? .nan)" + (r.bytesPerImage.map { ", \($0) B/image" } ?? "") }
                    throw ReportError("\(row.label) is measured in both \(name) (\(figures(row))) and an earlier part (\(figures(out.rows[k]))) with different results: a cell must come from one run. Fix: keep one of the two runs — where one part's run still is, delete that cell's stage folder under Checkpoints/\(p.pipeline)/seed-\(p.seeds[0])/ ('aecnn status' lists the stages), rebuild that part with 'aecnn report --pipeline <file> --seed \(p.seeds[0])' and merge again; or leave one of the two parts out of the merge")
                }
            }
            for t in p.stageTimes {
                guard let k = out.stageTimes.firstIndex(where: { $0.sameRun(as: t) }) else { out.stageTimes.append(t); continue }
                out.stageTimes[k].build = out.stageTimes[k].build ?? t.build
            }
            for v in p.provenance where !out.provenance.contains(v) { out.provenance.append(v) }
        }
        return out
    }

    /// Whether two parts' figures of one row are the same measurement (the earlier part's then stay). A trained
    /// cell must agree exactly: two different figures are two runs. Reference rows re-measure the one base model
    /// (its hash is checked) in every part; on another CPU the float kernels round differently, which can move a
    /// few values across an 8-bit quantiser bin and so change the zstd output by a few bytes (e.g. 0.008 of
    /// 7,501 bytes per image), so they agree within `referenceTolerance`.
    static let referenceTolerance = (accuracy: 1e-3, bytesRelative: 1e-3)

    static func sameMeasurement(_ a: ReportRow, _ b: ReportRow) -> Bool {
        guard a.method == .reference else { return a.accuracy == b.accuracy && a.bytesPerImage == b.bytesPerImage }
        guard let x = a.accuracy, let y = b.accuracy, abs(x - y) <= referenceTolerance.accuracy else { return false }
        switch (a.bytesPerImage, b.bytesPerImage) {
        case (nil, nil): return true
        case let (p?, q?): return abs(p - q) <= referenceTolerance.bytesRelative * max(abs(p), abs(q))
        default: return false
        }
    }

    /// The row's accuracy minus the base model's: the paired figure it carries, else its accuracy minus this
    /// report's base (the same thing for one seed; a difference of means for a merge written before rows carried it).
    public func minusBase(of row: ReportRow) -> Double? {
        if let d = row.minusBase { return d }
        guard let a = row.accuracy, let b = baseAccuracy else { return nil }
        return a - b
    }

    public func encoded() throws -> Data { try ResultJSON.encoder().encode(self) }

    /// Largest comparison.json read (the published merge of three seeds is about 100 kB).
    public static let maxFileBytes = 64 << 20

    /// A comparison.json, possibly written on another machine: read only if it is a regular file of sane size,
    /// decoded, and checked (`problem()`) before any of its names becomes a path or its figures a mean.
    public static func read(_ url: URL) throws -> ComparisonReport {
        let data: Data
        do { data = try SafeRead.contents(of: url, limit: maxFileBytes) } catch {
            throw ReportError("\(error). Fix: name the comparison.json of a report (Checkpoints/<pipeline>/report/comparison.json)")
        }
        let report: ComparisonReport
        do { report = try ResultJSON.decoder().decode(ComparisonReport.self, from: data) } catch {
            throw ReportError("\(url.path) is not a comparison.json of this version (\(error)). Fix: rebuild it with 'aecnn report --pipeline <file>'")
        }
        if let problem = report.problem() {
            throw ReportError("\(url.path) is not a valid comparison.json: \(problem). Fix: use the comparison.json that 'aecnn report' wrote, unedited")
        }
        return report
    }

    /// The first thing in the report that `aecnn report` would never write, or nil: names that could not name a
    /// folder (the pipeline's, the splits', which become plot file names), figures outside their range
    /// (an accuracy outside 0…1, a negative or non-finite size, n or a test-image count below 1), no seeds or a
    /// seed twice, a row at a split or ratio its layout does not list.
    public func problem() -> String? {
        func name(_ s: String) -> String { "'\(s.prefix(80).unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined())\(s.count > 80 ? "…" : "")'" }
        func printable(_ s: String) -> Bool { s.count <= 200 && s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7f && !(0x80...0x9f).contains($0.value) && $0.value != 0x2028 && $0.value != 0x2029 } }
        guard PipelineSpec.isValidName(pipeline) else { return "pipeline \(name(pipeline)) cannot name a folder" }
        for split in layout.splits where !PipelineSpec.isValidName(split) { return "split \(name(split)) cannot name a folder or a plot file (letters, digits, '.', '_', '-')" }
        guard Set(layout.splits).count == layout.splits.count else { return "a split is listed twice" }
        for v in layout.ratios where !(1...4096).contains(v) { return "ratio \(v) is outside 1…4096" }
        for b in layout.bits where !(1...16).contains(b) { return "bits \(b) is outside 1…16" }
        for q in layout.qualities where !(1...100).contains(q) { return "JPEG quality \(q) is outside 1…100" }
        guard !seeds.isEmpty else { return "it lists no seeds" }
        guard Set(seeds).count == seeds.count else { return "a seed is listed twice" }
        for text in [dataset, model, baseModelSha256].compactMap({ $0 }) + (seedRuns ?? []).compactMap(\.baseModelSha256) where !printable(text) {
            return "\(name(text)) holds control characters"
        }
        func fraction(_ x: Double?, _ what: String) -> String? {
            guard let x else { return nil }
            return x.isFinite && (0...1).contains(x) ? nil : "\(what) \(x) is not a fraction from 0 to 1"
        }
        func positive(_ x: Int?, _ what: String) -> String? { x.map { $0 >= 1 ? nil : "\(what) \($0) is below 1" } ?? nil }
        if let p = fraction(baseAccuracy, "the base accuracy") ?? fraction(baseAccuracyStd, "the base accuracy's deviation")
            ?? positive(testImages, "test_images") ?? positive(trainImages, "train_images") { return p }
        for row in rows {
            let label = "row \(name(row.label))"
            if let split = row.split, !layout.splits.contains(split) { return "\(label) is at split \(name(split)), which the layout does not list" }
            if let v = row.ratio, !layout.ratios.contains(v) { return "\(label) is at ratio \(v), which the layout does not list" }
            if let r = row.reference, !printable(r) { return "\(label) names its reference with control characters" }
            if let r = row.ranking, !PipelineSpec.isValidName(r) { return "\(label) names its ranking with characters a name cannot have" }
            // n counts the seeds behind a measured accuracy (a merge writes 0 for a row no seed measured).
            if let p = fraction(row.accuracy, "\(label): accuracy") ?? fraction(row.accuracyStd, "\(label): deviation")
                ?? (row.accuracy == nil ? nil : positive(row.n, "\(label): n")) ?? positive(row.testImages, "\(label): test_images") { return p }
            if let n = row.n, n < 0 { return "\(label): n \(n) is negative" }
            if let d = row.minusBase, !(d.isFinite && abs(d) <= 1) { return "\(label): minus_base \(d) is not a difference of two fractions" }
            for (x, what) in [(row.bitsPerElement, "bits_per_element"), (row.bytesPerImage, "bytes_per_image"), (row.bytesPerImageTablesOutOfBand, "bytes_per_image_tables_out_of_band"), (row.compressionRatio, "compression_ratio"),
                              (row.compressionRatioFrame, "compression_ratio_frame"), (row.condition, "condition"), (row.lambda, "lambda")] {
                if let x, !(x.isFinite && x >= 0) { return "\(label): \(what) \(x) is not a finite number ≥ 0" }
            }
            if let n = row.n, n > seeds.count { return "\(label): n \(n) is more than the report's \(seeds.count) seeds" }
            for p in row.predictions ?? [] {
                if !seeds.contains(p.seed) { return "\(label) has predictions of seed \(p.seed), which the report does not list" }
                if let t = row.testImages, p.predictions.count != t { return "\(label): predictions of \(p.predictions.count) images for an accuracy on \(t)" }
            }
            if let p = row.predictions, Set(p.map(\.seed)).count != p.count { return "\(label) has two predictions of one seed" }
        }
        return nil
    }

    /// The first difference in how two reports were laid out and trained (the splits, ratios, codecs, bit
    /// depths, channels, JPEG qualities, the model, the data set and its sizes, each method's training budget),
    /// or nil when they are the same experiment and can be merged.
    func experimentDifference(from o: ComparisonReport) -> String? {
        func list<T>(_ a: [T], _ b: [T]) -> String { "\(a) against \(b)" }
        if layout.splits != o.layout.splits { return "splits " + list(layout.splits, o.layout.splits) }
        if layout.ratios != o.layout.ratios { return "ratios " + list(layout.ratios, o.layout.ratios) }
        if layout.codecs != o.layout.codecs { return "codecs " + list(layout.codecs.map(\.rawValue), o.layout.codecs.map(\.rawValue)) }
        if layout.bits != o.layout.bits { return "bit depths " + list(layout.bits, o.layout.bits) }
        if layout.channels != o.layout.channels { return "BottleNet++ channels " + list(layout.channels.map(\.rawValue), o.layout.channels.map(\.rawValue)) }
        if layout.qualities != o.layout.qualities { return "JPEG qualities " + list(layout.qualities, o.layout.qualities) }
        if model != o.model { return "model \(model ?? "unknown") against \(o.model ?? "unknown")" }
        if dataset != o.dataset { return "data set \(dataset ?? "unknown") against \(o.dataset ?? "unknown")" }
        if trainImages != o.trainImages { return "training images \(trainImages.map(String.init) ?? "unknown") against \(o.trainImages.map(String.init) ?? "unknown")" }
        let budget = { (r: ComparisonReport) in r.budgets.map { "\($0.method.rawValue): \($0.breakdown)\($0.matched == true ? " (matched)" : "")" }.sorted() }
        if budget(self) != budget(o) { return "training budgets " + list(budget(self), budget(o)) }
        return nil
    }
}

public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Mean, sample standard deviation, and whether two accuracies differ by more than their noise.
public enum Statistics {
    public static func mean(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }

    /// Sample standard deviation (n − 1); nil below two values.
    public static func standardDeviation(_ xs: [Double]) -> Double? {
        guard xs.count >= 2, let m = mean(xs) else { return nil }
        return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }

    /// Standard error of one accuracy: the binomial error of a fraction measured on `images` test images,
    /// √(p(1−p)/N) (the images are the same for every seed, so it does not shrink with n), combined with
    /// the spread over seeds, std/√n, when there are two or more.
    public static func standardError(accuracy p: Double, std: Double?, n: Int?, images: Int?) -> Double? {
        guard let images, images > 0 else { return nil }
        let sampling = p * (1 - p) / Double(images)
        let seeds = std.flatMap { s in n.flatMap { $0 >= 2 ? s * s / Double($0) : nil } } ?? 0
        return (sampling + seeds).squareRoot()
    }

    public enum Verdict: String, Codable, Sendable { case ahead, withinNoise = "within noise", behind }

    /// a − b against twice the standard error of the difference (about a 95 % interval): ahead, behind, or
    /// within noise. Nil when either figure or its error is missing.
    public static func compare(_ a: ReportRow?, _ b: ReportRow?) -> (difference: Double, noise: Double, verdict: Verdict)? {
        guard let a, let b, let pa = a.accuracy, let pb = b.accuracy,
              let ea = standardError(accuracy: pa, std: a.accuracyStd, n: a.n, images: a.testImages),
              let eb = standardError(accuracy: pb, std: b.accuracyStd, n: b.n, images: b.testImages) else { return nil }
        let d = pa - pb, noise = 2 * (ea * ea + eb * eb).squareRoot()
        return (d, noise, abs(d) <= noise ? .withinNoise : (d > 0 ? .ahead : .behind))
    }
}
