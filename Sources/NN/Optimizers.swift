// Optimizers: SGD (momentum, weight decay, Nesterov) and Adam, over parameter groups, with PyTorch's update
// rules so that recipes carry over. An optimizer is per-parameter state plus one update function; its state
// is exposed as named tensors for checkpoints so a resumed run continues bit-identically.

import TensorCore
import Autograd
import Foundation

/// Parameters that share hyper-parameters. A stage that trains only some parameters passes only those.
public struct ParameterGroup {
    public var parameters: [(String, Variable)]
    /// Multiplies the optimizer's learning rate for this group.
    public var learningRateScale: Float
    public var weightDecay: Float
    public init(_ parameters: [(String, Variable)], learningRateScale: Float = 1, weightDecay: Float) {
        self.parameters = parameters
        self.learningRateScale = learningRateScale
        self.weightDecay = weightDecay
    }
}

public protocol Optimizer: AnyObject {
    /// Base learning rate for the next step (schedules set it).
    var learningRate: Float { get set }
    var groups: [ParameterGroup] { get }
    /// Updates taken so far.
    var stepCount: Int { get }
    /// Apply one update from the parameters' current gradients, then clear them.
    func step()
    /// Optimizer state as named tensors, and restoring it.
    func stateTensors() -> [(String, Tensor)]
    func loadState(_ tensors: [String: Tensor], stepCount: Int) throws
}

extension Optimizer {
    public func zeroGrad() { for g in groups { for (_, p) in g.parameters { p.grad = nil } } }
}

public enum OptimizerStateError: Error, CustomStringConvertible {
    case shape(String)
    public var description: String {
        switch self { case .shape(let s): return "optimizer state does not fit the model: \(s)" }
    }
}

public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float, nesterov: Bool
    public let groups: [ParameterGroup]
    public private(set) var stepCount = 0
    /// Momentum buffers by parameter name; absent until the parameter's first update (PyTorch semantics).
    private var buffers: [String: Tensor] = [:]

    public init(groups: [ParameterGroup], learningRate: Float, momentum: Float = 0, nesterov: Bool = false) {
        self.groups = groups
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
    }

    public func step() {
        for group in groups {
            let lr = learningRate * group.learningRateScale, wd = group.weightDecay
            for (name, p) in group.parameters {
                guard let g = p.grad else { continue }
                let w = p.value.data, gp = g.data, n = p.value.count
                if momentum == 0 {
                    for i in 0..<n { w[i] -= lr * (gp[i] + wd * w[i]) }
                } else if let buf = buffers[name] {
                    let b = buf.data, m = momentum
                    for i in 0..<n {
                        let d = gp[i] + wd * w[i]
                        b[i] = m * b[i] + d                      // buf = μ·buf + g
                        w[i] -= lr * (nesterov ? d + m * b[i] : b[i])
                    }
                } else {
                    let buf = Tensor(uninitialized: p.value.shape), b = buf.data, m = momentum
                    for i in 0..<n {
                        let d = gp[i] + wd * w[i]
                        b[i] = d                                  // first step: buf = g
                        w[i] -= lr * (nesterov ? d + m * b[i] : b[i])
                    }
                    buffers[name] = buf
                }
                p.grad = nil
            }
        }
        stepCount += 1
    }

    public func stateTensors() -> [(String, Tensor)] {
        groups.flatMap { $0.parameters }.compactMap { name, _ in buffers[name].map { ("momentum." + name, $0) } }
    }

    public func loadState(_ tensors: [String: Tensor], stepCount: Int) throws {
        buffers = [:]
        for (name, p) in groups.flatMap({ $0.parameters }) {
            guard let t = tensors["momentum." + name] else { continue }
            guard t.shape == p.value.shape else { throw OptimizerStateError.shape("momentum.\(name) \(t.shape) vs \(p.value.shape)") }
            buffers[name] = t.copy()
        }
        self.stepCount = stepCount
    }
}

public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float
    public let groups: [ParameterGroup]
    public private(set) var stepCount = 0
    private var m: [String: Tensor] = [:], v: [String: Tensor] = [:]

    public init(groups: [ParameterGroup], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.groups = groups
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let bc1 = 1 - powf(beta1, t), bc2Sqrt = (1 - powf(beta2, t)).squareRoot()
        for group in groups {
            let stepSize = learningRate * group.learningRateScale / bc1, wd = group.weightDecay
            for (name, p) in group.parameters {
                guard let g = p.grad else { continue }
                let n = p.value.count
                let mt = m[name] ?? Tensor(zeros: p.value.shape), vt = v[name] ?? Tensor(zeros: p.value.shape)
                m[name] = mt; v[name] = vt
                let w = p.value.data, gp = g.data, mp = mt.data, vp = vt.data
                for i in 0..<n {
                    let d = gp[i] + wd * w[i]
                    mp[i] = beta1 * mp[i] + (1 - beta1) * d
                    vp[i] = beta2 * vp[i] + (1 - beta2) * d * d
                    // PyTorch: p −= (lr/bc1) · m / (√v/√bc2 + ε)
                    w[i] -= stepSize * mp[i] / (vp[i].squareRoot() / bc2Sqrt + eps)
                }
                p.grad = nil
            }
        }
    }

    public func stateTensors() -> [(String, Tensor)] {
        groups.flatMap { $0.parameters }.flatMap { name, _ -> [(String, Tensor)] in
            guard let a = m[name], let b = v[name] else { return [] }
            return [("adam_m." + name, a), ("adam_v." + name, b)]
        }
    }

    public func loadState(_ tensors: [String: Tensor], stepCount: Int) throws {
        m = [:]; v = [:]
        for (name, p) in groups.flatMap({ $0.parameters }) {
            guard let a = tensors["adam_m." + name], let b = tensors["adam_v." + name] else { continue }
            guard a.shape == p.value.shape, b.shape == p.value.shape else { throw OptimizerStateError.shape("adam state for \(name)") }
            m[name] = a.copy(); v[name] = b.copy()
        }
        self.stepCount = stepCount
    }
}

/// Learning rate as a function of the step index.
public enum LearningRateSchedule: Equatable, Sendable {
    case constant
    /// Cosine from the base rate at step 0 to `minimum` at `totalSteps`, per step (no warm-up).
    case cosine(totalSteps: Int, minimum: Float)
    /// Multiply by `gamma` at each milestone step.
    case step(milestones: [Int], gamma: Float)

    public func learningRate(base: Float, step: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .cosine(let total, let minimum):
            let t = Double(min(step, total)) / Double(max(1, total))
            return minimum + (base - minimum) * Float((1 + cos(Double.pi * t)) / 2)
        case .step(let milestones, let gamma):
            return base * powf(gamma, Float(milestones.filter { step >= $0 }.count))
        }
    }
}
