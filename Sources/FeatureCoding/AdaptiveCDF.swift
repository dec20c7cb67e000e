// An 8-symbol adaptive cumulative distribution with a power-of-two total (2^15), for the context model of
// payload tag 4 (FeatureContextModel4.swift). One call codes a whole symbol (a residual's magnitude class)
// with one division and seven compares, instead of the tag-3 model's chain of unary binary decisions.
// Integer arithmetic only; the exact rule is in docs/coders.md, section 4 ("Adaptive 8-symbol CDF").

/// Storage of one adaptive CDF: 16 `UInt16` words (32 bytes), laid out as
///
/// - word 0: always 0 (the lower bound of symbol 0);
/// - words 1 … 8: `U_j` for j = 0 … 7, the upper bound of symbol j on the 2^15 scale (`U_7` = 2^15);
/// - word 9: `n`, the number of symbols coded with it (saturating at the shift table's end);
/// - words 10 … 15: unused (0).
///
/// Symbol j occupies `[U_{j−1}, U_j)` (with `U_{−1}` = 0). `U_j = F_j + j + 1`, where the adapted part `F` is
/// non-decreasing with `F_7 = 2^15 − 8`: every symbol keeps a frequency of at least 1.
enum AdaptiveCDF {
    static let symbols = 8
    static let words = 16
    static let countWord = 9
    static let scaleBits: UInt32 = 15
    /// `F_7`: the adapted part's total.
    static let adaptedTotal: UInt32 = (1 << 15) - 8

    /// Writes the initial distribution, uniform over the first `used` symbols (1 … 8) with the minimum
    /// frequency 1 for the others: `F_j = ⌊min(j + 1, used) · (2^15 − 8) / used⌋`, and the count `n`.
    static func initialize(_ m: UnsafeMutablePointer<UInt16>, used: Int, count: UInt16) {
        let u = UInt32(min(max(used, 1), symbols))
        m.initialize(repeating: 0, count: words)
        for j in 0..<symbols {
            let f = min(UInt32(j + 1), u) * adaptedTotal / u
            m[1 + j] = UInt16(f + UInt32(j) + 1)
        }
        m[countWord] = count
    }

    /// Moves the distribution toward `symbol`: with `h = shifts[n]`, for j < symbol `F_j −= F_j >> h`,
    /// for j ≥ symbol `F_j += (2^15 − 8 − F_j) >> h`; then `n += 1` while `n < maxCount`.
    @inline(__always)
    static func update(_ m: UnsafeMutablePointer<UInt16>, _ symbol: Int, _ shifts: UnsafePointer<UInt8>, _ maxCount: UInt16) {
        let n = m[countWord]
        let h = UInt16(shifts[Int(n)])
        let raw = UnsafeMutableRawPointer(m + 1)
        let u = raw.loadUnaligned(as: SIMD8<UInt16>.self)
        let offsets = SIMD8<UInt16>(1, 2, 3, 4, 5, 6, 7, 8)
        let f = u &- offsets
        let below = SIMD8<UInt16>(0, 1, 2, 3, 4, 5, 6, 7) .< SIMD8<UInt16>(repeating: UInt16(truncatingIfNeeded: symbol))
        let down = f &- (f &>> h)
        let up = f &+ ((SIMD8<UInt16>(repeating: UInt16(adaptedTotal)) &- f) &>> h)
        raw.storeBytes(of: up.replacing(with: down, where: below) &+ offsets, as: SIMD8<UInt16>.self)
        m[countWord] = n < maxCount ? n &+ 1 : n
    }

    /// The adaptation shift for the `n`-th update: ⌊log2(n + 2)⌋, capped at `maxShift` (1, 1, 2, 2, 2, 2, 3,
    /// …): early updates average like counts, later ones forget at rate 2^−maxShift. Index 0 … count − 1.
    static func shiftTable(maxShift: Int) -> [UInt8] {
        let cap = min(max(maxShift, 1), 14)
        let last = (1 << cap) - 2 // first n with ⌊log2(n + 2)⌋ = cap
        return (0...last).map { UInt8(min(Int.bitWidth - ($0 + 2).leadingZeroBitCount - 1, cap)) }
    }
}
