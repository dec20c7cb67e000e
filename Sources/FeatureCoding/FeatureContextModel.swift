// The context model for quantised feature maps: how each symbol is split into binary decisions and which
// adaptive model (context) codes each decision. It is independent of the range coder: `run` drives any
// `BinaryCoder`, so the encoder and the decoder execute the very same traversal. Not here: the payload
// header (ArithmeticSymbolCodec.swift) and the arithmetic itself (RangeEncoder/RangeDecoder).

/// Context model for `C × H × W` maps of `bits`-bit symbols, coded channel by channel in raster order.
///
/// Neighbours of symbol `v` at (c, y, x), 0 outside the map: `a` left, `b` up, `cc` up-left, `d` up-right,
/// `r` the same pixel in channel c − 1. Values are compared on an 8-bit scale (`·8 = value << (8 − bits)`).
/// Binarisation (every decision codes with its own `AdaptiveBit`):
/// 1. Zero flag `v ≠ 0`. Context: which of `a, b, cc, d, r` are non-zero (5 bits) × bucket of
///    `(a + b + cc + d)·8` (0 | < 16 | < 64 | ≥ 64): 128 contexts.
/// 2. If non-zero: prediction `p = max(1, MED(a, b, cc))` (JPEG-LS median edge detector: `min(a,b)` if
///    `cc ≥ max(a,b)`, `max(a,b)` if `cc ≤ min(a,b)`, else `a + b − cc`), residual `res = v − p`, `m = |res|`.
///    Buckets: activity `A = min(bitLength((|a − cc| + |b − cc| + |b − d|)·8), 7)` (8), prediction
///    `P` = `p·8` in (< 8 | < 32 | < 96 | ≥ 96) (4).
/// 3. Magnitude class `k = bitLength(m)` ∈ 0 … bits in unary: decision i (i = 0, 1, …) is "k > i", stopping
///    at the first 0 or when i reaches `bits`. Context (A, P, E, i): 1,152 contexts, where `E` buckets the
///    classes already coded at the left, up and previous-channel positions (`kL + kU + kR`: 0 | < 3 | < 6 | ≥ 6;
///    a zero symbol counts as class 0) — residual "energy", which noise shared across channels makes informative.
/// 4. If k ≥ 2: the k − 1 bits of `m` below its leading one, MSB first: the first with context k (9), the
///    other k − 2 (if any) as one bypass step (`BinaryCoder.bypass`) — they are close to uniform, and one
///    step instead of k − 2 modelled decisions is most of the speed of wide symbols.
/// 5. If m > 0 and both `p − m ≥ 1` and `p + m ≤ 2^bits − 1`: sign (1 = negative). Context (min(k, 3), P): 16.
///    When only one sign gives a valid symbol, it is implied and not coded.
public struct FeatureContextModel: Sendable {
    /// Steady-state adaptation of every context: the `AdaptiveBit` rate limit.
    public let rateLimit: Int

    static let zeroContexts = 32 * 4
    static let classContexts = 8 * 4 * 4 * 9
    static let mantissaContexts = 9
    static let signContexts = 4 * 4
    static var contextCount: Int { zeroContexts + classContexts + mantissaContexts + signContexts }

    /// - Parameter rateLimit: 1 … 1022 (clamped); 30 by default.
    public init(rateLimit: Int = 30) {
        self.rateLimit = min(max(rateLimit, 1), 1022)
    }

    static func paddedCount(_ shape: FeatureShape) -> Int {
        (shape.channels + 1) * (shape.height + 1) * (shape.width + 2)
    }

    static func paddedIndex(_ shape: FeatureShape, c: Int, y: Int, x: Int) -> Int {
        ((c + 1) * (shape.height + 1) + y + 1) * (shape.width + 2) + x + 1
    }

