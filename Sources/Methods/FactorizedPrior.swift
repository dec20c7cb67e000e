// The learned entropy model of the entropy-bottleneck baseline: Ballé et al. 2018's factorized prior as
// CompressAI's `EntropyBottleneck` has it (monotone per-channel CDF network, filters (3, 3, 3), init scale
// 10; the op and its gradient are Autograd's `factorizedLikelihood`), plus the integer coding tables derived
// from it once training is done (`updateTables`) and stored with the model as buffers, so that encoder and
// decoder use the same integers on every machine. The derivation (docs/coders.md §7):
//
//   median m_c, and the tails x_lo, x_hi: the solutions of logit_c(x) = 0 and logit_c(x) = ∓ln(2/τ − 1)
//   (CDF = τ/2, 1 − τ/2; τ = tail mass 1e-9), by bisection in Double;
//   support: symbols q = round(y − m_c) ∈ [−a, b], a = max(0, ⌈m − x_lo⌉), b = max(0, ⌈x_hi − m⌉), narrowed
//   (the wider side first, b on ties) to at most 1023 symbols;
//   probabilities: P(q) = σ(logit(m + q + ½)) − σ(logit(m + q − ½)) for the support, and the escape's mass
//   σ(logit(m − a − ½)) + σ(−logit(m + b + ½)); `FactorizedPriorTable.quantize` turns them into frequencies.
//
// Rounding at test time is CompressAI's: ŷ = round(y − m) + m (round half away from zero), with the stored
// medians (0 before `updateTables`, i.e. plain rounding).

import Foundation
import TensorCore
import Autograd
import NN
import FeatureCoding

public enum FactorizedPriorError: Error, CustomStringConvertible, Equatable {
    case tablesNotBuilt
    case badTables(String)
    case density(String)

    public var description: String {
        switch self {
        case .tablesNotBuilt: return "the entropy model has no coding tables (cdf_length is 0): call updateTables() after training, before coding or saving the final model"
        case .badTables(let s): return "the entropy model's stored coding tables are unusable: \(s) (was the model file damaged or edited?)"
        case .density(let s): return "the learned density cannot give coding tables: \(s)"
        }
    }
}

public final class FactorizedPrior: Module {
    public let channels: Int, filters: [Int]
    public let matrices: [Variable], biases: [Variable], factors: [Variable]
    /// Coding state (buffers): medians [K]; per channel the table's first symbol, support size, and the
    /// frequencies (support, then escape, then zeros) [K, maxSupport + 1]. Integers are held exactly as Float.
    public let medians: Tensor, cdfOffset: Tensor, cdfLength: Tensor, cdfFrequencies: Tensor

    public init(channels: Int, filters: [Int] = [3, 3, 3], initScale: Double = 10, seed: UInt64) {
        self.channels = channels; self.filters = filters
        var rng = RNG(seed: seed)
        let dims = [1] + filters + [1]
        let scale = pow(initScale, 1 / Double(dims.count - 1))
        var m: [Variable] = [], b: [Variable] = [], f: [Variable] = []
        for i in 0..<(dims.count - 1) {
            let w = Tensor(shape: [channels, dims[i + 1], dims[i]], repeating: Float(log(expm1(1 / scale / Double(dims[i + 1])))))
            m.append(Variable(w, requiresGrad: true))
            b.append(Variable(Tensor.randomUniform([channels, dims[i + 1]], lo: -0.5, hi: 0.5, rng: &rng), requiresGrad: true))
            if i < dims.count - 2 { f.append(Variable(Tensor(zeros: [channels, dims[i + 1]]), requiresGrad: true)) }
        }
        matrices = m; biases = b; factors = f
        medians = Tensor(zeros: [channels]); cdfOffset = Tensor(zeros: [channels]); cdfLength = Tensor(zeros: [channels])
        cdfFrequencies = Tensor(zeros: [channels, FactorizedPriorTable.maxSupport + 1])
    }

    public override var localParameters: [(String, Variable)] {
        matrices.enumerated().map { ("matrix\($0.offset)", $0.element) }
            + biases.enumerated().map { ("bias\($0.offset)", $0.element) }
            + factors.enumerated().map { ("factor\($0.offset)", $0.element) }
    }
    public override var localBuffers: [(String, Tensor)] {
        [("medians", medians), ("cdf_offset", cdfOffset), ("cdf_length", cdfLength), ("cdf_frequencies", cdfFrequencies)]
    }

    /// Matrices, biases, factors: the parameter order of Autograd's factorized-density ops.
    public var densityParameters: [Variable] { matrices + biases + factors }

    /// Likelihood of each element of `y` ([N, K, …]) under its channel's density convolved with U(−½, ½).
    public func likelihood(_ y: Variable) -> Variable { factorizedLikelihood(y, densityParameters) }

