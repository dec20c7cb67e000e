// Seeded pseudo-random numbers with a state that can be saved and restored exactly, so a resumed run
// draws the same numbers as an uninterrupted one. xoshiro256** seeded through splitmix64.
// Not for cryptography.

import Foundation

public struct RNG: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// Restore a state saved with `stateWords`.
    public init(stateWords w: [UInt64]) throws {
        guard w.count == 4, w.contains(where: { $0 != 0 }) else {
            throw TensorError.invalidArgument("RNG state must be 4 words, not all zero; got \(w)")
        }
        state = (w[0], w[1], w[2], w[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public static func == (a: RNG, b: RNG) -> Bool { a.stateWords == b.stateWords }

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = RNG.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = RNG.rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [0, 1) with 53 bits of precision.
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Uniform integer in 0..<n (unbiased, by rejection).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let r = next()
            if r < limit { return Int(r % bound) }
        }
    }

    /// Standard normal sample (Box–Muller on doubles, so it is identical on every machine).
    public mutating func normal() -> Float {
        var u1 = uniformDouble()
        while u1 <= 0 { u1 = uniformDouble() }
        let u2 = uniformDouble()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// A random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            p.swapAt(i, int(below: i + 1))
        }
        return p
    }
}

extension Tensor {
    /// Normal(0, std²) samples.
    public static func randomNormal(_ shape: [Int], std: Float, rng: inout RNG) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = rng.normal() * std }
        return t
    }

    /// Uniform samples in [lo, hi).
    public static func randomUniform(_ shape: [Int], lo: Float, hi: Float, rng: inout RNG) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = lo + (hi - lo) * rng.uniform() }
        return t
    }
}
