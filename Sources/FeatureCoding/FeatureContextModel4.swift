// The context model of payload tag 4, built for decoding speed at nearly the tag-3 size. Against tag 3
// (FeatureContextModel.swift), which spends about 2.75 serial binary decisions per symbol:
// - a flat neighbourhood (about half of all symbols on stem features) costs one well-predicted decision;
// - the residual's magnitude class is one symbol of an 8-symbol adaptive CDF (AdaptiveCDF.swift) instead of
//   a unary chain of decisions;
// - the mantissa bits below the leading one are raw bits in a separate stream (RawBits.swift).
// The zero flag and the sign stay binary decisions with tag 3's contexts: both learn within a tensor of a few
// hundred symbols, which a multi-symbol table over the same contexts does not.
// Payload tag 5 is the same model with the sign stored as a raw bit: on stem features the modelled sign saves
// nothing (0.004 %), and a decision that the next symbol's context waits for is the slowest thing a decoder
// can do; tag 5 decodes about 11 % faster. One type serves both tags (`rawSigns`).
// Like tag 3 it is independent of the coder: `run` drives a `BinaryCoder` and a `RawBitCoder`, so the encoder
// and the decoder execute the same traversal. Specified in docs/coders.md, section 6.

/// Context model (tags 4 and 5) for `C × H × W` maps of `bits`-bit symbols, coded channel by channel in raster order.
///
/// Neighbours of `v` at (c, y, x): `a` left, `b` up, `cc` up-left, `d` up-right, `r` the same pixel in
/// channel c − 1, all 0 outside the map; `kL`, `kU`, `kR` the magnitude classes already coded at the left, up
/// and previous-channel positions (0 for zeros, flat hits and exact predictions). Per symbol:
/// 1. **Flat run.** If `a = b = cc = d`: one binary decision `v ≠ a`, context `[a > 0] + 2·[r = a] + 4·[kR = 0]`
///    (8). If `v = a` the symbol is done (class 0).
/// 2. **Zero flag** `v ≠ 0` as in tag 3 (nonzero pattern of a, b, cc, d, r × bucket of the neighbour sum:
///    128 contexts) — skipped, as implied, after a flat miss with `a = 0`. If `v = 0` the symbol is done.
/// 3. **Class symbol** `min(k, 7)` from an 8-symbol adaptive CDF, where `p = max(1, MED(a, b, cc))`,
///    `res = v − p`, `m = |res|`, `k = bitLength(m)`. Context: energy (4) × prediction (4) buckets of tag 3.
/// 4. **Mantissa**, raw bits: for class 7 with 8-bit symbols one bit `[k = 8]` first; then the `k − 1` bits
///    of `m` below its leading one (none for k ≤ 1).
/// 5. **Sign** as in tag 3: if `m > 0` and both `p − m ≥ 1` and `p + m ≤ 2^bits − 1`, a binary decision
///    `[res < 0]` with context `min(k, 3)·4 + P` (16); otherwise implied. With `rawSigns` (tag 5) the
///    decision is instead one raw bit `[res < 0]`, appended to the raw stream after the mantissa field.
public struct FeatureContextModel4: Sendable {
    /// Steady-state adaptation of the binary models (the `AdaptiveBit` rate limit).
    public let rateLimit: Int
    /// Steady-state adaptation shift of the class CDFs (`AdaptiveCDF.shiftTable`).
    public let cdfShift: Int
    /// Signs as raw bits (payload tag 5) rather than modelled decisions (tag 4).
    public let rawSigns: Bool

    static let flatContexts = 8
    static let zeroContexts = 32 * 4
    static let signContexts = 4 * 4
    static let classContexts = 4 * 4
    /// The count every class CDF starts from (first adaptation shift 2, not 1): measured on stem features,
    /// a uniform table adapted at ½ for its first symbols costs bytes to early noise; starting slower still
    /// (count 6) costs them on tensors of a few hundred symbols.
    static let initialCount: UInt16 = 4

    /// - Parameters: `rateLimit` 1 … 1022 (clamped), 30 by default; `cdfShift` 1 … 14 (clamped), 6 by default;
    ///   `rawSigns` true for payload tag 5, false for tag 4.
    public init(rateLimit: Int = 30, cdfShift: Int = 6, rawSigns: Bool = true) {
        self.rateLimit = min(max(rateLimit, 1), 1022)
        self.cdfShift = min(max(cdfShift, 1), 14)
        self.rawSigns = rawSigns
    }

    /// Codes (or decodes into) `plane`, the zero-padded layout of `FeatureContextModel.run` (`paddedIndex`),
    /// with `coder` for the decisions and class symbols and `raw` for the mantissa fields.
    func run<Coder: BinaryCoder, Raw: RawBitCoder>(_ coder: inout Coder, raw: inout Raw,
                                                  plane: UnsafeMutablePointer<UInt8>, shape: FeatureShape, bits: Int) {
        // One specialisation per sign coding, so the loop tests nothing for it.
        if rawSigns {
            run(&coder, raw: &raw, plane: plane, shape: shape, bits: bits, signs: RawSigns.self)
        } else {
            run(&coder, raw: &raw, plane: plane, shape: shape, bits: bits, signs: ModelledSigns.self)
        }
    }

