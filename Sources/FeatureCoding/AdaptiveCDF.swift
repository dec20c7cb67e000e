// A 16-symbol adaptive cumulative distribution with a power-of-two total (2^15), for the context model of
// payload tag 4 (FeatureContextModel4.swift). One call codes a whole symbol with one multiply-and-compare
// search instead of a chain of binary decisions, which is where the tag-3 model spent its time. Integer
// arithmetic only; the exact rule is specified in docs/coders.md ("Adaptive 16-symbol CDF").

/// Storage of one adaptive CDF: 32 `UInt16` words (64 bytes, one cache line), laid out as
///
/// - word 0: always 0 (the lower bound of symbol 0);
/// - words 1 … 16: `U_j` for j = 0 … 15, the upper bound of symbol j on the 2^15 scale (`U_15` = 2^15);
/// - word 17: `n`, the number of symbols coded with it (saturating at the rate limit);
/// - words 18 … 31: unused (0).
///
/// Symbol j occupies `[U_{j−1}, U_j)` (with `U_{−1}` = 0). `U_j = F_j + j + 1`, where the adapted part `F` is
/// non-decreasing with `F_15 = 2^15 − 16`: every symbol keeps a frequency of at least 1.
enum AdaptiveCDF {
    static let words = 32
    static let countWord = 17
    static let scaleBits: UInt32 = 15
    /// `F_15`: the adapted part's total.
    static let adaptedTotal: UInt32 = (1 << 15) - 16

    /// Writes the initial (uniform) distribution: `F_j = ⌊(j + 1) · (2^15 − 16) / 16⌋`.
    static func initialize(_ m: UnsafeMutablePointer<UInt16>) {
        m.initialize(repeating: 0, count: words)
        for j in 0..<16 {
            let f = UInt32(j + 1) * adaptedTotal / 16
            m[1 + j] = UInt16(f + UInt32(j) + 1)
        }
    }

    /// Moves the distribution toward `symbol`: with `sh = shifts[n]`, for j < symbol `F_j −= F_j >> sh`,
    /// for j ≥ symbol `F_j += (2^15 − 16 − F_j) >> sh`; then `n += 1` while `n < maxCount`.
    @inline(__always)
    static func update(_ m: UnsafeMutablePointer<UInt16>, _ symbol: Int, _ shifts: UnsafePointer<UInt8>, _ maxCount: UInt16) {
        let n = m[countWord]
        let sh = UInt16(shifts[Int(n)])
        let raw = UnsafeMutableRawPointer(m + 1)
        let u = raw.loadUnaligned(as: SIMD16<UInt16>.self)
        let offsets = SIMD16<UInt16>(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
        let f = u &- offsets
        let below = SIMD16<UInt16>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) .< SIMD16<UInt16>(repeating: UInt16(truncatingIfNeeded: symbol))
        let down = f &- (f &>> sh)
        let up = f &+ ((SIMD16<UInt16>(repeating: UInt16(adaptedTotal)) &- f) &>> sh)
        let g = up.replacing(with: down, where: below) &+ offsets
        raw.storeBytes(of: g, as: SIMD16<UInt16>.self)
        m[countWord] = n < maxCount ? n &+ 1 : n
    }

    /// The adaptation shift for the `n`-th update: ⌊log2(n + 2)⌋, capped at `maxShift` (1, 2, 2, 3, 3, 3, 3,
    /// 4, …): early updates average like counts, later ones forget at rate 2^−maxShift. Index 0 … return.count − 1.
    static func shiftTable(maxShift: Int) -> [UInt8] {
        let cap = min(max(maxShift, 1), 14)
        let last = (1 << cap) - 2 // first n with ⌊log2(n + 2)⌋ = cap
        return (0...last).map { UInt8(min(Int.bitWidth - ($0 + 2).leadingZeroBitCount - 1, cap)) }
    }
}
