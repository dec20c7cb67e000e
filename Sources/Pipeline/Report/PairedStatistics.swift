// Paired comparisons of two methods measured on the same test images and the same seeds: both methods'
// per-image correctness (seeds × images), the difference of accuracies with a confidence interval that
// accounts for the test images and the seeds, a verdict from that interval, and Holm's adjustment over the
// comparisons of one table.
//
// The interval is a two-level bootstrap, seeded and deterministic: resample seeds with replacement, and
// within each drawn seed resample its test images with replacement, the same images for both methods (so the
// pairing is kept: an image both get right or both get wrong contributes no variance). The statistic is the
// mean over the drawn seeds of accuracy(A) − accuracy(B) on the drawn images; the interval is the percentile
// interval of `resamples` draws. One seed's exact McNemar test (on its discordant images) is the check a
// reader can reproduce by hand or with scipy.

import Foundation

public enum PairedStatistics {
    /// Whether each test image was classified right, per seed: `[seed][image]`. Both sides of a comparison
    /// have the same seeds, in the same order, and the same images.
    public typealias Outcomes = [[Bool]]

    /// What an interval of A − B supports.
    public enum Verdict: String, Codable, Sendable {
        /// The interval lies above 0.
        case ahead
        /// The interval lies below 0.
        case behind
        /// The interval holds 0 and lies inside ±margin: no difference larger than the margin.
        case equivalent
        /// The interval holds 0 and reaches beyond the margin: the data cannot tell.
        case inconclusive
    }

    /// A − B in accuracy (fractions), with its interval and what it supports.
    public struct Comparison: Codable, Equatable, Sendable {
        /// Mean over seeds of accuracy(A) − accuracy(B).
        public var difference: Double
        public var lower: Double
        public var upper: Double
        /// Two-sided bootstrap p-value of "no difference": 2 · min(P(draw ≤ 0), P(draw ≥ 0)), at most 1.
        public var pValue: Double
        /// Bootstrap p-value of "|A − B| ≥ margin" (the larger of the two one-sided tests' p-values, TOST).
        public var equivalencePValue: Double
        /// The equivalence margin the verdict used.
        public var margin: Double
        public var verdict: Verdict
        /// Seeds and images per seed behind it.
        public var seeds: Int
        public var images: Int
    }

    public struct Settings: Equatable, Sendable {
        public var resamples: Int
        /// Coverage of the interval, e.g. 0.95.
        public var confidence: Double
        /// Equivalence margin in accuracy (0.005 = 0.5 points).
        public var margin: Double
        /// Seed of the bootstrap's generator: the same inputs and seed give the same bits.
        public var seed: UInt64
        public init(resamples: Int = 2000, confidence: Double = 0.95, margin: Double = 0.005, seed: UInt64 = 0x5eed) {
            self.resamples = resamples; self.confidence = confidence; self.margin = margin; self.seed = seed
        }
    }

    public struct InputError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A − B with its bootstrap interval and verdict.
    /// - Throws: `InputError` when the two sides do not pair (different seeds or image counts, or none).
    public static func compare(_ a: Outcomes, _ b: Outcomes, settings: Settings = Settings()) throws -> Comparison {
        try compareFamily([(a, b)], settings: settings).cells[0]
    }

    /// Each pair's A − B, and their mean over the pairs (the pooled difference), from one bootstrap: every draw
    /// resamples the seeds and, within each, the images once for all pairs, so the pooled interval accounts for
    /// the pairs being measured on the same images. Every pair has the same seeds and the same images.
    /// - Throws: `InputError` when the sides do not pair.
    public static func compareFamily(_ pairs: [(Outcomes, Outcomes)], settings: Settings = Settings()) throws -> (cells: [Comparison], pooled: Comparison) {
        guard let first = pairs.first?.0, !first.isEmpty else {
            throw InputError(description: "a paired comparison needs at least one seed")
        }
        let seeds = first.count, images = first[0].count
        for (a, b) in pairs {
            guard a.count == seeds, b.count == seeds else {
                throw InputError(description: "a paired comparison needs the same seeds on both sides (\(a.count) against \(b.count))")
            }
            for (k, (x, y)) in zip(a, b).enumerated() where x.count != images || y.count != images || images == 0 {
                throw InputError(description: "seed \(k): \(x.count) against \(y.count) test images; a paired comparison needs the same images on both sides")
            }
        }
        // Per seed and image, A's correctness minus B's (−1, 0 or +1) for each pair.
        let m = pairs.count
        var d = [[Int8]](repeating: [Int8](repeating: 0, count: images * m), count: seeds)
        for s in 0..<seeds { for (c, (a, b)) in pairs.enumerated() { for i in 0..<images {
            d[s][i * m + c] = Int8(a[s][i] ? 1 : 0) - Int8(b[s][i] ? 1 : 0)
        } } }
        var observed = [Double](repeating: 0, count: m)
        for s in 0..<seeds { for i in 0..<images { for c in 0..<m { observed[c] += Double(d[s][i * m + c]) } } }
        observed = observed.map { $0 / Double(images * seeds) }
        var rng = SplitMix64(seed: settings.seed)
        var draws = [[Double]](repeating: [Double](repeating: 0, count: settings.resamples), count: m)
        var pooledDraws = [Double](repeating: 0, count: settings.resamples)
        var sums = [Int](repeating: 0, count: m)
        for r in 0..<settings.resamples {
            for c in 0..<m { sums[c] = 0 }
            for _ in 0..<seeds {
                let row = d[Int(rng.next(below: UInt64(seeds)))]
                for _ in 0..<images {
                    let base = Int(rng.next(below: UInt64(images))) * m
                    for c in 0..<m { sums[c] += Int(row[base + c]) }
                }
            }
            var pooled = 0.0
            for c in 0..<m {
                let x = Double(sums[c]) / Double(images * seeds)
                draws[c][r] = x
                pooled += x
            }
            pooledDraws[r] = pooled / Double(m)
        }
        let cells = (0..<m).map { c in summarize(draws[c], observed: observed[c], settings: settings, seeds: seeds, images: images) }
        let pooled = summarize(pooledDraws, observed: observed.reduce(0, +) / Double(m), settings: settings, seeds: seeds, images: images)
        return (cells, pooled)
    }

