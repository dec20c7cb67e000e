// Batch normalisation over (N, H, W) per channel, NCHW; training mode uses batch statistics and updates the
// running ones (PyTorch semantics: biased variance to normalise, unbiased in the running estimate,
// running = (1 − momentum)·running + momentum·batch); evaluation mode uses the running statistics.
//
// The op optionally fuses what follows it in a ResNet: `relu(bn(x))` and `relu(bn(x) + residual)` run as one
// pass over memory forward and two backward, instead of three to five separate ops each reading and writing
// whole tensors. Batch statistics take one pass (sums of x − K and (x − K)² with K the channel's first
// element, the shifted-data algorithm, so the variance does not cancel when the mean is large), the output a
// second. Backward takes ReLU's mask from the saved output and recomputes x̂ from x and the saved mean / 1/σ
// instead of storing it. Each channel is independent, so channels are split across workers and results do
// not depend on the thread count.

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

/// `bn(x)`, `relu(bn(x))` (`relu`), or `relu(bn(x) + residual)` (`adding` with `relu`), as one op.
public func batchNorm2d(_ x: Variable, gamma: Variable, beta: Variable, state: BatchNormState, training: Bool,
                        adding residual: Variable? = nil, relu: Bool = false) -> Variable {
    let s = NCHW(x.shape)
    let xv = x.value, gv = gamma.value, bv = beta.value
    precondition(gv.count == s.c && bv.count == s.c, "batchNorm2d: \(s.c) channels, parameters \(gv.count)")
    if let residual { precondition(residual.shape == x.shape, "batchNorm2d: residual \(residual.shape) vs \(x.shape)") }
    let hw = s.plane, m = s.n * hw
    let y = Tensor(uninitialized: x.shape)
    let mean = Tensor(uninitialized: [s.c]), invStd = Tensor(uninitialized: [s.c])
    let xp = xv.data, yp = y.data, rp = residual?.value.data
    // Images outermost and channels inside, so each worker streams through its contiguous run of channels of
    // every image (late-stage planes are a few cache lines: visiting them channel by channel defeats the
    // prefetcher). Each channel still sums its planes in image order, so the bits do not depend on the loop.
    Parallel.forChunks(s.c) { _, channels in
        let cc = channels.count, c0 = channels.lowerBound
        let sa = UnsafeMutablePointer<Float>.allocate(capacity: 2 * cc)
        defer { sa.deallocate() }
        let scale = sa, shift = sa + cc
        if training {
            let acc = UnsafeMutablePointer<Double>.allocate(capacity: 2 * cc)
            defer { acc.deallocate() }
            acc.initialize(repeating: 0, count: 2 * cc)
            for n in 0..<s.n {
                for j in 0..<cc {
                    let c = c0 + j
                    // Σ (x − K) and Σ (x − K)², per plane in SIMD lanes, across planes in Double.
                    let k = xp[c * hw]
                    let kv = SIMD16<Float>(repeating: k)
                    let p = xp + (n * s.c + c) * hw
                    var v1 = SIMD16<Float>(), v2 = SIMD16<Float>(), i = 0
                    while i + 16 <= hw {
                        let d = vload(p + i) - kv
                        v1 += d
                        v2 += d * d
                        i += 16
                    }
                    var t1 = Double(v1.sum()), t2 = Double(v2.sum())
                    while i < hw { let d = Double(p[i] - k); t1 += d; t2 += d * d; i += 1 }
                    acc[j] += t1; acc[cc + j] += t2
                }
            }
            for j in 0..<cc {
                let c = c0 + j
                let shiftMean = acc[j] / Double(m)
                let variance = Float(max(0, acc[cc + j] / Double(m) - shiftMean * shiftMean))
                let mu = Float(Double(xp[c * hw]) + shiftMean)
                let istd = 1 / (variance + state.eps).squareRoot()
                let mom = state.momentum
                state.runningMean.data[c] = (1 - mom) * state.runningMean.data[c] + mom * mu
                let unbiased = m > 1 ? variance * Float(m) / Float(m - 1) : variance
                state.runningVar.data[c] = (1 - mom) * state.runningVar.data[c] + mom * unbiased
                mean.data[c] = mu
                invStd.data[c] = istd
            }
        } else {
            for c in channels {
                mean.data[c] = state.runningMean.data[c]
                invStd.data[c] = 1 / (state.runningVar.data[c] + state.eps).squareRoot()
            }
        }
        for j in 0..<cc {
            let c = c0 + j
            scale[j] = gv.data[c] * invStd.data[c]
            shift[j] = bv.data[c] - mean.data[c] * scale[j]
        }
        for n in 0..<s.n {
            for j in 0..<cc {
                let off = (n * s.c + c0 + j) * hw
                let a = scale[j], b = shift[j]
                let p = xp + off, q = yp + off
                switch (rp, relu) {
                case (nil, false): simdMap(p, q, 0..<hw) { $0 * a + b }
                case (nil, true): simdMap(p, q, 0..<hw) { v in let t = v * a + b; return t.replacing(with: 0, where: t .< 0) }
                case (let r?, false): simdMap(p, r + off, q, 0..<hw) { v, rv in v * a + b + rv }
                case (let r?, true): simdMap(p, r + off, q, 0..<hw) { v, rv in let t = v * a + b + rv; return t.replacing(with: 0, where: t .< 0) }
                }
            }
        }
    }
    var parents = [x, gamma, beta]
    if let residual { parents.append(residual) }
    return Variable(op: y, parents: parents) { gy in
        let gx: Tensor? = x.requiresGrad ? Tensor(uninitialized: xv.shape) : nil
        // With ReLU, the gradient that reaches the sum: gy where y > 0. It is materialised when the residual
        // needs it anyway; otherwise it is recomputed from gy and y in the second pass.
        let gSum: Tensor? = (relu && residual != nil) ? Tensor(uninitialized: xv.shape) : nil
        let gGamma = Tensor(uninitialized: [s.c]), gBeta = Tensor(uninitialized: [s.c])
        let gyp = gy.data, gxp = gx?.data, gsp = gSum?.data
        Parallel.forChunks(s.c) { _, channels in
            let cc = channels.count, c0 = channels.lowerBound
            let sums = UnsafeMutablePointer<Double>.allocate(capacity: 2 * cc)
            let coef = UnsafeMutablePointer<Float>.allocate(capacity: 3 * cc)
            defer { sums.deallocate(); coef.deallocate() }
            sums.initialize(repeating: 0, count: 2 * cc)
            // Σ g and Σ g·x per channel (g = gy, masked by ReLU), images outermost as in the forward pass.
            for n in 0..<s.n {
                for j in 0..<cc {
                    let off = (n * s.c + c0 + j) * hw
                    if !relu {
                        sums[j] += Kernels.sum(gyp + off, hw)
                        sums[cc + j] += Kernels.dot(gyp + off, xp + off, hw)
                    } else {
                        let t = Kernels.maskedSums(gyp + off, yp + off, xp + off, hw, store: gsp.map { $0 + off })
                        sums[j] += t.0; sums[cc + j] += t.1
                    }
                }
            }
            for j in 0..<cc {
                let c = c0 + j
                let mu = mean.data[c], istd = invStd.data[c]
                let sumDy = sums[j]
                // betaGrad = Σ g;  gammaGrad = Σ g·x̂  with x̂ = (x − μ)/σ
                let sumDyXhat = (sums[cc + j] - Double(mu) * sumDy) * Double(istd)
                gBeta.data[c] = Float(sumDy)
                gGamma.data[c] = Float(sumDyXhat)
                // training: inputGrad = γ/σ · (g − mean(g) − x̂·mean(g·x̂)) = k·g − kx·x + k0;
                // evaluation (running statistics are constants): inputGrad = γ/σ · g.
                let k = gv.data[c] * istd
                let mdy = training ? Float(sumDy / Double(m)) : 0, mdyx = training ? Float(sumDyXhat / Double(m)) : 0
                coef[j] = k; coef[cc + j] = k * istd * mdyx; coef[2 * cc + j] = -k * mdy + k * mu * istd * mdyx
            }
            guard let gxp else { return }
            for n in 0..<s.n {
                for j in 0..<cc {
                    let off = (n * s.c + c0 + j) * hw
                    let k = coef[j], kx = coef[cc + j], k0 = coef[2 * cc + j]
                    let p = xp + off, q = gxp + off
                    if let gsp {
                        simdMap(gsp + off, p, q, 0..<hw) { dv, xv in k * dv - kx * xv + k0 }
                    } else if relu {
                        simdMap3(gyp + off, yp + off, p, q, 0..<hw) { dv, yv, xv in
                            k * dv.replacing(with: 0, where: yv .<= 0) - kx * xv + k0
                        }
                    } else {
                        simdMap(gyp + off, p, q, 0..<hw) { dv, xv in k * dv - kx * xv + k0 }
                    }
                }
            }
        }
        if let gx { x.accumulate(gx) }
        gamma.accumulate(gGamma)
        beta.accumulate(gBeta)
        if let residual { residual.accumulate(gSum ?? gy) }
    }
}

extension Kernels {
    /// Σ g and Σ g·x with g = gy where y > 0, else 0; g written to `store` when given. Lanes in Float,
    /// the two totals in Double.
    @inline(__always)
    static func maskedSums(_ gy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                           store: UnsafeMutablePointer<Float>?) -> (Double, Double) {
        var a = SIMD16<Float>(), b = SIMD16<Float>(), i = 0
        while i + 16 <= n {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self)
            let g = UnsafeRawPointer(gy + i).loadUnaligned(as: SIMD16<Float>.self).replacing(with: 0, where: yv .<= 0)
            if let store { UnsafeMutableRawPointer(store + i).storeBytes(of: g, as: SIMD16<Float>.self) }
            a += g
            b += g * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var s1 = Double(a.sum()), s2 = Double(b.sum())
        while i < n {
            let g: Float = y[i] > 0 ? gy[i] : 0
            store?[i] = g
            s1 += Double(g); s2 += Double(g * x[i])
            i += 1
        }
        return (s1, s2)
    }
}