    /// The cumulative logits of each element of `x`.
    public func logitsCumulative(_ x: Variable) -> Variable { factorizedLogitsCumulative(x, densityParameters) }

    /// The Double-precision network (what the tables come from).
    public var network: FactorizedNetwork { FactorizedNetwork(self) }

    /// q = round(y − m_c) for every element of `y` ([N, K, H, W]), channel-major per image.
    public func symbols(_ y: Tensor) -> [Int32] {
        let s = NCHW(y.shape), plane = s.h * s.w
        var out = [Int32](repeating: 0, count: y.count)
        for i in 0..<y.count {
            let v = (y[i] - medians[(i / plane) % s.c]).rounded()
            out[i] = Int32(max(-2e9, min(2e9, v)))
        }
        return out
    }

    /// ŷ = q + m_c for symbols laid out like `symbols(_:)`'s, as a tensor of `shape`.
    public func dequantize(_ q: [Int32], shape: [Int]) -> Tensor {
        let s = NCHW(shape), plane = s.h * s.w
        let t = Tensor(uninitialized: shape)
        for i in 0..<q.count { t[i] = Float(q[i]) + medians[(i / plane) % s.c] }
        return t
    }

    /// Derives the medians and coding tables from the current parameters and stores them (file comment).
    public func updateTables(tailMass: Double = 1e-9) throws {
        let net = network
        let target = log(2 / tailMass - 1)
        for c in 0..<channels {
            let m = try net.solve(c, logit: 0)
            let lo = try net.solve(c, logit: -target), hi = try net.solve(c, logit: target)
            var a = max(0, Int((m - lo).rounded(.up))), b = max(0, Int((hi - m).rounded(.up)))
            while a + b + 1 > FactorizedPriorTable.maxSupport { if a > b { a -= 1 } else { b -= 1 } }
            var p = (-a...b).map { net.likelihood(c, m + Double($0)) }
            p.append(net.sigmoid(net.logit(c, m - Double(a) - 0.5)) + net.sigmoid(-net.logit(c, m + Double(b) + 0.5)))
            let freq = try FactorizedPriorTable.quantize(p)
            medians[c] = Float(m)
            cdfOffset[c] = Float(-a); cdfLength[c] = Float(a + b + 1)
            let row = c * cdfFrequencies.shape[1]
            for j in 0..<cdfFrequencies.shape[1] { cdfFrequencies[row + j] = j < freq.count ? Float(freq[j]) : 0 }
        }
    }

    /// The stored tables, checked.
    public func tables() throws -> [FactorizedPriorTable] {
        let width = cdfFrequencies.shape[1]
        return try (0..<channels).map { c in
            let n = Int(cdfLength[c])
            guard n >= 1 else { throw FactorizedPriorError.tablesNotBuilt }
            guard n < width, Float(n) == cdfLength[c], let offset = Int(exactly: cdfOffset[c]) else {
                throw FactorizedPriorError.badTables("channel \(c): support \(cdfLength[c]), offset \(cdfOffset[c])")
            }
            let f = (0...n).map { cdfFrequencies[c * width + $0] }
            guard f.allSatisfy({ $0 >= 1 && $0 == $0.rounded() }) else { throw FactorizedPriorError.badTables("channel \(c): frequencies \(f.prefix(8))…") }
            do { return try FactorizedPriorTable(offset: offset, frequencies: f.map { UInt32($0) }) }
            catch { throw FactorizedPriorError.badTables("channel \(c): \(error)") }
        }
    }

    /// The codec over the stored tables.
    public func codec() throws -> FactorizedPriorCodec { FactorizedPriorCodec(tables: try tables()) }
}

/// The factorized density's network in Double, one scalar at a time: the reference for Autograd's Float
/// kernels and the source of the coding tables.
public struct FactorizedNetwork: Sendable {
    let dims: [Int]
    let a: [[Double]], b: [[Double]], t: [[Double]]

    public init(_ prior: FactorizedPrior) {
        dims = [1] + prior.filters + [1]
        a = prior.matrices.map { $0.value.array.map { w in Double(w) > 15 ? Double(w) : log1p(exp(Double(w))) } }
        b = prior.biases.map { $0.value.array.map(Double.init) }
        t = prior.factors.map { $0.value.array.map { tanh(Double($0)) } }
    }

    /// logit_c(x): the logit of channel c's CDF at x.
    public func logit(_ c: Int, _ x: Double) -> Double {
        var h = [x]
        for i in 0..<(dims.count - 1) {
            let din = dims[i], dout = dims[i + 1]
            var z = (0..<dout).map { b[i][c * dout + $0] }
            for o in 0..<dout { for j in 0..<din { z[o] += a[i][(c * dout + o) * din + j] * h[j] } }
            h = i < dims.count - 2 ? (0..<dout).map { z[$0] + t[i][c * dout + $0] * tanh(z[$0]) } : z
        }
        return h[0]
    }

