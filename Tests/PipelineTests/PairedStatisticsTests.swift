// The paired statistics of the report, against independent computations: exact McNemar p-values from
// scipy.stats.binomtest, Holm's adjustment worked by hand, the bootstrap interval of one seed against the
// normal approximation of a paired difference of proportions, and the paired interval against the unpaired one
// on correlated predictions. The bootstrap is deterministic: the same inputs and seed give the same bits.

import XCTest
@testable import Pipeline
import Datasets

final class PairedStatisticsTests: XCTestCase {
    /// Two methods on `n` images of `seeds` seeds: both right on most images; `onlyA` images only A gets right,
    /// `onlyB` only B, `both` both; the rest both wrong. Image positions shuffle with the seed.
    func outcomes(seeds: Int, n: Int, both: Int, onlyA: Int, onlyB: Int) -> (PairedStatistics.Outcomes, PairedStatistics.Outcomes) {
        var a: PairedStatistics.Outcomes = [], b: PairedStatistics.Outcomes = []
        for s in 0..<seeds {
            var rng = SplitMix64(seed: UInt64(s) + 11)
            var x = [Bool](repeating: false, count: n), y = x
            for k in 0..<n {
                x[k] = k < both + onlyA
                y[k] = k < both || (k >= both + onlyA && k < both + onlyA + onlyB)
            }
            for k in stride(from: n - 1, to: 0, by: -1) {   // Fisher–Yates, the same permutation for both
                let j = Int(rng.next(below: UInt64(k + 1)))
                x.swapAt(k, j); y.swapAt(k, j)
            }
            a.append(x); b.append(y)
        }
        return (a, b)
    }

    func testMcNemarExactAgreesWithScipy() {
        // scipy.stats.binomtest(b, b + c, 0.5).pvalue
        let expected: [(Int, Int, Double)] = [(0, 0, 1.0), (5, 0, 0.0625), (12, 3, 0.03515625), (30, 41, 0.23509756240834187),
                                              (100, 130, 0.05561357778139238), (7, 7, 1.0), (1, 2, 1.0)]
        for (b, c, p) in expected {
            XCTAssertEqual(PairedStatistics.mcNemarExact(b: b, c: c), p, accuracy: 1e-12, "b=\(b) c=\(c)")
        }
        let (x, y) = outcomes(seeds: 1, n: 500, both: 400, onlyA: 12, onlyB: 3)
        XCTAssertTrue(PairedStatistics.discordant(x[0], y[0]) == (12, 3))
    }

