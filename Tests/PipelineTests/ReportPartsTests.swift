// A seed's run split over sittings: one-seed reports of the same seed and base model combine into one report
// (each row from the part that measured it) before seeds merge; parts that disagree on a row, or come from
// different base models, are refused by name.

import XCTest
@testable import Pipeline
import PipelineSpec

final class ReportPartsTests: XCTestCase {
    func report(seed: UInt64, base: String?, rows: [(ReportMethod, Int, Double?)], cpu: String) -> ComparisonReport {
        let made = rows.map { (m, v, acc) -> ReportRow in
            var r = ReportRow(method: m, split: "stem", ratio: v)
            r.accuracy = acc
            r.testImages = acc == nil ? nil : 100
            r.n = acc == nil ? nil : 1
            return r
        }
        return ComparisonReport(pipeline: "p", seeds: [seed], layout: ReportLayout(splits: ["stem"], ratios: [4, 16], codecs: [], bits: [], channels: [], qualities: []),
                                testImages: 100, trainImages: 200, dataset: nil, model: nil, baseAccuracy: 0.9, baseAccuracyStd: nil,
                                baseModelSha256: base, rows: made, budgets: [],
                                provenance: [RunProvenance(seed: seed, version: "v", cpu: cpu, cores: 2, threads: 2, blasCore: nil, convKernels: nil)],
                                stageTimes: [StageTime(seed: seed, instance: "fine-tune stem V=\(rows.first { $0.2 != nil }?.1 ?? 0)", seconds: 1, trainImagesPerSecond: nil, cpu: cpu)],
                                pipelineText: nil)
    }

    func testPartsOfOneSeedCombineBeforeSeedsMerge() throws {
        // Seed 0 in two sittings (V=16 in the first, V=4 in the second, each "–" for the other), seed 1 whole.
        let a = report(seed: 0, base: "b0", rows: [(.aecnn, 4, nil), (.aecnn, 16, 0.80)], cpu: "Intel")
        let b = report(seed: 0, base: "b0", rows: [(.aecnn, 4, 0.85), (.aecnn, 16, nil)], cpu: "AMD")
        let c = report(seed: 1, base: "b1", rows: [(.aecnn, 4, 0.87), (.aecnn, 16, 0.84)], cpu: "AMD")
        let merged = try ComparisonReport.merge([a, b, c], names: ["a", "b", "c"])
        XCTAssertEqual(merged.seeds, [0, 1])
        let v4 = try XCTUnwrap(merged.rows.first { $0.ratio == 4 }), v16 = try XCTUnwrap(merged.rows.first { $0.ratio == 16 })
        XCTAssertEqual(v4.n, 2); XCTAssertEqual(v16.n, 2)
        XCTAssertEqual(try XCTUnwrap(v4.accuracy), 0.86, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(v16.accuracy), 0.82, accuracy: 1e-12)
        // Which machine ran which part stays in the report.
        XCTAssertEqual(Set(merged.provenance.map(\.cpu)), ["Intel", "AMD"])
        XCTAssertEqual(merged.stageTimes.filter { $0.seed == 0 }.map(\.cpu), ["Intel", "AMD"])

        // One part alone combines to itself; parts of one seed combine in any order.
        let ba = try ComparisonReport.merge([b, a], names: ["b", "a"])
        XCTAssertEqual(ba.rows.map(\.accuracy), try ComparisonReport.merge([a, b], names: ["a", "b"]).rows.map(\.accuracy))
    }