    /// The interval, p-values and verdict of one statistic's bootstrap draws.
    static func summarize(_ unsorted: [Double], observed: Double, settings: Settings, seeds: Int, images: Int) -> Comparison {
        let draws = unsorted.sorted()
        let alpha = 1 - settings.confidence
        let lower = quantile(draws, alpha / 2), upper = quantile(draws, 1 - alpha / 2)
        let n = Double(draws.count)
        let atOrBelow = Double(draws.filter { $0 <= 0 }.count) / n, atOrAbove = Double(draws.filter { $0 >= 0 }.count) / n
        let p = min(1, 2 * min(atOrBelow, atOrAbove))
        // TOST: H0 "A − B ≤ −margin" and H0 "A − B ≥ +margin", each rejected by draws on the other side.
        let pLow = Double(draws.filter { $0 <= -settings.margin }.count) / n
        let pHigh = Double(draws.filter { $0 >= settings.margin }.count) / n
        let verdict: Verdict
        if lower > 0 { verdict = .ahead } else if upper < 0 { verdict = .behind }
        else if lower > -settings.margin && upper < settings.margin { verdict = .equivalent } else { verdict = .inconclusive }
        return Comparison(difference: observed, lower: lower, upper: upper, pValue: p, equivalencePValue: max(pLow, pHigh),
                          margin: settings.margin, verdict: verdict, seeds: seeds, images: images)
    }

    /// The `q`-quantile of sorted values (linear interpolation between order statistics, as numpy's default).
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let h = q * Double(sorted.count - 1)
        let k = Int(h.rounded(.down))
        guard k + 1 < sorted.count else { return sorted[sorted.count - 1] }
        return sorted[k] + (h - Double(k)) * (sorted[k + 1] - sorted[k])
    }

    /// Holm's step-down adjustment of the p-values of one family of comparisons (same order as given).
    public static func holm(_ p: [Double]) -> [Double] {
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 1, count: p.count)
        var running = 0.0
        for (rank, k) in order.enumerated() {
            running = max(running, min(1, Double(p.count - rank) * p[k]))
            adjusted[k] = running
        }
        return adjusted
    }

    /// The verdicts of a family of comparisons after Holm's adjustment at level `alpha`: "ahead"/"behind" only
    /// where the adjusted p-value of no difference is below alpha, "equivalent" only where the adjusted TOST
    /// p-value is; otherwise inconclusive.
    public static func adjustedVerdicts(_ family: [Comparison], alpha: Double = 0.05) -> [Verdict] {
        let p = holm(family.map(\.pValue)), e = holm(family.map(\.equivalencePValue))
        return family.indices.map { k in
            if p[k] < alpha { return family[k].difference > 0 ? .ahead : .behind }
            return e[k] < alpha ? .equivalent : .inconclusive
        }
    }

    /// The exact two-sided McNemar test of one seed: its discordant images (A right and B wrong: `b`; the
    /// reverse: `c`) against Binomial(b + c, ½). The p-value is 2 · P(X ≤ min(b, c)), at most 1 (what
    /// scipy.stats.binomtest(b, b + c).pvalue gives for this symmetric case).
    public static func mcNemarExact(b: Int, c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        // log C(n, k) − n log 2, summed in probability space from the tail inwards.
        var total = 0.0
        let logHalf = -Double(n) * log(2.0)
        for k in 0...min(b, c) { total += exp(lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) + logHalf) }
        return min(1, 2 * total)
    }

    /// Discordant counts of one seed: (A right and B wrong, A wrong and B right).
    public static func discordant(_ a: [Bool], _ b: [Bool]) -> (b: Int, c: Int) {
        var x = 0, y = 0
        for (p, q) in zip(a, b) where p != q { if p { x += 1 } else { y += 1 } }
        return (x, y)
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a small generator whose output is the same on every machine.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<n without modulo bias (Lemire's multiply-shift with rejection).
    mutating func next(below n: UInt64) -> UInt64 {
        precondition(n > 0)
        var m = next().multipliedFullWidth(by: n)
        if m.low < n {
            let t = (0 &- n) % n
            while m.low < t { m = next().multipliedFullWidth(by: n) }
        }
        return m.high
    }
}
