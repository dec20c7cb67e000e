// Optimizers and schedules against hand-computed PyTorch updates, and state save/restore.

import XCTest
import TensorCore
import Autograd
import NN

final class OptimizerTests: XCTestCase {
    func param(_ v: [Float]) -> Variable { Variable(Tensor(shape: [v.count], values: v), requiresGrad: true) }

    func testSGDMomentumWeightDecayMatchesPyTorch() {
        let p = param([1, -2])
        let opt = SGD(groups: [ParameterGroup([("p", p)], weightDecay: 0.1)], learningRate: 0.5, momentum: 0.9)
        // step 1: d = g + wd·p = [0.3+0.1, 0.1-0.2] = [0.4, -0.1]; buf = d; p -= 0.5·buf
        p.grad = Tensor(shape: [2], values: [0.3, 0.1]); opt.step()
        XCTAssertEqual(p.value.array[0], 0.8, accuracy: 1e-6); XCTAssertEqual(p.value.array[1], -1.95, accuracy: 1e-6)
        // step 2: d = [0.3+0.08, 0.1-0.195] = [0.38, -0.095]; buf = 0.9·buf + d = [0.74, -0.185]
        p.grad = Tensor(shape: [2], values: [0.3, 0.1]); opt.step()
        XCTAssertEqual(p.value.array[0], 0.8 - 0.5 * 0.74, accuracy: 1e-6)
        XCTAssertEqual(p.value.array[1], -1.95 + 0.5 * 0.185, accuracy: 1e-6)
        XCTAssertNil(p.grad, "step clears gradients")
    }

    func testNesterov() {
        let p = param([1])
        let opt = SGD(groups: [ParameterGroup([("p", p)], weightDecay: 0)], learningRate: 0.1, momentum: 0.5, nesterov: true)
        p.grad = Tensor(shape: [1], values: [1]); opt.step()   // buf = 1; update = g + μ·buf = 1.5
        XCTAssertEqual(p.value[0], 1 - 0.15, accuracy: 1e-6)
        p.grad = Tensor(shape: [1], values: [1]); opt.step()   // buf = 1.5; update = 1 + 0.75
        XCTAssertEqual(p.value[0], 0.85 - 0.175, accuracy: 1e-6)
    }

    func testAdamMatchesPyTorch() {
        let p = param([0.5])
        let opt = Adam(groups: [ParameterGroup([("p", p)], weightDecay: 0)], learningRate: 0.01)
        var w = 0.5, m = 0.0, v = 0.0
        for t in 1...3 {
            let g = 0.2 * Double(t)
            p.grad = Tensor(shape: [1], values: [Float(g)]); opt.step()
            m = 0.9 * m + 0.1 * g; v = 0.999 * v + 0.001 * g * g
            let mhat = m / (1 - pow(0.9, Double(t))), denom = v.squareRoot() / (1 - pow(0.999, Double(t))).squareRoot() + 1e-8
            w -= 0.01 * mhat / denom
            XCTAssertEqual(Double(p.value[0]), w, accuracy: 1e-6)
        }
    }

    func testOnlyGroupedParametersMove() {
        let a = param([1]), frozen = param([1])
        let opt = SGD(groups: [ParameterGroup([("a", a)], weightDecay: 0)], learningRate: 0.1)
        a.grad = Tensor(shape: [1], values: [1]); frozen.grad = Tensor(shape: [1], values: [1])
        opt.step()
        XCTAssertEqual(a.value[0], 0.9, accuracy: 1e-7)
        XCTAssertEqual(frozen.value[0], 1)
    }

    func testStateRoundTripContinuesIdentically() throws {
        func run(split: Int?) throws -> [Float] {
            let p = param([1, 2, 3])
            var opt: Optimizer = Adam(groups: [ParameterGroup([("p", p)], weightDecay: 0.01)], learningRate: 0.05)
            for t in 0..<6 {
                if t == split {
                    let state = Dictionary(uniqueKeysWithValues: opt.stateTensors().map { ($0.0, $0.1.copy()) })
                    let n = opt.stepCount
                    opt = Adam(groups: [ParameterGroup([("p", p)], weightDecay: 0.01)], learningRate: 0.05)
                    try opt.loadState(state, stepCount: n)
                }
                p.grad = Tensor(shape: [3], values: [Float(t), -1, 0.5]); opt.step()
            }
            return p.value.array
        }
        XCTAssertEqual(try run(split: nil), try run(split: 3))
    }

    func testSchedules() {
        let cos = LearningRateSchedule.cosine(totalSteps: 100, minimum: 0)
        XCTAssertEqual(cos.learningRate(base: 0.1, step: 0), 0.1, accuracy: 1e-7)
        XCTAssertEqual(cos.learningRate(base: 0.1, step: 50), 0.05, accuracy: 1e-6)
        XCTAssertEqual(cos.learningRate(base: 0.1, step: 100), 0, accuracy: 1e-7)
        let st = LearningRateSchedule.step(milestones: [10, 20], gamma: 0.1)
        XCTAssertEqual(st.learningRate(base: 1, step: 9), 1)
        XCTAssertEqual(st.learningRate(base: 1, step: 10), 0.1, accuracy: 1e-7)
        XCTAssertEqual(st.learningRate(base: 1, step: 25), 0.01, accuracy: 1e-7)
    }
}
