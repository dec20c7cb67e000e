// Every op's backward against central finite differences. Inputs are kept away from the kinks of ReLU and
// max pooling (values pushed off zero, pooled values distinct) so the finite difference is meaningful.

import XCTest
import TensorCore
import Autograd
import _TestSupport

final class GradientCheckTests: XCTestCase {
    var rng = RNG(seed: 1234)

    func leaf(_ shape: [Int], std: Float = 1, grad: Bool = true) -> Variable {
        Variable(Tensor.randomNormal(shape, std: std, rng: &rng), requiresGrad: grad)
    }

    /// Values with |v| ≥ 0.2 and pairwise distinct, so ReLU and max have no kink within ±eps.
    func awayFromKinks(_ shape: [Int]) -> Variable {
        let t = Tensor(uninitialized: shape)
        let perm = rng.permutation(t.count)
        for i in 0..<t.count {
            let mag = 0.2 + Float(perm[i]) * 0.05
            t[i] = (rng.uniform() < 0.5 ? -1 : 1) * mag
        }
        return Variable(t, requiresGrad: true)
    }

    func check(_ inputs: [Variable], tol: Float = 2e-2, file: StaticString = #filePath, line: UInt = #line,
               _ f: @escaping ([Variable]) -> Variable) {
        let r = gradCheck(inputs, f)
        XCTAssertLessThan(r.worst, tol, r.description, file: file, line: line)
    }

    func testConv2dAllGeometries() {
        for threads in [1, 2] {
            Parallel.threads = threads
            for (n, cin, cout, h, w, k, stride, pad, bias) in [
                (1, 1, 1, 5, 5, 3, 1, 1, false), (3, 2, 3, 5, 4, 3, 2, 1, true), (2, 7, 2, 4, 6, 1, 1, 0, true),
                (3, 3, 4, 6, 5, 1, 2, 0, false), (1, 2, 3, 7, 7, 2, 2, 0, true), (2, 3, 2, 5, 5, 3, 1, 0, false),
            ] {
                let x = leaf([n, cin, h, w]), wt = leaf([cout, cin, k, k], std: 0.5)
                let b: Variable? = bias ? leaf([cout]) : nil
                var ins = [x, wt]
                if let b { ins.append(b) }
                check(ins) { v in conv2d(v[0], weight: v[1], bias: bias ? v[2] : nil, stride: stride, pad: pad) }
            }
        }
        Parallel.threads = 1
    }

    func testConvTranspose2d() {
        for (stride, pad, k) in [(2, 0, 2), (2, 1, 3), (1, 1, 3)] {
            let x = leaf([2, 3, 3, 4]), w = leaf([3, 2, k, k], std: 0.5), b = leaf([2])
            check([x, w, b]) { v in convTranspose2d(v[0], weight: v[1], bias: v[2], stride: stride, pad: pad) }
        }
    }

    func testBatchNormTrainingAndEval() {
        let x = leaf([3, 2, 3, 4]), g = leaf([2]), b = leaf([2])
        check([x, g, b]) { v in
            batchNorm2d(v[0], gamma: v[1], beta: v[2], state: BatchNormState(channels: 2), training: true)
        }
        let state = BatchNormState(channels: 2)
        state.runningMean[0] = 0.3; state.runningVar[1] = 2.0
        check([x, g, b]) { v in batchNorm2d(v[0], gamma: v[1], beta: v[2], state: state, training: false) }
    }

    func testElementwise() {
        let a = leaf([2, 3, 4]), b = leaf([2, 3, 4])
        check([a, b]) { v in v[0] + v[1] }
        check([a, b]) { v in v[0] - v[1] }
        check([a, b]) { v in v[0] * v[1] }
        check([a]) { v in v[0] * 1.7 }
        check([a]) { v in sigmoid(v[0]) }
        check([awayFromKinks([2, 3, 4])]) { v in relu(v[0]) }
        check([a]) { v in sum(v[0]) }
        check([a]) { v in reshape(v[0], [6, 4]) }
    }