    /// A merge of seeds keeps each seed's base model and the pipeline file each seed ran where it differs.
    func testMergedReportNamesEachSeedsBaseModelAndPipelineFile() throws {
        var a = report(seed: 0, base: "b0", rows: [(.aecnn, 4, 0.8)], cpu: "Intel"), b = report(seed: 1, base: "b1", rows: [(.aecnn, 4, 0.9)], cpu: "Intel")
        var c = report(seed: 2, base: "b2", rows: [(.aecnn, 4, 0.85)], cpu: "AMD")
        a.pipelineText = "seeds: [0, 1]\n"; b.pipelineText = "seeds: [0, 1]\n"; c.pipelineText = "seeds: [0, 1, 2]\n"
        let merged = try ComparisonReport.merge([a, b, c], names: ["a", "b", "c"])
        XCTAssertNil(merged.baseModelSha256, "one hash cannot stand for three seeds")
        XCTAssertEqual(merged.seedRuns, [SeedRun(seed: 0, baseModelSha256: "b0", pipelineText: nil), SeedRun(seed: 1, baseModelSha256: "b1", pipelineText: nil),
                                         SeedRun(seed: 2, baseModelSha256: "b2", pipelineText: "seeds: [0, 1, 2]\n")])
        let md = ReportRendering.reportMarkdown(merged, comparison: "", plots: [])
        XCTAssertTrue(md.contains("| 2 | `b2` | its own, below |") && md.contains("### Seed 2's pipeline file"), md)
        // Merged again with a fourth seed, the runs carry over.
        var d = report(seed: 3, base: "b3", rows: [(.aecnn, 4, 0.8)], cpu: "AMD")
        d.pipelineText = "seeds: [0, 1]\n"
        XCTAssertEqual(try ComparisonReport.merge([merged, d], names: ["m", "d"]).seedRuns?.map(\.baseModelSha256), ["b0", "b1", "b2", "b3"])
    }

    func testPartsThatDisagreeOrStartFromAnotherBaseAreRefused() {
        let a = report(seed: 0, base: "b0", rows: [(.aecnn, 16, 0.80)], cpu: "Intel")
        let twice = report(seed: 0, base: "b0", rows: [(.aecnn, 16, 0.81)], cpu: "Intel")
        XCTAssertThrowsError(try ComparisonReport.merge([a, twice], names: ["a", "twice"])) {
            XCTAssertTrue("\($0)".contains("AECNN stem V=16 is measured in both twice"), "\($0)")
            XCTAssertTrue("\($0)".contains("seed-0/") && "\($0)".contains("aecnn report --pipeline <file> --seed 0"), "\($0)")
        }
        let other = report(seed: 0, base: "zz", rows: [(.aecnn, 4, 0.85)], cpu: "Intel")
        XCTAssertThrowsError(try ComparisonReport.merge([a, other], names: ["a", "other"])) {
            XCTAssertTrue("\($0)".contains("different base models"), "\($0)")
        }
        // The same row measured identically in two parts (e.g. a reference row) is fine.
        XCTAssertNoThrow(try ComparisonReport.merge([a, a], names: ["a", "again"]))
    }

