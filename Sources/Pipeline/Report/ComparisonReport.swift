// The comparison as data: typed rows (one per method × operating point × setting), what each method was
// trained for, on which machine and build every seed ran, and every stage's wall time. `ReportGathering`
// fills it from one seed's results, `merge` combines the reports of several seeds (run here or elsewhere),
// and `ReportRendering` turns any of them into Markdown, CSV, JSON and SVG. comparison.json is this type.

import Foundation
import PipelineSpec

/// The methods a report compares.
public enum ReportMethod: String, Codable, CaseIterable, Sendable {
    case caPruned = "CA_Pruned"
    case aecnn = "AECNN"
    case aecnnCoded = "AECNN coded"
    case bottleNetPP = "BottleNet++"
    case bottleNet = "BottleNet"
    /// The base model on a reference representation (raw split tensor, 8-bit + zstd, the input as PNG).
    case reference
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
    /// Test accuracy (a fraction); with several seeds, their mean.
    public var accuracy: Double?
    /// Sample standard deviation over seeds (n ≥ 2).
    public var accuracyStd: Double?
    /// Seeds behind the figure.
    public var n: Int?
    /// Test images the accuracy is measured on.
    public var testImages: Int?
    /// Training epochs of the method after the base model.
    public var epochs: Int?
    public var bitsPerElement: Double?
    public var bytesPerImage: Double?
    public var compressionRatio: Double?
    public var compressionRatioFrame: Double?
    public var deviceFlops: Int?
    /// Channels the device sends (AECNN, CA_Pruned) or symbol channels (BottleNet++, BottleNet).
    public var sentChannels: Int?

    public init(method: ReportMethod, reference: String? = nil, split: String? = nil, ratio: Int? = nil) {
        self.method = method; self.reference = reference; self.split = split; self.ratio = ratio
    }

    /// What identifies a row across seeds.
    public struct Key: Hashable, Sendable {
        var method: ReportMethod, reference: String?, split: String?, ratio: Int?, channel: BottleNetPPSettings.Channel?
        var condition: Double?, quality: Int?, codec: CodingSettings.Codec?, bits: Int?
    }
    public var key: Key {
        Key(method: method, reference: reference, split: split, ratio: ratio, channel: channel, condition: condition,
            quality: quality, codec: codec, bits: bits)
    }
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
public struct RunProvenance: Codable, Sendable {
    public var seed: UInt64
    public var version: String?
    public var cpu: String
    public var cores: Int
    public var threads: Int
    public var blasCore: String?
    public var convKernels: String?
}

/// One stage instance's wall time.
public struct StageTime: Codable, Sendable {
    public var seed: UInt64
    public var instance: String
    public var seconds: Double
    public var trainImagesPerSecond: Double?
    /// The CPU it ran on (stages of one seed may have run in different sittings, on different machines).
    public var cpu: String?
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
    public var rows: [ReportRow]
    public var budgets: [TrainingBudget]
    public var provenance: [RunProvenance]
    public var stageTimes: [StageTime]
    /// The pipeline file as run.
    public var pipelineText: String?

    /// The report of several seeds: rows with the same coordinates become one, with the mean accuracy, its
    /// sample standard deviation and n. The reports must be of one pipeline, laid out alike, on the same
    /// number of test images, and no seed may appear twice.
    public static func merge(_ reports: [ComparisonReport], names: [String]? = nil) throws -> ComparisonReport {
        guard let first = reports.first else { throw ReportError("nothing to merge") }
        let names = names ?? reports.indices.map { "report \($0 + 1)" }
        var seen: [UInt64: String] = [:]
        for (r, name) in zip(reports, names) {
            guard r.pipeline == first.pipeline else {
                throw ReportError("\(name) is of pipeline '\(r.pipeline)', \(names[0]) of '\(first.pipeline)': only seeds of one pipeline merge")
            }
            guard r.testImages == first.testImages else {
                throw ReportError("\(name) measured on \(r.testImages.map(String.init) ?? "mixed") test images, \(names[0]) on \(first.testImages.map(String.init) ?? "mixed"): merged accuracies must be on the same images")
            }
            for s in r.seeds {
                if let other = seen[s] { throw ReportError("seed \(s) is in both \(other) and \(name): each seed may be counted once") }
                seen[s] = name
            }
        }
        var order: [ReportRow.Key] = []
        var groups: [ReportRow.Key: [ReportRow]] = [:]
        for r in reports { for row in r.rows {
            if groups[row.key] == nil { order.append(row.key) }
            groups[row.key, default: []].append(row)
        } }
        let rows = order.map { key -> ReportRow in
            let g = groups[key]!
            var out = g[0]
            let acc = g.compactMap(\.accuracy)
            out.accuracy = Statistics.mean(acc)
            out.n = acc.count
            out.accuracyStd = acc.count >= 2 ? Statistics.standardDeviation(acc) : nil
            out.bytesPerImage = Statistics.mean(g.compactMap(\.bytesPerImage))
            out.bitsPerElement = Statistics.mean(g.compactMap(\.bitsPerElement))
            out.compressionRatio = Statistics.mean(g.compactMap(\.compressionRatio))
            out.compressionRatioFrame = Statistics.mean(g.compactMap(\.compressionRatioFrame))
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
        return merged
    }

    public func encoded() throws -> Data { try ResultJSON.encoder().encode(self) }

    public static func read(_ url: URL) throws -> ComparisonReport {
        guard let data = try? Data(contentsOf: url) else {
            throw ReportError("\(url.path) cannot be read. Fix: name the comparison.json of a report (Checkpoints/<pipeline>/report/comparison.json)")
        }
        do { return try ResultJSON.decoder().decode(ComparisonReport.self, from: data) } catch {
            throw ReportError("\(url.path) is not a comparison.json of this version (\(error)). Fix: rebuild it with 'aecnn report --pipeline <file>'")
        }
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
