// The context model of payload tag 4, built for decoding speed. Against tag 3 (FeatureContextModel.swift),
// which spends about 2.75 serial binary decisions per symbol:
// - a flat neighbourhood (about half of all symbols on stem features) costs one decision;
// - the residual's magnitude class and sign are one symbol of a 15-symbol adaptive CDF (AdaptiveCDF.swift)
//   instead of a unary chain plus a sign decision;
// - the mantissa bits below the leading one are raw bits in a separate stream (RawBits.swift);
// - two range coders take the two halves of the channels and are driven element by element in turn, so the
//   processor overlaps their serial dependency chains; they share every model.
// Like tag 3 it is independent of the coder: `run` drives `BinaryCoder`s and a `RawBitCoder`, so the encoder
// and the decoder execute the same traversal. Specified in docs/coders.md, section 6.

/// Context model (tag 4) for `C × H × W` maps of `bits`-bit symbols, coded channel by channel in raster order.
///
/// Neighbours of `v` at (c, y, x): `a` left, `b` up, `cc` up-left, `d` up-right, `r` the same pixel in
/// channel c − 1, all 0 outside the map; `kL`, `kU`, `kR` the magnitude classes already coded at the left, up
/// and previous-channel positions (0 for zeros and exact predictions). Per symbol:
/// 1. **Flat run.** If `a = b = cc = d`: one binary decision `v ≠ a`, context `[a > 0] + 2·[r = a] + 4·[kR = 0]`
///    (8). If `v = a` the symbol is done (class 0).
/// 2. **Zero flag** `v ≠ 0` as in tag 3 (nonzero pattern of a, b, cc, d, r × bucket of the neighbour sum:
///    128 contexts) — skipped, as implied, after a flat miss with `a = 0`. If `v = 0` the symbol is done.
/// 3. **Class symbol** from a 15-symbol adaptive CDF (AdaptiveCDF.swift): with `p = max(1, MED(a, b, cc))`,
///    `res = v − p`, `m = |res|`, `k = bitLength(m)`: symbol 0 when `m = 0`, else `2·min(k, 7) − 1` for
///    `res > 0` and `2·min(k, 7)` for `res < 0`. Context: activity (8) × prediction (4) × energy (4) as in
///    tag 3 (128).
/// 4. **Mantissa**, raw bits: for `k = 7` with 8-bit symbols one bit `[k = 8]` first; then the `k − 1` bits
///    of `m` below its leading one (none for k ≤ 1).
public struct FeatureContextModel4: Sendable {
    /// Steady-state adaptation of the binary models (the `AdaptiveBit` rate limit).
    public let rateLimit: Int
    /// Steady-state adaptation shift of the class CDFs (`AdaptiveCDF.shiftTable`).
    public let cdfShift: Int

    static let flatContexts = 8
    static let zeroContexts = 32 * 4
    static let classContexts = 8 * 4 * 4
    /// The count every class CDF starts from: its first adaptation shift is then 3, not 1 — measured on
    /// stem features, a uniform start adapted that fast loses ~3 % of the bytes to early noise.
    static let initialCount: UInt16 = 6

    /// - Parameters: `rateLimit` 1 … 1022 (clamped), 30 by default; `cdfShift` 1 … 14 (clamped), 6 by default.
    public init(rateLimit: Int = 30, cdfShift: Int = 6) {
        self.rateLimit = min(max(rateLimit, 1), 1022)
        self.cdfShift = min(max(cdfShift, 1), 14)
    }

    /// Per class symbol: bits 0–3 the class (7 stands for 7 or 8), bit 4 set for a negative residual.
    static let symbolInfo: [UInt8] = [0, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23, 7]

    /// Codes (or decodes into) `plane`, the zero-padded layout of `FeatureContextModel.run` (`paddedIndex`),
    /// with `coder` for the decisions and class symbols and `raw` for the mantissa fields.
    func run<Coder: BinaryCoder, Raw: RawBitCoder>(_ coderInOut: inout Coder, raw rawInOut: inout Raw,
                                                  plane: UnsafeMutablePointer<UInt8>, shape: FeatureShape, bits: Int) {
        let C = shape.channels, H = shape.height, W = shape.width
        // Local copies: the optimiser keeps their state in registers (inout memory could alias the planes
        // and models as far as it can tell).
        var coder = coderInOut, raw = rawInOut
        defer { coderInOut = coder; rawInOut = raw }
        let state = State(self, shape: shape, bits: bits)
        defer { state.deallocate() }
        let channelStride = state.channelStride, stride = state.stride
        for c in 0..<C {
            let base = plane + (c + 1) * channelStride
            for y in 0..<H {
                let row = base + (y + 1) * stride + 1
                for x in 0..<W {
                    state.step(&coder, &raw, row: row, plane: plane, x: x)
                }
            }
        }
    }