    private func run<Coder: BinaryCoder, Raw: RawBitCoder, Signs: SignCoding>(_ coderInOut: inout Coder, raw rawInOut: inout Raw,
                                                                            plane: UnsafeMutablePointer<UInt8>, shape: FeatureShape, bits: Int,
                                                                            signs: Signs.Type) {
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
                    state.step(&coder, &raw, row: row, plane: plane, x: x, signs: signs)
                }
            }
        }
    }

    /// Models, tables and the class plane of one `run`. Models and tables live in one allocation at
    /// constant offsets, so the hot loop addresses all of them from one register (with a pointer per table
    /// the loop ran out of registers and spilled to the stack).
    struct State {
        let stride: Int, channelStride: Int, maxValue: Int, bits: Int
        let limit: UInt16, maxCount: UInt16
        let arena: UnsafeMutableRawPointer
        /// Magnitude class of every coded symbol (0 for zeros, flat hits and exact predictions), at the
        /// plane's offsets.
        let kPlane: UnsafeMutablePointer<UInt8>

        // Arena layout (bytes): each part follows the previous one, 64-byte aligned.
        static func after(_ offset: Int, _ bytes: Int) -> Int { (offset + bytes + 63) & ~63 }
        static let cdfOffset = 0
        static let flatOffset = after(cdfOffset, FeatureContextModel4.classContexts * AdaptiveCDF.words * 2)
        static let zeroOffset = after(flatOffset, FeatureContextModel4.flatContexts * 4)
        static let signOffset = after(zeroOffset, FeatureContextModel4.zeroContexts * 4)
        static let rateOffset = after(signOffset, FeatureContextModel4.signContexts * 4) // up to 1023 × 4
        static let bitLengthOffset = after(rateOffset, 1023 * 4) // 256: bitLength[i]
        static let sumOffset = after(bitLengthOffset, 256) // 1024: sumBucket[a + b + cc + d]
        static let predictionOffset = after(sumOffset, 1024) // 256: predictionBucket[p]
        static let energyOffset = after(predictionOffset, 256) // 32: energyBucket[kL + kU + kR]
        static let shiftOffset = after(energyOffset, 32) // up to 2^14 − 1
        static let arenaBytes = after(shiftOffset, 1 << 14)

        @inline(__always) var cdfs: UnsafeMutablePointer<UInt16> { (arena + Self.cdfOffset).assumingMemoryBound(to: UInt16.self) }
        @inline(__always) var flatM: UnsafeMutablePointer<AdaptiveBit> { (arena + Self.flatOffset).assumingMemoryBound(to: AdaptiveBit.self) }
        @inline(__always) var zeroM: UnsafeMutablePointer<AdaptiveBit> { (arena + Self.zeroOffset).assumingMemoryBound(to: AdaptiveBit.self) }
        @inline(__always) var signM: UnsafeMutablePointer<AdaptiveBit> { (arena + Self.signOffset).assumingMemoryBound(to: AdaptiveBit.self) }
        @inline(__always) var rates: UnsafeMutablePointer<UInt32> { (arena + Self.rateOffset).assumingMemoryBound(to: UInt32.self) }
        @inline(__always) var shifts: UnsafeMutablePointer<UInt8> { (arena + Self.shiftOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var bitLength: UnsafeMutablePointer<UInt8> { (arena + Self.bitLengthOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var sumBucket: UnsafeMutablePointer<UInt8> { (arena + Self.sumOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var predictionBucket: UnsafeMutablePointer<UInt8> { (arena + Self.predictionOffset).assumingMemoryBound(to: UInt8.self) }
        @inline(__always) var energyBucket: UnsafeMutablePointer<UInt8> { (arena + Self.energyOffset).assumingMemoryBound(to: UInt8.self) }

        init(_ model: FeatureContextModel4, shape: FeatureShape, bits: Int) {
            stride = shape.width + 2
            channelStride = (shape.height + 1) * stride
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
            for i in 0..<FeatureContextModel4.classContexts {
                AdaptiveCDF.initialize(cdfs + i * AdaptiveCDF.words, used: min(bits, 7) + 1,
                                       count: min(FeatureContextModel4.initialCount, maxCount))
            }
            flatM.initialize(repeating: AdaptiveBit(), count: FeatureContextModel4.flatContexts)
            zeroM.initialize(repeating: AdaptiveBit(), count: FeatureContextModel4.zeroContexts)
            signM.initialize(repeating: AdaptiveBit(), count: FeatureContextModel4.signContexts)
            rates.initialize(from: rateTable, count: rateTable.count)
            shifts.initialize(from: shiftTable, count: shiftTable.count)
            for i in 0..<256 { bitLength[i] = UInt8(Int.bitWidth - i.leadingZeroBitCount) }
            let sc = 8 - bits
            for t in 0..<1024 { sumBucket[t] = UInt8(FeatureContextModel.sumBucket(t << sc)) }
            for t in 0..<256 { predictionBucket[t] = UInt8(FeatureContextModel.predictionBucket(t << sc)) }
            for t in 0..<32 { energyBucket[t] = UInt8(FeatureContextModel.energyBucket(t)) }
        }

        func deallocate() {
            arena.deallocate()
            kPlane.deallocate()
        }

        /// Codes the element at `row[x]` (steps 1–5 of the type's description).
        @_transparent
        func step<Coder: BinaryCoder, Raw: RawBitCoder, Signs: SignCoding>(_ coder: inout Coder, _ raw: inout Raw, row: UnsafeMutablePointer<UInt8>,
                                                                          plane: UnsafeMutablePointer<UInt8>, x: Int, signs: Signs.Type) {
            let krow = kPlane + (row - plane)
            let a = Int(row[x - 1]), b = Int(row[x - stride]), cc = Int(row[x - stride - 1]), d = Int(row[x - stride + 1])
            let r = Int(row[x - channelStride])
            let v0 = Coder.isEncoder ? Int(row[x]) : 0
            // 1. flat run
            var zeroImplied = false
            if a == b && a == cc && a == d {
                let fctx = atLeast(a, 1) | (r == a ? 2 : 0) | (krow[x - channelStride] == 0 ? 4 : 0)
                if coder.code(v0 == a ? 0 : 1, flatM + fctx, rates, limit) == 0 {
                    // (the class plane, like the decoder's plane, starts zeroed: class 0 needs no store)
                    if !Coder.isEncoder { row[x] = UInt8(truncatingIfNeeded: a) }
                    return
                }
                zeroImplied = a == 0
            }
            // 2. zero flag
            if !zeroImplied {
                let sq = Int(sumBucket[a &+ b &+ cc &+ d])
                if coder.code(atLeast(v0, 1), zeroM + FeatureContextModel.zeroContext(a, b, cc, d, r, sumBucket: sq), rates, limit) == 0 {
                    return // v = 0, class 0: both planes already hold 0 here
                }
            }
            // 3. class symbol
            let p = FeatureContextModel.prediction(a, b, cc)
            let pq = Int(predictionBucket[p])
            let eSum = Int(krow[x - 1]) &+ Int(krow[x - stride]) &+ Int(krow[x - channelStride])
            let model = cdfs + (Int(energyBucket[eSum]) &* 4 &+ pq) &* AdaptiveCDF.words
            var res = 0, m0 = 0, s = 0
            if Coder.isEncoder {
                res = v0 &- p
                m0 = abs(res)
                s = min(Int(bitLength[m0]), 7)
            }
            s = coder.codeSymbol(s, model)
            AdaptiveCDF.update(model, s, shifts, maxCount)
            // 4. mantissa, raw: the class-8 flag (class 7 at 8 bits only), then the k − 1 bits below the leading one
            var k = s
            if k == 7 && bits == 8 { k &+= raw.field(m0 >> 7, count: 1) } // rare (0.4 % of stem symbols), so well predicted
            let lead = k == 0 ? 0 : 1 << (k &- 1)
            let m = lead | raw.field(m0 & (lead &- 1), count: max(k &- 1, 0))
            krow[x] = UInt8(truncatingIfNeeded: k)
            // 5. sign, when both are possible: a decision (tag 4) or a raw bit (tag 5)
            let canNeg = p &- m >= 1
            let canPos = p &+ m <= maxValue
            var v = p
            if Coder.isEncoder && Signs.raw {
                // The writer needs no branch: whether a sign is stored is close to a coin toss.
                _ = raw.field(res < 0 ? 1 : 0, count: m > 0 && canNeg && canPos ? 1 : 0)
            } else if m > 0 {
                var negative = canNeg ? 1 : 0
                if canNeg && canPos {
                    negative = Signs.raw ? raw.field(res < 0 ? 1 : 0, count: 1)
                        : coder.code(res < 0 ? 1 : 0, signM + (min(k, 3) &* 4 &+ pq), rates, limit)
                }
                v = negative == 1 ? p &- m : p &+ m
            }
            if !Coder.isEncoder {
                // A class or a sign that leaves the range: only a damaged payload gets here.
                if v < 1 || v > maxValue { coder.markInvalid(); v = 1 }
                row[x] = UInt8(truncatingIfNeeded: v)
            }
        }
    }
}

/// How step 5 stores a sign: a modelled decision (tag 4) or a raw bit (tag 5). Types, not a flag, so that
/// each choice gets its own specialised loop.
protocol SignCoding { static var raw: Bool { get } }
enum ModelledSigns: SignCoding { static var raw: Bool { false } }
enum RawSigns: SignCoding { static var raw: Bool { true } }