    /// Each stage's time keeps the build that trained it: combining parts keeps both, and report.md names them
    /// in a build column (not the rendering build of the provenance); a report from before builds were recorded
    /// has no such column.
    func testStageTimesNameTheBuildThatTrainedThem() throws {
        var a = report(seed: 0, base: "b0", rows: [(.aecnn, 16, 0.80)], cpu: "AMD")
        var b = report(seed: 0, base: "b0", rows: [(.aecnn, 4, 0.85)], cpu: "AMD")
        a.stageTimes[0].build = "aecnn 0.9.0 (commit aaaaaaaaaaaa)"
        b.stageTimes[0].build = "aecnn 0.9.0 (commit bbbbbbbbbbbb)"
        let combined = try ComparisonReport.combineParts([a, b], names: ["a", "b"])
        XCTAssertEqual(combined.stageTimes.map(\.build), ["aecnn 0.9.0 (commit aaaaaaaaaaaa)", "aecnn 0.9.0 (commit bbbbbbbbbbbb)"])
        let md = ReportRendering.reportMarkdown(combined, comparison: "", plots: [])
        XCTAssertTrue(md.contains("| 0 | fine-tune stem V=16 | 1 | – | build 1 |"), md)
        XCTAssertTrue(md.contains("| 0 | fine-tune stem V=4 | 1 | – | build 2 |"), md)
        XCTAssertTrue(md.contains("build 1: aecnn 0.9.0 (commit aaaaaaaaaaaa)") && md.contains("build 2: aecnn 0.9.0 (commit bbbbbbbbbbbb)"), md)
        // The same run of a stage listed by two parts (the restored base model), one part predating the build
        // field: listed once, with its build.
        var base = StageTime(seed: 0, instance: "train-base", seconds: 883, trainImagesPerSecond: 716, cpu: "AMD")
        a.stageTimes.append(base)
        base.build = "aecnn 0.9.0 (commit 000000000000)"
        b.stageTimes.append(base)
        let once = try ComparisonReport.combineParts([a, b], names: ["a", "b"]).stageTimes.filter { $0.instance == "train-base" }
        XCTAssertEqual(once.map(\.build), ["aecnn 0.9.0 (commit 000000000000)"])
        // A comparison.json written before stage builds were recorded still reads, and renders without the column.
        let old = try ResultJSON.decoder().decode(StageTime.self, from: Data(#"{"seed": 0, "instance": "prune stem V=4", "seconds": 2}"#.utf8))
        XCTAssertNil(old.build)
        XCTAssertFalse(ReportRendering.reportMarkdown(report(seed: 0, base: "b0", rows: [(.aecnn, 4, 0.85)], cpu: "AMD"), comparison: "", plots: []).contains("build 1"))
    }

    /// A reference row (the base model on 8-bit + zstd features) re-measured on another CPU may differ by a few
    /// bytes: the parts still combine, with the earlier part's figures. A larger difference, or a trained cell
    /// differing by as little, is refused.
    func testReferenceRowsFromAnotherCPUCombineWithinTolerance() throws {
        func part(bytes: Double, accuracy: Double, aecnn: Double, cpu: String) -> ComparisonReport {
            var r = report(seed: 0, base: "b0", rows: [(.aecnn, 16, aecnn)], cpu: cpu)
            var ref = ReportRow(method: .reference, reference: "split tensor, 8-bit + zstd-19", split: "stem")
            ref.accuracy = accuracy; ref.bytesPerImage = bytes; ref.n = 1; ref.testImages = 100
            r.rows.append(ref)
            return r
        }
        let zen4 = part(bytes: 7501.1113, accuracy: 0.9348, aecnn: 0.80, cpu: "Zen 4")
        let zen3 = part(bytes: 7501.1030, accuracy: 0.9348, aecnn: 0.80, cpu: "Zen 3")
        let combined = try ComparisonReport.combineParts([zen4, zen3], names: ["zen4", "zen3"])
        let ref = try XCTUnwrap(combined.rows.first { $0.method == .reference })
        XCTAssertEqual(ref.bytesPerImage, 7501.1113)
        XCTAssertEqual(combined.rows.filter { $0.method == .reference }.count, 1)

        let farBytes = part(bytes: 7600, accuracy: 0.9348, aecnn: 0.80, cpu: "Zen 3")
        XCTAssertThrowsError(try ComparisonReport.combineParts([zen4, farBytes], names: ["zen4", "far"])) {
            XCTAssertTrue("\($0)".contains("split tensor, 8-bit + zstd-19"), "\($0)")
        }
        let farAccuracy = part(bytes: 7501.1113, accuracy: 0.9300, aecnn: 0.80, cpu: "Zen 3")
        XCTAssertThrowsError(try ComparisonReport.combineParts([zen4, farAccuracy], names: ["zen4", "far"]))
        let retrained = part(bytes: 7501.1113, accuracy: 0.9348, aecnn: 0.8001, cpu: "Zen 3")
        XCTAssertThrowsError(try ComparisonReport.combineParts([zen4, retrained], names: ["zen4", "retrained"])) {
            XCTAssertTrue("\($0)".contains("AECNN stem V=16"), "\($0)")
        }
    }

    /// A merged report says which figures rest on fewer seeds than it merges, shows AECNN − base, the frame
    /// ratio of coded rows, and per split and method the highest ratio within 2 points of the base.
    func testMergedTableMarksMissingSeedsAndShowsTheHeadline() throws {
        var a = report(seed: 0, base: "b0", rows: [(.aecnn, 4, 0.89), (.aecnn, 16, 0.85), (.aecnnCoded, 16, 0.875), (.aecnnCoded, 4, 0.89)], cpu: "AMD")
        let b = report(seed: 1, base: "b1", rows: [(.aecnn, 4, 0.91), (.aecnn, 16, nil), (.aecnnCoded, 16, nil), (.aecnnCoded, 4, 0.91)], cpu: "AMD")
        a.layout.bits = [4]; a.layout.codecs = [.arithContext]
        for k in a.rows.indices where a.rows[k].method == .aecnnCoded {
            a.rows[k].codec = .arithContext; a.rows[k].bits = 4
            a.rows[k].compressionRatio = a.rows[k].ratio == 16 ? 300 : 80
            a.rows[k].compressionRatioFrame = a.rows[k].ratio == 16 ? 280 : 78
        }
        var b2 = b
        b2.layout = a.layout
        b2.baseAccuracy = 0.92
        for k in b2.rows.indices where b2.rows[k].method == .aecnnCoded && b2.rows[k].accuracy != nil {
            b2.rows[k].codec = .arithContext; b2.rows[k].bits = 4; b2.rows[k].compressionRatio = 80; b2.rows[k].compressionRatioFrame = 78
        }
        let merged = try ComparisonReport.merge([a, b2], names: ["a", "b"])
        let md = ReportRendering.comparisonMarkdown(merged)
        // V=4: both seeds, no mark; V=16: seed 0 only, marked. AECNN − base in points, each seed against its
        // own base (90 and 92 %): V=16 is seed 0's −5, not 85 − 91.
        XCTAssertTrue(md.contains("Base model 91.00 ± 1.41 %"), md)
        XCTAssertTrue(md.contains("| 4 | – | – | – | 90.00 ± 1.41 | −1.00 |"), md)
        XCTAssertTrue(md.contains("| 16 | – | – | – | 85.00 (1 of 2 seeds) | −5.00 |"), md)
        XCTAssertEqual(try XCTUnwrap(merged.rows.first { $0.method == .aecnn && $0.ratio == 16 }?.minusBase), -0.05, accuracy: 1e-12)
        XCTAssertTrue(md.contains("arith-context 4b: 87.50 (1 of 2 seeds), –, – B, 300× (280×)"), md)
        // Within 2 points of the base: the coded V=16 row (2.5 below seed 0's) is not, V=4 (1 below) is.
        XCTAssertTrue(md.contains("| stem | AECNN coded | V=4, arith-context 4-bit | 90.00 ± 1.41 | −1.00 | 80× | 78× |"), md)
        XCTAssertTrue(md.contains("## Highest compression within 2 points of the base model"), md)
        // A method with no measured row says so; one whose rows are all more than 2 points below, too.
        XCTAssertTrue(md.contains("| stem | AECNN (float) | none within 2 points |"), md)
        XCTAssertTrue(ReportRendering.comparisonMarkdown(report(seed: 3, base: nil, rows: [(.aecnn, 4, nil)], cpu: "AMD")).contains("| stem | AECNN (float) | not measured |"))
        // Merging a merged report with another seed weights its differences by their seeds.
        var c = report(seed: 2, base: "b2", rows: [(.aecnn, 16, 0.93)], cpu: "AMD")
        c.baseAccuracy = 0.94
        c.layout = a.layout   // the same experiment: reports laid out differently are refused
        let three = try ComparisonReport.merge([merged, c], names: ["merged", "c"])
        let v16 = try XCTUnwrap(three.rows.first { $0.method == .aecnn && $0.ratio == 16 })
        XCTAssertEqual(v16.n, 2)
        XCTAssertEqual(try XCTUnwrap(v16.minusBase), (-0.05 - 0.01) / 2, accuracy: 1e-12)
        let v4 = try XCTUnwrap(three.rows.first { $0.method == .aecnn && $0.ratio == 4 })
        XCTAssertEqual(try XCTUnwrap(v4.minusBase), -0.01, accuracy: 1e-12)
        XCTAssertEqual(ReportRendering.signedPoints(-0.004), "0.00")
        XCTAssertEqual(ReportRendering.signedPoints(-0.31), "−0.31")
        XCTAssertEqual(ReportRendering.signedPoints(0.126), "+0.13")
        // One seed's report marks nothing.
        XCTAssertFalse(ReportRendering.comparisonMarkdown(a).contains("of 1 seeds"))
    }
}
