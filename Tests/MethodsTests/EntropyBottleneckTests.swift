// The entropy-bottleneck baseline: the factorized density's ops against finite differences and the Double
// reference, its monotonicity, the coding tables derived from it and the real coder against the estimate.

import XCTest
import TensorCore
import Autograd
import NN
import Methods
import FeatureCoding
import _TestSupport

final class EntropyBottleneckTests: XCTestCase {
    var rng = RNG(seed: 2018)

    /// A prior with every parameter drawn at random (matrices around the init, biases and factors N(0, 1)).
    func randomPrior(channels: Int, seed: UInt64) -> FactorizedPrior {
        var r = RNG(seed: seed)
        let p = FactorizedPrior(channels: channels, seed: seed)
        for v in p.matrices { v.value.assign(Tensor.randomNormal(v.shape, std: 0.7, rng: &r)) }
        for v in p.biases + p.factors { v.value.assign(Tensor.randomNormal(v.shape, std: 1, rng: &r)) }
        return p
    }

    func leaf(_ shape: [Int], std: Float) -> Variable {
        Variable(Tensor.randomNormal(shape, std: std, rng: &rng), requiresGrad: true)
    }

    func testLogitsCumulativeGradientsAgainstFiniteDifferences() {
        let p = randomPrior(channels: 3, seed: 1)
        let x = leaf([2, 3, 2, 2], std: 1.5)
        for threads in [1, 2] {
            Parallel.threads = threads
            let r = gradCheck([x] + p.densityParameters, eps: 1e-2) { v in factorizedLogitsCumulative(v[0], Array(v.dropFirst())) }
            XCTAssertLessThan(r.worst, 2e-2, r.description)
        }
        Parallel.threads = 1
    }

    func testLikelihoodGradientsAgainstFiniteDifferences() {
        let p = randomPrior(channels: 3, seed: 2)
        let y = leaf([2, 3, 2, 3], std: 1)
        let r = gradCheck([y] + p.densityParameters, eps: 1e-2) { v in factorizedLikelihood(v[0], Array(v.dropFirst())) }
        XCTAssertLessThan(r.worst, 2e-2, r.description)
    }

    /// The rate term −Σ log₂ p (through the likelihood, and `negativeLog2` on its own).
    func testRateGradientsAgainstFiniteDifferences() {
        let p = randomPrior(channels: 2, seed: 3)
        let y = leaf([3, 2, 2, 2], std: 1)
        let r = gradCheck([y] + p.densityParameters, eps: 1e-2) { v in sum(negativeLog2(factorizedLikelihood(v[0], Array(v.dropFirst())))) }
        XCTAssertLessThan(r.worst, 2e-2, r.description)
        let q = Variable(Tensor.randomUniform([20], lo: 0.2, hi: 1, rng: &rng), requiresGrad: true)
        XCTAssertLessThan(gradCheck([q], eps: 1e-3) { v in negativeLog2(v[0]) }.worst, 2e-2)
    }

    /// The training path: additive U(−½, ½) noise (fixed draws), then the likelihood.
    func testNoisePathGradientsAgainstFiniteDifferences() {
        let p = randomPrior(channels: 2, seed: 4)
        let y = leaf([2, 2, 3, 3], std: 1)
        let r = gradCheck([y] + p.densityParameters, eps: 1e-2) { v in
            var noise = RNG(seed: 77)
            return factorizedLikelihood(addUniformNoise(v[0], rng: &noise), Array(v.dropFirst()))
        }
        XCTAssertLessThan(r.worst, 2e-2, r.description)
        var a = RNG(seed: 5), b = RNG(seed: 5)
        let x = Variable(Tensor(zeros: [1, 1, 4, 4]))
        let n1 = addUniformNoise(x, rng: &a).value, n2 = addUniformNoise(x, rng: &b).value
        XCTAssertTrue(n1.bitwiseEqual(n2))
        XCTAssertTrue(n1.array.allSatisfy { $0 >= -0.5 && $0 < 0.5 })
    }

    /// The CDF is non-decreasing in x for random parameters, and the Float kernel agrees with the Double
    /// reference the tables come from.
    func testCDFIsMonotoneAndMatchesTheReference() {
        for seed in UInt64(10)..<UInt64(20) {
            let p = randomPrior(channels: 4, seed: seed)
            let grid = (0..<401).map { Float($0 - 200) * 0.1 }
            let x = Tensor(uninitialized: [1, 4, 1, 401])
            for c in 0..<4 { for (i, v) in grid.enumerated() { x[c * 401 + i] = v } }
            let l = GradMode.withoutGrad { p.logitsCumulative(Variable(x)).value }
            let net = p.network
            for c in 0..<4 {
                for i in 1..<401 { XCTAssertGreaterThanOrEqual(l[c * 401 + i], l[c * 401 + i - 1], "seed \(seed) channel \(c) at \(grid[i])") }
                for i in stride(from: 0, to: 401, by: 37) {
                    let ref = net.logit(c, Double(grid[i]))
                    XCTAssertEqual(Double(l[c * 401 + i]), ref, accuracy: 1e-4 * max(1, abs(ref)))
                }
            }
            let lik = GradMode.withoutGrad { p.likelihood(Variable(x)).value }
            XCTAssertTrue(lik.array.allSatisfy { $0 >= likelihoodBound && $0 <= 1 })
        }
    }