    public func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }

    /// P(y − ½ < Y ≤ y + ½) for channel c, in the stable form (no lower bound).
    public func likelihood(_ c: Int, _ y: Double) -> Double {
        let l = logit(c, y - 0.5), u = logit(c, y + 0.5)
        let s: Double = l + u > 0 ? -1 : 1
        return abs(sigmoid(s * u) - sigmoid(s * l))
    }

    /// The x with logit_c(x) = `logit`, by bracketing (doubling from ±1) and 200 bisection steps.
    func solve(_ c: Int, logit target: Double) throws -> Double {
        var lo = -1.0, hi = 1.0
        while logit(c, lo) > target { lo *= 2; guard lo > -1e12 else { throw FactorizedPriorError.density("channel \(c): no x below 1e12 with logit \(target)") } }
        while logit(c, hi) < target { hi *= 2; guard hi < 1e12 else { throw FactorizedPriorError.density("channel \(c): no x below 1e12 with logit \(target)") } }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if mid <= lo || mid >= hi { break }
            if logit(c, mid) < target { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}

/// The entropy-bottleneck bridge (Matsubara et al. 2022's entropic student, SC2's reference method, without
/// distillation): device encoder → latents y (K channels) → ŷ (U(−½, ½) noise in training, rounding around
/// the medians otherwise) → edge decoder back to the split's C channels. Every forward pass leaves the
/// rate −Σ log₂ p(ŷ) over the batch in `lastBits` (a Variable in training, for the loss).
//   encoder (device): conv 3×3 stride 1 (pad 1), or conv 2×2 stride 2, C → K, with bias
//   decoder (edge):   conv 3×3 (or transposed conv 2×2 stride 2) → BN → ReLU, K → C
public final class EntropicBridge: Module {
    public let channels: Int, latent: Int, stride: Int
    public let encoder: Conv2D, decoderConv: Module, decoderBN: BatchNorm2D
    public let prior: FactorizedPrior
    let seed: UInt64
    /// Training steps taken (exact below 2^24); seeds each batch's noise.
    let step = Tensor(zeros: [1])
    /// Rate of the last forward pass, bits summed over its batch, and that batch's size.
    public private(set) var lastBits: Variable?
    var lastBatch = 1
    /// λ: the weight of the rate (bits per image) in the training loss.
    public var rateWeight: Float = 0

    public init(channels: Int, latent: Int, stride: Int, seed: UInt64) {
        precondition(stride == 1 || stride == 2, "entropic bridge: stride 1 or 2")
        self.channels = channels; self.latent = latent; self.stride = stride; self.seed = seed
        var rng = RNG(seed: seed)
        if stride == 2 {
            encoder = Conv2D(channels, latent, kernel: 2, stride: 2, pad: 0, bias: true, rng: &rng)
            decoderConv = ConvTranspose2D(latent, channels, kernel: 2, stride: 2, pad: 0, bias: false, rng: &rng)
        } else {
            encoder = Conv2D(channels, latent, kernel: 3, stride: 1, pad: 1, bias: true, rng: &rng)
            decoderConv = Conv2D(latent, channels, kernel: 3, stride: 1, pad: 1, rng: &rng)
        }
        decoderBN = BatchNorm2D(channels)
        prior = FactorizedPrior(channels: latent, seed: seed ^ 0xE17B)
    }

    public override var children: [(String, Module)] {
        [("encoder", encoder), ("decoder_conv", decoderConv), ("decoder_bn", decoderBN), ("prior", prior)]
    }
    public override var localBuffers: [(String, Tensor)] { [("step", step)] }

    /// Device side: split features → latents y.
    public func encode(_ x: Variable) -> Variable { encoder(x) }
    /// Edge side: ŷ → features for the edge half.
    public func decode(_ y: Variable) -> Variable { decoderBN.withReLU(decoderConv(y)) }

    /// ŷ: y plus noise seeded by (seed, step) in training; round(y − m) + m otherwise (straight-through).
    public func quantize(_ y: Variable) -> Variable {
        if isTraining {
            var rng = RNG(seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* (UInt64(step[0]) &+ 1)))
            step.buffer[0] += 1
            return addUniformNoise(y, rng: &rng)
        }
        return straightThrough(y) { t in self.prior.dequantize(self.prior.symbols(t), shape: t.shape) }
    }

    public override func forward(_ x: Variable) -> Variable {
        let yHat = quantize(encode(x))
        lastBits = sum(negativeLog2(prior.likelihood(yHat)))
        lastBatch = x.shape[0]
        return decode(yHat)
    }

    /// λ · bits per image of the last forward pass (the loss's rate term); nil before any pass.
    public func rateLoss() -> Variable? { lastBits.map { $0 * (rateWeight / Float(lastBatch)) } }
}
