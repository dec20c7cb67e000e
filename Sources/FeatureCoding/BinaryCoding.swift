// The glue between binary models and the range coder: one `code` call codes (or decodes) one decision with
// an `AdaptiveBit` and then adapts it. Encoder and decoder implement the same protocol so that a context
// model's traversal is written once (FeatureContextModel.run) and cannot drift between the two sides.

/// Codes one binary decision with an adaptive model, then updates the model (the `AdaptiveBit` rule).
protocol BinaryCoder {
    /// True when the coder writes (the `bit` argument is the value to code); false when it reads (the
    /// argument is ignored and the decoded bit returned).
    static var isEncoder: Bool { get }
    /// Codes `bit` (encoder) or decodes a bit (decoder) with `model`, adapts `model`, returns the bit.
    mutating func code(_ bit: Int, _ model: UnsafeMutablePointer<AdaptiveBit>, _ rates: UnsafePointer<UInt32>, _ rateLimit: UInt16) -> Int
    /// Codes (or decodes) the `count` low bits of `value` (0 … 7 bits) at probability 2^-count each
    /// pattern, with no model: one interval of width `⌊range / 2^count⌋` (the format's "bypass" bits).
    mutating func bypass(_ value: Int, count: Int) -> Int
    /// Records that the decoded data is impossible (decoder only; no-op in the encoder).
    mutating func markInvalid()
    /// Codes (or decodes) one symbol 0 … 7 with an 8-symbol adaptive CDF (AdaptiveCDF.swift), without
    /// adapting it; returns the symbol.
    mutating func codeSymbol(_ symbol: Int, _ cdf: UnsafeMutablePointer<UInt16>) -> Int
}

@inline(__always)
func adapt(_ m: UnsafeMutablePointer<AdaptiveBit>, _ bit: Int, _ rates: UnsafePointer<UInt32>, _ rateLimit: UInt16) {
    let n = m.pointee.n
    let k = rates[Int(n)]
    let p = UInt32(m.pointee.p0)
    let up = p &+ (((65536 &- p) &* k) >> 16)
    let down = p &- ((p &* k) >> 16)
    m.pointee.p0 = UInt16(truncatingIfNeeded: bit == 0 ? up : down)
    m.pointee.n = n < rateLimit ? n &+ 1 : n
}

struct BitEncoder: BinaryCoder {
    var rc: RangeEncoder
    static var isEncoder: Bool { true }
    @inline(__always) mutating func markInvalid() {}

    @inline(__always)
    mutating func code(_ bit: Int, _ model: UnsafeMutablePointer<AdaptiveBit>, _ rates: UnsafePointer<UInt32>, _ rateLimit: UInt16) -> Int {
        // p0 of an AdaptiveBit is always within 1…65535, so the clamping variant is not needed.
        let bound = (rc.range >> 16) &* UInt32(model.pointee.p0)
        let mask = 0 &- UInt32(truncatingIfNeeded: bit & 1)
        rc.low &+= UInt64(bound & mask)
        rc.range = bit & 1 == 0 ? bound : rc.range &- bound
        rc.normalize()
        adapt(model, bit, rates, rateLimit)
        return bit
    }

    @inline(__always)
    mutating func bypass(_ value: Int, count: Int) -> Int {
        // range ≥ 2^24 and count ≤ 7 keep r ≥ 2^17; one renormalisation step restores range ≥ 2^24.
        let r = rc.range >> UInt32(truncatingIfNeeded: count)
        rc.low &+= UInt64(r) &* UInt64(truncatingIfNeeded: value)
        rc.range = r
        rc.normalize()
        return value
    }
}

struct BitDecoder: BinaryCoder {
    var rc: RangeDecoder
    static var isEncoder: Bool { false }
    @inline(__always) mutating func markInvalid() { rc.invalid = true }

    @inline(__always)
    mutating func code(_ bit: Int, _ model: UnsafeMutablePointer<AdaptiveBit>, _ rates: UnsafePointer<UInt32>, _ rateLimit: UInt16) -> Int {
        let bound = (rc.range >> 16) &* UInt32(model.pointee.p0)
        let one = rc.code >= bound
        let mask = one ? ~UInt32(0) : 0
        rc.code &-= bound & mask
        rc.range = one ? rc.range &- bound : bound
        let b = Int(mask & 1)
        rc.normalize()
        adapt(model, b, rates, rateLimit)
        return b
    }

    @inline(__always)
    mutating func bypass(_ value: Int, count: Int) -> Int {
        let r = rc.range >> UInt32(truncatingIfNeeded: count)
        var v = rc.code / r
        let top = UInt32(truncatingIfNeeded: (1 << count) - 1)
        if v > top { rc.invalid = true; v = top } // only a damaged stream: code ≥ range
        rc.code &-= r &* v
        rc.range = r
        rc.normalize()
        return Int(v)
    }
}

extension BitEncoder {
    /// Codes `symbol` (0 … 7) with the adaptive CDF at `cdf` (layout in AdaptiveCDF.swift; not adapted here):
    /// `r = range >> 15`, `low += r · U_{s−1}`, `range = r · (U_s − U_{s−1})`.
    @_transparent
    mutating func codeSymbol(_ symbol: Int, _ cdf: UnsafeMutablePointer<UInt16>) -> Int {
        let r = rc.range >> AdaptiveCDF.scaleBits
        let lo = UInt32(cdf[symbol]), hi = UInt32(cdf[symbol &+ 1])
        rc.low &+= UInt64(r &* lo)
        rc.range = r &* (hi &- lo)
        rc.normalize()
        return symbol
    }
}

extension BitDecoder {
    /// Decodes a symbol coded by `BitEncoder.codeSymbol`: `t = ⌊code / r⌋` (a damaged stream can give
    /// `t ≥ 2^15`: marked invalid and clamped), the symbol is the number of `U_j ≤ t`.
    @_transparent
    mutating func codeSymbol(_ symbol: Int, _ cdf: UnsafeMutablePointer<UInt16>) -> Int {
        let r = rc.range >> AdaptiveCDF.scaleBits
        var t = rc.code / r
        if t >= 1 << 15 { rc.invalid = true; t = (1 << 15) - 1 }
        // s = #{j : U_j ≤ t}, as seven independent compares (U_7 = 2^15 > t): the table loads do not wait
        // for t, so only a compare and an add tree follow the division.
        let t32 = UInt32(t)
        let c0 = (UInt32(cdf[1]) &- 1 &- t32) >> 31, c1 = (UInt32(cdf[2]) &- 1 &- t32) >> 31
        let c2 = (UInt32(cdf[3]) &- 1 &- t32) >> 31, c3 = (UInt32(cdf[4]) &- 1 &- t32) >> 31
        let c4 = (UInt32(cdf[5]) &- 1 &- t32) >> 31, c5 = (UInt32(cdf[6]) &- 1 &- t32) >> 31
        let c6 = (UInt32(cdf[7]) &- 1 &- t32) >> 31
        let s = Int(truncatingIfNeeded: ((c0 &+ c1) &+ (c2 &+ c3)) &+ ((c4 &+ c5) &+ c6))
        let lo = UInt32(cdf[s]), hi = UInt32(cdf[s &+ 1])
        rc.code &-= r &* lo
        rc.range = r &* (hi &- lo)
        rc.normalize()
        return s
    }
}