    /// Tables from a density: every frequency ≥ 1, totals 2^16; symbols drawn from the density round-trip
    /// exactly through the coder, which spends within 3 % of the model's estimate −Σ log₂ P(q).
    func testTablesCodeSamplesNearTheEstimate() throws {
        // Around CompressAI's initial density (wide: several bits per latent), perturbed per channel.
        let p = FactorizedPrior(channels: 4, seed: 30)
        for v in p.matrices + p.factors {
            let noise = Tensor.randomNormal(v.shape, std: 0.3, rng: &rng)
            for i in 0..<v.value.count { v.value[i] += noise[i] }
        }
        try p.updateTables()
        let tables = try p.tables()
        let net = p.network
        let (h, w) = (32, 32)
        var q = [Int32](), estimate = 0.0
        var draw = RNG(seed: 31)
        for (c, t) in tables.enumerated() {
            XCTAssertEqual(t.frequencies.reduce(0, +), 1 << 16)
            XCTAssertTrue(t.frequencies.allSatisfy { $0 >= 1 })
            let m = Double(p.medians[c])
            // Inverse-CDF sampling of q over the support from the Double probabilities.
            let probs = (0..<t.support).map { net.likelihood(c, m + Double(t.offset + $0)) }
            let total = probs.reduce(0, +)
            for _ in 0..<(h * w) {
                var u = draw.uniformDouble() * total, k = 0
                while k < probs.count - 1 && u >= probs[k] { u -= probs[k]; k += 1 }
                q.append(Int32(t.offset + k))
                estimate -= log2(probs[k])
            }
        }
        let shape = FeatureShape(channels: 4, height: h, width: w)
        let bytes = try p.codec().encode(q, shape: shape)
        XCTAssertEqual(try p.codec().decode(bytes, shape: shape), q)
        let coded = Double(bytes.count * 8)
        XCTAssertLessThan(abs(coded - estimate) / estimate, 0.03, "coded \(coded) bits, estimated \(estimate)")
        // Deterministic: the same weights give the same tables.
        let again = FactorizedPrior(channels: 4, seed: 99)
        try again.loadState(Dictionary(uniqueKeysWithValues: p.stateTensors()))
        try again.updateTables()
        XCTAssertEqual(try again.tables(), tables)
    }

    func testTablesMustBeBuiltAndIntact() throws {
        let p = randomPrior(channels: 2, seed: 40)
        XCTAssertThrowsError(try p.tables()) { XCTAssertEqual($0 as? FactorizedPriorError, .tablesNotBuilt) }
        try p.updateTables()
        p.cdfFrequencies[3] = 0
        XCTAssertThrowsError(try p.tables())
    }

    /// The bridge: training gives a differentiable rate; evaluation rounds around the medians, and coding
    /// those symbols and dequantising gives exactly what the edge half received.
    func testBridgeTrainsOnNoiseAndCodesWhatItRounds() throws {
        for stride in [1, 2] {
            let bridge = EntropicBridge(channels: 4, latent: 2, stride: stride, seed: 7)
            let x = Variable(Tensor.randomNormal([2, 4, 4, 4], std: 1, rng: &rng))
            let out = bridge(x)
            XCTAssertEqual(out.shape, [2, 4, 4, 4])
            let bits = try XCTUnwrap(bridge.lastBits)
            XCTAssertGreaterThan(bits.value[0], 0)
            (sum(out) + bits).backward()
            XCTAssertNotNil(bridge.encoder.weight.grad)
            XCTAssertNotNil(bridge.prior.matrices[0].grad)
            try bridge.prior.updateTables()
            bridge.setTraining(false)
            try GradMode.withoutGrad {
                let y = bridge.encode(x).value
                let q = bridge.prior.symbols(y)
                let yHat = bridge.quantize(Variable(y)).value
                let per = q.count / 2
                let s = NCHW(y.shape)
                for n in 0..<2 {
                    let image = Array(q[(n * per)..<((n + 1) * per)])
                    let shape = FeatureShape(channels: s.c, height: s.h, width: s.w)
                    let back = try bridge.prior.codec().decode(try bridge.prior.codec().encode(image, shape: shape), shape: shape)
                    XCTAssertEqual(back, image)
                }
                XCTAssertTrue(bridge.prior.dequantize(q, shape: y.shape).bitwiseEqual(yHat))
            }
        }
    }
}