    func testPools() {
        check([awayFromKinks([2, 3, 5, 6])]) { v in maxPool2d(v[0], kernel: 3, stride: 2, pad: 1) }
        check([awayFromKinks([2, 2, 4, 4])]) { v in maxPool2d(v[0], kernel: 2, stride: 2) }
        check([leaf([2, 3, 4, 5])]) { v in globalAvgPool(v[0]) }
        check([awayFromKinks([2, 3, 4, 5])]) { v in globalMaxPool(v[0]) }
    }

    func testLinearAndLoss() {
        let x = leaf([3, 5]), w = leaf([4, 5]), b = leaf([4])
        check([x, w, b]) { v in linear(v[0], weight: v[1], bias: v[2]) }
        check([leaf([3, 4])]) { v in softmaxCrossEntropy(v[0], labels: [0, 3, 1]) }
    }

    func testChannelOps() {
        let a = leaf([2, 3, 2, 3]), b = leaf([2, 2, 2, 3])
        check([a, b]) { v in concatChannels([v[0], v[1]]) }
        check([a]) { v in gatherChannels(v[0], [2, 0, 2]) }
        check([b]) { v in scatterChannels(v[0], [3, 1], channels: 5) }
        let s = leaf([2, 3])
        check([a, s]) { v in mulChannels(v[0], v[1]) }
        let m = leaf([3, 6])
        check([m]) { v in meanAcrossChannels(v[0]) }
        check([m]) { v in varianceAcrossChannels(v[0]) }
        check([m]) { v in normalizeAcrossChannels(v[0]) }
    }

    /// A graph where one value feeds several branches that rejoin, with a frozen parameter.
    func testBranchesRejoinAndFrozenParameters() {
        let x = leaf([2, 3, 4, 4]), w1 = leaf([3, 3, 3, 3], std: 0.4), w2 = leaf([3, 3, 1, 1], std: 0.4)
        let frozen = Variable(Tensor.randomNormal([3, 3, 3, 3], std: 0.4, rng: &rng), requiresGrad: false)
        check([x, w1, w2]) { v in
            let h = conv2d(v[0], weight: v[1], pad: 1)
            let a = conv2d(h, weight: v[2])
            let b = conv2d(h, weight: frozen, pad: 1)
            let att = sigmoid(normalizeAcrossChannels(globalAvgPool(a)) + normalizeAcrossChannels(globalMaxPool(b)))
            return mulChannels(h, att) + v[0]
        }
        XCTAssertNil(frozen.grad, "a frozen parameter must not receive a gradient")
    }

    func testStraightThroughPassesGradientUnchanged() {
        let x = leaf([4])
        let y = straightThrough(x) { t in let q = Tensor(uninitialized: t.shape); for i in 0..<t.count { q[i] = t[i].rounded() }; return q }
        sum(y * 3).backward()
        XCTAssertEqual(x.grad?.array, [3, 3, 3, 3])
    }

    func testGatedStraightThroughStopsTheGradientWhereTheForwardClamps() {
        let x = Variable(Tensor(shape: [4], values: [-2, 0.25, 0.75, 3]), requiresGrad: true)
        let clamp: (Tensor) -> Tensor = { t in let q = Tensor(uninitialized: t.shape); for i in 0..<t.count { q[i] = min(max(t[i], 0), 1) }; return q }
        let inside: (Tensor) -> Tensor = { t in let g = Tensor(uninitialized: t.shape); for i in 0..<t.count { g[i] = t[i] >= 0 && t[i] <= 1 ? 1 : 0 }; return g }
        let y = straightThrough(x, passing: inside, clamp)
        XCTAssertEqual(y.value.array, [0, 0.25, 0.75, 1])
        sum(y * 3).backward()
        XCTAssertEqual(x.grad?.array, [0, 3, 3, 0])
    }
}