    /// Models, tables and the class plane of one `run`. Models and tables live in one allocation at
    /// constant offsets, so the hot loop addresses all of them from one register (with a pointer per table
    /// the loop ran out of registers and spilled about a quarter of its instructions to the stack).
    struct State {
        let stride: Int, channelStride: Int, scale: Int, maxValue: Int, bits: Int
        let limit: UInt16, maxCount: UInt16
        let arena: UnsafeMutableRawPointer
        /// Magnitude class of every coded symbol (0 for zeros and exact predictions), at the plane's offsets.
        let kPlane: UnsafeMutablePointer<UInt8>

        // Arena layout (bytes).
        static let cdfOffset = 0 // classContexts × 64
        static let flatOffset = 8192 // flatContexts × 4
        static let zeroOffset = 8224 // zeroContexts × 4
        static let rateOffset = 8736 // up to 1023 × 4
        static let bitLengthOffset = 12832 // 256
        static let infoOffset = 13088 // 16
        static let sumOffset = 13104 // 1024: sumBucket[a + b + cc + d]
        static let predictionOffset = 14128 // 256: predictionBucket[p]
        static let energyOffset = 14384 // 32: energyBucket[kL + kU + kR]
        static let symbolOffset = 14416 // 511: the encoder's class symbol of res, at res + 255
        static let shiftOffset = 14928 // up to 2^14 − 1
        static let arenaBytes = 14928 + (1 << 14)

