// Deterministic test data for the coder tests: a tiny xorshift generator and a synthetic "stem feature"
// generator (smooth object on a zero background, random 3×3 filters, ReLU, uniform quantisation), shaped
// like the reference statistics (about half zeros, smooth non-zero regions).

import FeatureCoding

struct TestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func bytes(_ n: Int, below limit: Int = 256) -> [UInt8] { (0..<n).map { _ in UInt8(below(limit)) } }
}

/// A smooth `C × H × W` feature map of `bits`-bit symbols with roughly half zeros.
func smoothFeatures(shape: FeatureShape, bits: Int, seed: UInt64) -> [UInt8] {
    var rng = TestRNG(seed: seed)
    let H = shape.height, W = shape.width
    var image = [Double](repeating: 0, count: H * W)
    let cy = Double(H) / 2, cx = Double(W) / 2
    let ry = Double(H) * (0.25 + 0.2 * rng.unit()), rx = Double(W) * (0.25 + 0.2 * rng.unit())
    for y in 0..<H {
        for x in 0..<W {
            let dy = (Double(y) - cy) / ry, dx = (Double(x) - cx) / rx
            if dy * dy + dx * dx < 1 { image[y * W + x] = 0.4 + 0.4 * Double(x + 2 * y) / Double(2 * H + W) + 0.06 * rng.unit() }
        }
    }
    var out = [Double](repeating: 0, count: shape.channels * H * W)
    for c in 0..<shape.channels {
        let w = (0..<9).map { _ in rng.unit() - 0.45 }
        let bias = (rng.unit() - 0.6) * 0.2
        for y in 0..<H {
            for x in 0..<W {
                var s = bias
                for ky in -1...1 {
                    for kx in -1...1 {
                        let yy = y + ky, xx = x + kx
                        if yy >= 0, yy < H, xx >= 0, xx < W { s += w[(ky + 1) * 3 + kx + 1] * image[yy * W + xx] }
                    }
                }
                out[(c * H + y) * W + x] = max(0, s)
            }
        }
    }
    let mx = max(out.max() ?? 0, 1e-9)
    let top = Double((1 << bits) - 1)
    return out.map { UInt8(min(top, ($0 / mx * top).rounded())) }
}

/// Every codec the shared suites run against.
let allCodecs: [any SymbolCodec] = [
    ZstdSymbolCodec(level: 1), ZstdSymbolCodec(level: 19),
    ArithmeticSymbolCodec(model: .order0), ArithmeticSymbolCodec(model: .context()),
    ArithmeticSymbolCodec(model: .context(cdfShift: 1)), ArithmeticSymbolCodec(model: .context(cdfShift: 14)),
    ArithmeticSymbolCodec(model: .context3()), ArithmeticSymbolCodec(model: .context3(rateLimit: 5)),
    ArithmeticSymbolCodec(model: .context4()),
]
