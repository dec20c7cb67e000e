// Batch normalisation over (N, H, W) per channel, NCHW; training mode uses batch statistics and updates the
// running ones (PyTorch semantics: biased variance to normalise, unbiased in the running estimate,
// running = (1 − momentum)·running + momentum·batch); evaluation mode uses the running statistics.
// Each channel is independent, so channels are split across workers and results do not depend on the
// thread count. Backward recomputes x̂ from x and the saved mean / 1/σ instead of storing it.

import TensorCore
import Foundation

/// Running statistics of a batch-norm layer (buffers, saved in checkpoints, not trained).
public final class BatchNormState {
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var momentum: Float
    public var eps: Float
    public init(channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        self.momentum = momentum
        self.eps = eps
    }
}

public func batchNorm2d(_ x: Variable, gamma: Variable, beta: Variable, state: BatchNormState, training: Bool) -> Variable {
    let s = NCHW(x.shape)
    let xv = x.value, gv = gamma.value, bv = beta.value
    precondition(gv.count == s.c && bv.count == s.c, "batchNorm2d: \(s.c) channels, parameters \(gv.count)")
    let hw = s.plane, m = s.n * hw
    let y = Tensor(uninitialized: x.shape)
    let mean = Tensor(uninitialized: [s.c]), invStd = Tensor(uninitialized: [s.c])
    let xp = xv.data, yp = y.data
    Parallel.forChunks(s.c) { _, channels in
        for c in channels {
            var mu: Float, istd: Float
            if training {
                var acc = 0.0
                for n in 0..<s.n { acc += Kernels.sum(xp + (n * s.c + c) * hw, hw) }
                mu = Float(acc / Double(m))
                var acc2 = 0.0
                for n in 0..<s.n {
                    let p = xp + (n * s.c + c) * hw
                    var v = SIMD16<Float>(), i = 0
                    let mv = SIMD16<Float>(repeating: mu)
                    while i + 16 <= hw {
                        let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - mv
                        v += d * d
                        i += 16
                    }
                    var tail = Double(v.sum())
                    while i < hw { let d = p[i] - mu; tail += Double(d * d); i += 1 }
                    acc2 += tail
                }
                let variance = Float(acc2 / Double(m))
                istd = 1 / (variance + state.eps).squareRoot()
                let mom = state.momentum
                state.runningMean.data[c] = (1 - mom) * state.runningMean.data[c] + mom * mu
                let unbiased = m > 1 ? variance * Float(m) / Float(m - 1) : variance
                state.runningVar.data[c] = (1 - mom) * state.runningVar.data[c] + mom * unbiased
            } else {
                mu = state.runningMean.data[c]
                istd = 1 / (state.runningVar.data[c] + state.eps).squareRoot()
            }
            mean.data[c] = mu
            invStd.data[c] = istd
            let a = gv.data[c] * istd, b = bv.data[c] - mu * a
            for n in 0..<s.n {
                let p = xp + (n * s.c + c) * hw, q = yp + (n * s.c + c) * hw
                simdMap(p, q, 0..<hw) { $0 * a + b }
            }
        }
    }
    return Variable(op: y, parents: [x, gamma, beta]) { gy in
        let gx: Tensor? = x.requiresGrad ? Tensor(uninitialized: xv.shape) : nil
        let gGamma = Tensor(uninitialized: [s.c]), gBeta = Tensor(uninitialized: [s.c])
        let gyp = gy.data, gxp = gx?.data
        Parallel.forChunks(s.c) { _, channels in
            for c in channels {
                let mu = mean.data[c], istd = invStd.data[c]
                // betaGrad = Σ dy;  gammaGrad = Σ dy·x̂  with x̂ = (x − μ)/σ
                var sumDy = 0.0, sumDyX = 0.0
                for n in 0..<s.n {
                    let off = (n * s.c + c) * hw
                    sumDy += Kernels.sum(gyp + off, hw)
                    sumDyX += Kernels.dot(gyp + off, xp + off, hw)
                }
                let sumDyXhat = (sumDyX - Double(mu) * sumDy) * Double(istd)
                gBeta.data[c] = Float(sumDy)
                gGamma.data[c] = Float(sumDyXhat)
                guard let gxp else { continue }
                let g = gv.data[c]
                if training {
                    // inputGrad = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))
                    let k = g * istd, mdy = Float(sumDy / Double(m)), mdyx = Float(sumDyXhat / Double(m))
                    for n in 0..<s.n {
                        let off = (n * s.c + c) * hw
                        let p = xp + off, d = gyp + off, q = gxp + off
                        let kx = k * istd * mdyx, k0 = -k * mdy + k * mu * istd * mdyx
                        // k·(dy − mdy − (x − μ)·σ⁻¹·mdyx) = k·dy − kx·x + k0
                        simdMap(d, p, q, 0..<hw) { dv, xv in k * dv - kx * xv + k0 }
                    }
                } else {
                    // Running statistics are constants: inputGrad = γ/σ · dy
                    let k = g * istd
                    for n in 0..<s.n {
                        let off = (n * s.c + c) * hw
                        simdMap(gyp + off, gxp + off, 0..<hw) { k * $0 }
                    }
                }
            }
        }
        if let gx { x.accumulate(gx) }
        gamma.accumulate(gGamma)
        beta.accumulate(gBeta)
    }
}
