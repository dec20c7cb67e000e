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
        let saved = (Kernels.convBackend, Kernels.convSubBatchBytes)
        defer { (Kernels.convBackend, Kernels.convSubBatchBytes) = saved }
        for (backend, bytes) in [(ConvBackend.gemm, saved.1), (.onednn, 1), (.onednn, saved.1)] {
        Kernels.convBackend = backend
        Kernels.convSubBatchBytes = bytes
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

    /// The fused forms relu(bn(x)) and relu(bn(x) + r): their own gradients against finite differences
    /// (inputs chosen so no pre-activation sits within eps of ReLU's kink), and values and gradients equal to
    /// the unfused composition of batch norm, add and ReLU.
    func testBatchNormFusedWithReLUAndResidual() {
        for training in [true, false] {
            let state = BatchNormState(channels: 2)
            state.runningMean[0] = 0.3; state.runningVar[1] = 2.0
            let x = awayFromKinks([3, 2, 3, 5]), r = awayFromKinks([3, 2, 3, 5])
            let g = leaf([2])
            let fresh = { training ? BatchNormState(channels: 2) : state }
            // β per channel in the middle of the widest gap between pre-activations, so none is near the kink.
            func offKink(_ residual: Variable?) -> Variable {
                let pre = batchNorm2d(x, gamma: g, beta: Variable(Tensor(zeros: [2])), state: fresh(), training: training).value
                var beta = [Float](repeating: 0, count: 2)
                for c in 0..<2 {
                    var v: [Float] = []
                    for n in 0..<3 { for i in 0..<15 { v.append(pre[(n * 2 + c) * 15 + i] + (residual?.value[(n * 2 + c) * 15 + i] ?? 0)) } }
                    v.sort()
                    let mid = (v.count / 4)..<(3 * v.count / 4)
                    let j = mid.max { v[$0 + 1] - v[$0] < v[$1 + 1] - v[$1] }!
                    XCTAssertGreaterThan(v[j + 1] - v[j], 0.05)
                    beta[c] = -(v[j] + v[j + 1]) / 2
                }
                return Variable(Tensor(shape: [2], values: beta), requiresGrad: true)
            }
            let b = offKink(nil), bResidual = offKink(r)
            check([x, g, b]) { v in batchNorm2d(v[0], gamma: v[1], beta: v[2], state: fresh(), training: training, relu: true) }
            check([x, g, bResidual, r]) { v in
                batchNorm2d(v[0], gamma: v[1], beta: v[2], state: fresh(), training: training, adding: v[3], relu: true)
            }
            check([x, g, b, r]) { v in
                batchNorm2d(v[0], gamma: v[1], beta: v[2], state: fresh(), training: training, adding: v[3])
            }
            // Against the composition.
            let upstream = Tensor.randomNormal([3, 2, 3, 5], std: 1, rng: &rng)
            func grads(_ f: ([Variable]) -> Variable) -> [Tensor] {
                let ins = [x, g, b, r].map { Variable($0.value, requiresGrad: true) }
                let y = f(ins)
                let loss = sum(y * Variable(upstream))
                loss.backward()
                return [y.value] + ins.map { $0.grad! }
            }
            let fused = grads { v in batchNorm2d(v[0], gamma: v[1], beta: v[2], state: fresh(), training: training, adding: v[3], relu: true) }
            let plain = grads { v in relu(batchNorm2d(v[0], gamma: v[1], beta: v[2], state: fresh(), training: training) + v[3]) }
            for (a, e) in zip(fused, plain) { XCTAssertLessThan(closeness(a, e), 1, "training \(training)") }
        }
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