    func testHolmByHand() {
        // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → kept monotone at 0.06.
        XCTAssertEqual(PairedStatistics.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
        XCTAssertEqual(PairedStatistics.holm([0.5, 0.9]), [1.0, 1.0])
    }

    func testBootstrapIsBitIdenticalForTheSameInputs() throws {
        let (a, b) = outcomes(seeds: 3, n: 2000, both: 1800, onlyA: 30, onlyB: 45)
        let settings = PairedStatistics.Settings(resamples: 500)
        let first = try PairedStatistics.compare(a, b, settings: settings)
        XCTAssertEqual(try PairedStatistics.compare(a, b, settings: settings), first)
        var other = settings
        other.seed += 1
        XCTAssertNotEqual(try PairedStatistics.compare(a, b, settings: other).lower, first.lower, "the seed decides the draws")
    }

    /// One seed: the bootstrap's interval agrees with the normal approximation of a paired difference,
    /// sd = √((b + c)/n − ((b − c)/n)²) / √n, within sampling error.
    func testOneSeedIntervalMatchesThePairedNormalApproximation() throws {
        let n = 4000, onlyA = 60, onlyB = 100
        let (a, b) = outcomes(seeds: 1, n: n, both: 3600, onlyA: onlyA, onlyB: onlyB)
        let r = try PairedStatistics.compare(a, b, settings: .init(resamples: 2000))
        let d = Double(onlyA - onlyB) / Double(n)
        let sd = ((Double(onlyA + onlyB) / Double(n) - d * d) / Double(n)).squareRoot()
        XCTAssertEqual(r.difference, d, accuracy: 1e-12)
        XCTAssertEqual(r.lower, d - 1.96 * sd, accuracy: 0.15 * 1.96 * sd)
        XCTAssertEqual(r.upper, d + 1.96 * sd, accuracy: 0.15 * 1.96 * sd)
        XCTAssertEqual(r.verdict, .behind, "−1 point on 4,000 images with 160 discordant ones is resolved")
        // McNemar on the same seed agrees that it is resolved.
        XCTAssertLessThan(PairedStatistics.mcNemarExact(b: onlyA, c: onlyB), 0.05)
    }

    /// Correlated predictions: the two methods agree on all but 2 % of the images (200 of 10,000 per seed). The unpaired interval
    /// (independent binomial errors, 2 · 1.96 · √(2p(1−p)/N)) is far wider than the paired one.
    func testPairedIntervalIsNarrowerThanUnpairedOnCorrelatedPredictions() throws {
        let n = 10_000
        let (a, b) = outcomes(seeds: 3, n: n, both: 9300, onlyA: 95, onlyB: 105)
        let r = try PairedStatistics.compare(a, b, settings: .init(resamples: 400))
        let p = 0.94
        let unpairedWidth = 2 * 1.96 * (2 * p * (1 - p) / Double(n)).squareRoot()
        XCTAssertLessThan(r.upper - r.lower, 0.5 * unpairedWidth, "paired [\(r.lower), \(r.upper)] against unpaired width \(unpairedWidth)")
        XCTAssertTrue(r.lower <= r.difference && r.difference <= r.upper)
        // −0.1 points, resolved to well inside ±0.5: equivalent within the margin, not inconclusive.
        XCTAssertEqual(r.verdict, .equivalent)
    }

    func testVerdictsAndHolmAdjustment() throws {
        let clear = try PairedStatistics.compare(outcomes(seeds: 2, n: 3000, both: 2500, onlyA: 200, onlyB: 50).0,
                                                 outcomes(seeds: 2, n: 3000, both: 2500, onlyA: 200, onlyB: 50).1, settings: .init(resamples: 300))
        XCTAssertEqual(clear.verdict, .ahead)
        let small = try PairedStatistics.compare(outcomes(seeds: 2, n: 300, both: 250, onlyA: 6, onlyB: 4).0,
                                                 outcomes(seeds: 2, n: 300, both: 250, onlyA: 6, onlyB: 4).1, settings: .init(resamples: 300))
        XCTAssertEqual(small.verdict, .inconclusive, "300 images cannot resolve ±0.5 points")
        let adjusted = PairedStatistics.adjustedVerdicts([clear, small])
        XCTAssertEqual(adjusted, [.ahead, .inconclusive])
    }

    /// Two seeds' reports merge into paired comparisons over both seeds; reports measured on different test sets
    /// are refused.
    func testMergedReportsPairBySeedAndImage() throws {
        let testSet = String(repeating: "ab", count: 32)
        func seedReport(_ seed: UInt64, hash: String = testSet) -> ComparisonReport {
            let (a, b) = outcomes(seeds: 1, n: 400, both: 350, onlyA: 10 + Int(seed), onlyB: 5)
            func row(_ m: ReportMethod, _ o: [Bool]) -> ReportRow {
                var r = ReportRow(method: m, split: "stem", ratio: 4)
                let p = TestPredictions(testSetSha256: hash, count: o.count,
                                        wrong: o.enumerated().compactMap { $0.element ? nil : .init(index: $0.offset, predicted: 0) })
                r.accuracy = p.accuracy; r.testImages = 400; r.n = 1
                r.predictions = [SeedPredictions(seed: seed, predictions: p)]
                return r
            }
            return ComparisonReport(pipeline: "p", seeds: [seed], layout: ReportLayout(splits: ["stem"], ratios: [4], codecs: [], bits: [], channels: [], qualities: []),
                                    testImages: 400, trainImages: 10, dataset: nil, model: nil, baseAccuracy: 0.9, baseAccuracyStd: nil, baseModelSha256: "b\(seed)",
                                    rows: [row(.aecnn, a[0]), row(.caPruned, b[0])], budgets: [], provenance: [], stageTimes: [], pipelineText: nil)
        }
        let merged = try ComparisonReport.merge([seedReport(0), seedReport(1)], names: ["a", "b"])
        let cell = try XCTUnwrap(merged.paired("AECNN vs CA_Pruned", split: "stem", ratio: 4))
        XCTAssertEqual(cell.comparison.seeds, 2)
        XCTAssertEqual(cell.comparison.images, 400)
        XCTAssertEqual(cell.comparison.difference, ((10.0 - 5) / 400 + (11.0 - 5) / 400) / 2, accuracy: 1e-12)
        XCTAssertThrowsError(try ComparisonReport.merge([seedReport(0), seedReport(1, hash: String(repeating: "cd", count: 32))], names: ["a", "b"])) {
            XCTAssertTrue("\($0)".contains("another test set"), "\($0)")
        }
    }

    /// The compact JSON form of predictions round-trips, and damaged forms are refused.
    func testPredictionsRoundTripAndRefuseDamage() throws {
        let p = TestPredictions(predicted: [0, 3, 2, 2, 9, 1], labels: [0, 1, 2, 3, 9, 1], testSetSha256: String(repeating: "0f", count: 32))
        XCTAssertEqual(p.wrong, [.init(index: 1, predicted: 3), .init(index: 3, predicted: 2)])
        XCTAssertEqual(p.classes(labels: [0, 1, 2, 3, 9, 1]), [0, 3, 2, 2, 9, 1])
        let data = try JSONEncoder().encode(p)
        XCTAssertEqual(try JSONDecoder().decode(TestPredictions.self, from: data), p)
        for damaged in [#"{"testSetSha256":"x","count":6,"wrong":""}"#, #"{"testSetSha256":"\#(String(repeating: "0f", count: 32))","count":2,"wrong":"AQMCAg=="}"#,
                        #"{"testSetSha256":"\#(String(repeating: "0f", count: 32))","count":6,"wrong":"gA=="}"#] {
            XCTAssertThrowsError(try JSONDecoder().decode(TestPredictions.self, from: Data(damaged.utf8)), damaged)
        }
    }

    func testUnpairableInputsAreRefused() {
        XCTAssertThrowsError(try PairedStatistics.compare([[true]], [[true], [false]]))
        XCTAssertThrowsError(try PairedStatistics.compare([[true, false]], [[true]]))
        XCTAssertThrowsError(try PairedStatistics.compare([], []))
    }
}