    /// Codes (or decodes into) `plane`, a zero-padded copy of the map: channel c, row y, column x lives at
    /// `((c + 1) · (H + 1) + y + 1) · (W + 2) + x + 1`; channel slot 0, and row 0 and columns 0 and W + 1 of
    /// every channel slot, are 0. Size: `(C + 1) · (H + 1) · (W + 2)` (see `paddedCount`).
    /// The encoder reads the symbols from it; the decoder writes them into it.
    @inline(__always)
    func run<Coder: BinaryCoder>(_ coder: inout Coder, plane: UnsafeMutablePointer<UInt8>, shape: FeatureShape, bits: Int) {
        let C = shape.channels, H = shape.height, W = shape.width
        let stride = W + 2
        let channelStride = (H + 1) * stride
        let scale = 8 - bits
        let maxValue = (1 << bits) - 1

        let rates = AdaptationRates(rateLimit: rateLimit)
        let limit = UInt16(rates.rateLimit)
        let models = UnsafeMutablePointer<AdaptiveBit>.allocate(capacity: Self.contextCount)
        models.initialize(repeating: AdaptiveBit(), count: Self.contextCount)
        defer { models.deallocate() }
        // Magnitude class k of every coded symbol (0 for zeros), same padded layout as `plane`.
        let kCount = (C + 1) * channelStride
        let kPlane = UnsafeMutablePointer<UInt8>.allocate(capacity: kCount)
        kPlane.initialize(repeating: 0, count: kCount)
        defer { kPlane.deallocate() }
        // bitLength(i) for i < 256, from a table: BSR, which the generic x86-64 target compiles
        // `leadingZeroBitCount` to, is slow on some CPUs (AMD Zen).
        let bitLength = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        defer { bitLength.deallocate() }
        for i in 0..<256 { bitLength[i] = UInt8(Int.bitWidth - i.leadingZeroBitCount) }
        let zeroM = models
        let classM = zeroM + Self.zeroContexts
        let mantM = classM + Self.classContexts
        let signM = mantM + Self.mantissaContexts

        rates.table.withUnsafeBufferPointer { rt in
            let rp = rt.baseAddress!
            for c in 0..<C {
                let base = plane + (c + 1) * channelStride
                for y in 0..<H {
                    let row = base + (y + 1) * stride + 1
                    let krow = kPlane + (row - plane)
                    for x in 0..<W {
                        let a = Int(row[x - 1]), b = Int(row[x - stride]), cc = Int(row[x - stride - 1]), d = Int(row[x - stride + 1])
                        let r = Int(row[x - channelStride])
                        // 1. zero flag (contexts computed without branches: the data decides nothing here)
                        let sq = Self.sumBucket((a &+ b &+ cc &+ d) &<< scale)
                        let v0 = Coder.isEncoder ? Int(row[x]) : 0
                        let isNonZero = coder.code(atLeast(v0, 1), zeroM + Self.zeroContext(a, b, cc, d, r, sumBucket: sq), rp, limit)
                        if isNonZero == 0 {
                            if !Coder.isEncoder { row[x] = 0 }
                            continue
                        }
                        // 2. prediction (MED = a + b − cc clamped to [min(a, b), max(a, b)]) and buckets
                        let p = Self.prediction(a, b, cc)
                        let res = v0 &- p
                        let m0 = abs(res)
                        let act8 = (abs(a &- cc) &+ abs(b &- cc) &+ abs(b &- d)) &<< scale
                        let actQ = Int(bitLength[min(act8, 64)]) // min(bitLength, 7) for ≤ 64
                        let pq = Self.predictionBucket(p &<< scale)
                        // 3. magnitude class, unary
                        let eSum = Int(krow[x - 1]) &+ Int(krow[x - stride]) &+ Int(krow[x - channelStride])
                        let eq = Self.energyBucket(eSum)
                        let uCtx = classM + ((actQ &* 4 &+ pq) &* 4 &+ eq) &* 9
                        let kTrue = Int(bitLength[m0])
                        var k = 0
                        while k < bits {
                            if coder.code(kTrue > k ? 1 : 0, uCtx + k, rp, limit) == 0 { break }
                            k &+= 1
                        }
                        krow[x] = UInt8(truncatingIfNeeded: k)
                        // 4. bits of m below its leading one: the first with a context, the rest bypass
                        var m = 0
                        if k > 0 {
                            m = 1 << (k - 1)
                            if k >= 2 {
                                m |= coder.code((m0 >> (k - 2)) & 1, mantM + k, rp, limit) << (k - 2)
                                if k >= 3 {
                                    let low = k - 2
                                    m |= coder.bypass(m0 & ((1 << low) - 1), count: low)
                                }
                            }
                        }
                        // 5. sign, when both are possible
                        var v = p
                        if m > 0 {
                            let canNeg = p - m >= 1
                            let canPos = p + m <= maxValue
                            var neg = canNeg ? 1 : 0
                            if canNeg && canPos {
                                neg = coder.code(res < 0 ? 1 : 0, signM + min(k, 3) * 4 + pq, rp, limit)
                            }
                            v = neg == 1 ? p - m : p + m
                        }
                        if !Coder.isEncoder {
                            // Only a damaged payload can get here with v outside 1 … maxValue.
                            if v < 1 || v > maxValue { coder.markInvalid(); v = 1 }
                            row[x] = UInt8(truncatingIfNeeded: v)
                        }
                    }
                }
            }
        }
    }
}

// The context formulas both context models use (tag 3 here, tag 4 in FeatureContextModel4.swift); the
// numbers are part of both payload formats (docs/coders.md §5).
extension FeatureContextModel {
    /// `p = max(1, MED(a, b, cc))`: `a + b − cc` clamped to `[min(a, b), max(a, b)]`, at least 1.
    @inline(__always)
    static func prediction(_ a: Int, _ b: Int, _ cc: Int) -> Int {
        max(max(min(a, b), min(max(a, b), a &+ b &- cc)), 1)
    }

    /// The zero flag's context: which of `a, b, cc, d, r` are non-zero (5 bits) × the sum bucket (4).
    @inline(__always)
    static func zeroContext(_ a: Int, _ b: Int, _ cc: Int, _ d: Int, _ r: Int, sumBucket: Int) -> Int {
        let nz = atLeast(a, 1) | atLeast(b, 1) &<< 1 | atLeast(cc, 1) &<< 2 | atLeast(d, 1) &<< 3 | atLeast(r, 1) &<< 4
        return nz &<< 2 | sumBucket
    }

    /// Bucket of the neighbour sum `(a + b + cc + d)·8`: 0 | < 16 | < 64 | ≥ 64.
    @inline(__always)
    static func sumBucket(_ sum8: Int) -> Int { atLeast(sum8, 1) &+ atLeast(sum8, 16) &+ atLeast(sum8, 64) }

    /// `P`, bucket of the prediction `p·8`: < 8 | < 32 | < 96 | ≥ 96.
    @inline(__always)
    static func predictionBucket(_ p8: Int) -> Int { atLeast(p8, 8) &+ atLeast(p8, 32) &+ atLeast(p8, 96) }

    /// `E`, bucket of `kL + kU + kR`: 0 | < 3 | < 6 | ≥ 6.
    @inline(__always)
    static func energyBucket(_ e: Int) -> Int { atLeast(e, 1) &+ atLeast(e, 3) &+ atLeast(e, 6) }
}

/// 1 when `x ≥ t`, else 0, without a branch (for |x|, |t| < 2^62).
@inline(__always) @usableFromInline
func atLeast(_ x: Int, _ t: Int) -> Int { ((t &- 1 &- x) >> 63) & 1 }