        @inline(__always) var cdfs: UnsafeMutablePointer<UInt16> { (arena + Self.cdfOffset).assumingMemoryBound(to: UInt16.self) }
        @inline(__always) var flatM: UnsafeMutablePointer<AdaptiveBit> { (arena + Self.flatOffset).assumingMemoryBound(to: AdaptiveBit.self) }
        @inline(__always) var zeroM: UnsafeMutablePointer<AdaptiveBit> { (arena + Self.zeroOffset).assumingMemoryBound(to: AdaptiveBit.self) }
        @inline(__always) var rates: UnsafeMutablePointer<UInt32> { (arena + Self.rateOffset).assumingMemoryBound(to: UInt32.self) }
        @inline(__always) var shifts: UnsafeMutablePointer<UInt8> { (arena + Self.shiftOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var bitLength: UnsafeMutablePointer<UInt8> { (arena + Self.bitLengthOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var info: UnsafeMutablePointer<UInt8> { (arena + Self.infoOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var sumBucket: UnsafeMutablePointer<UInt8> { (arena + Self.sumOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var predictionBucket: UnsafeMutablePointer<UInt8> { (arena + Self.predictionOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var energyBucket: UnsafeMutablePointer<UInt8> { (arena + Self.energyOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var symbolOf: UnsafeMutablePointer<UInt8> { (arena + Self.symbolOffset).assumingMemoryBound(to: UInt8.self) }

        init(_ model: FeatureContextModel4, shape: FeatureShape, bits: Int) {
            stride = shape.width + 2
            channelStride = (shape.height + 1) * stride
            scale = 8 - bits
            maxValue = (1 << bits) - 1
            self.bits = bits
            arena = .allocate(byteCount: Self.arenaBytes, alignment: 64)
            let r = AdaptationRates(rateLimit: model.rateLimit)
            limit = UInt16(r.rateLimit)
            let rateTable = r.table
            let shiftTable = AdaptiveCDF.shiftTable(maxShift: model.cdfShift)
            maxCount = UInt16(shiftTable.count - 1)
            let kCount = FeatureContextModel.paddedCount(shape)
            kPlane = .allocate(capacity: kCount)
            kPlane.initialize(repeating: 0, count: kCount)
            let classes = FeatureContextModel4.classContexts
            for i in 0..<classes {
                AdaptiveCDF.initialize(cdfs + i * AdaptiveCDF.words)
                cdfs[i * AdaptiveCDF.words + AdaptiveCDF.countWord] = min(FeatureContextModel4.initialCount, maxCount)
            }
            flatM.initialize(repeating: AdaptiveBit(), count: FeatureContextModel4.flatContexts + FeatureContextModel4.zeroContexts)
            rates.initialize(from: rateTable, count: rateTable.count)
            shifts.initialize(from: shiftTable, count: shiftTable.count)
            for i in 0..<256 { bitLength[i] = UInt8(Int.bitWidth - i.leadingZeroBitCount) }
            info.initialize(from: FeatureContextModel4.symbolInfo, count: 16)
            let sc = 8 - bits
            for t in 0..<1024 { sumBucket[t] = UInt8(atLeast(t << sc, 1) + atLeast(t << sc, 16) + atLeast(t << sc, 64)) }
            for t in 0..<256 { predictionBucket[t] = UInt8(atLeast(t << sc, 8) + atLeast(t << sc, 32) + atLeast(t << sc, 96)) }
            for t in 0..<32 { energyBucket[t] = UInt8(atLeast(t, 1) + atLeast(t, 3) + atLeast(t, 6)) }
            for res in -255...255 {
                let k = Int.bitWidth - abs(res).leadingZeroBitCount
                symbolOf[res + 255] = UInt8(k == 0 ? 0 : 2 * min(k, 7) - (res > 0 ? 1 : 0))
            }
        }

        func deallocate() {
            arena.deallocate()
            kPlane.deallocate()
        }

        /// Codes the element at `row[x]` (steps 1–4 of the type's description).
        @_transparent
        func step<Coder: BinaryCoder, Raw: RawBitCoder>(_ coder: inout Coder, _ raw: inout Raw, row: UnsafeMutablePointer<UInt8>, plane: UnsafeMutablePointer<UInt8>, x: Int) {
            let krow = kPlane + (row - plane)
            let a = Int(row[x - 1]), b = Int(row[x - stride]), cc = Int(row[x - stride - 1]), d = Int(row[x - stride + 1])
            let r = Int(row[x - channelStride])
            let v0 = Coder.isEncoder ? Int(row[x]) : 0
            // 1. flat run
            var zeroImplied = false
            if a == b && a == cc && a == d {
                let fctx = atLeast(a, 1) | (r == a ? 2 : 0) | (krow[x - channelStride] == 0 ? 4 : 0)
                if coder.code(v0 == a ? 0 : 1, flatM + fctx, rates, limit) == 0 {
                    krow[x] = 0
                    if !Coder.isEncoder { row[x] = UInt8(truncatingIfNeeded: a) }
                    return
                }
                zeroImplied = a == 0
            }
            // 2. zero flag
            if !zeroImplied {
                let nz = atLeast(a, 1) | atLeast(b, 1) &<< 1 | atLeast(cc, 1) &<< 2 | atLeast(d, 1) &<< 3 | atLeast(r, 1) &<< 4
                let sq = Int(sumBucket[a &+ b &+ cc &+ d])
                if coder.code(atLeast(v0, 1), zeroM + (nz &<< 2 | sq), rates, limit) == 0 {
                    krow[x] = 0
                    if !Coder.isEncoder { row[x] = 0 }
                    return
                }
            }
            // 3. class symbol
            let mx = max(a, b), mn = min(a, b)
            let p = max(max(mn, min(mx, a &+ b &- cc)), 1)
            let act8 = (abs(a &- cc) &+ abs(b &- cc) &+ abs(b &- d)) &<< scale
            let actQ = Int(bitLength[min(act8, 64)])
            let pq = Int(predictionBucket[p])
            let eSum = Int(krow[x - 1]) &+ Int(krow[x - stride]) &+ Int(krow[x - channelStride])
            let eq = Int(energyBucket[eSum])
            let model = cdfs + ((actQ &* 4 &+ pq) &* 4 &+ eq) &* AdaptiveCDF.words
            var s = 0, m0 = 0
            if Coder.isEncoder {
                let res = v0 &- p
                m0 = abs(res)
                s = Int(symbolOf[res &+ 255])
            }
            s = coder.codeSymbol(s, model)
            AdaptiveCDF.update(model, s, shifts, maxCount)
            let facts = Int(info[s])
            // 4. mantissa, raw: the class-8 flag (a 0- or 1-bit field), then the k − 1 bits below the leading one
            var k = facts & 15
            k &+= raw.field(m0 >> 7, count: k == 7 && bits == 8 ? 1 : 0)
            let lead = k == 0 ? 0 : 1 << (k &- 1)
            let m = lead | raw.field(m0 & (lead &- 1), count: max(k &- 1, 0))
            krow[x] = UInt8(truncatingIfNeeded: k)
            if !Coder.isEncoder {
                // Symbol 15 (never coded), or a class or sign that leaves the range: only a damaged payload.
                var v = facts & 16 != 0 ? p &- m : p &+ m
                if v < 1 || v > maxValue || s == 15 { coder.markInvalid(); v = 1 }
                row[x] = UInt8(truncatingIfNeeded: v)
            }
        }
    }
}

