// The factorized density of Ballé et al. 2018 ("Variational image compression with a scale hyperprior",
// appendix 6.1), as CompressAI's `EntropyBottleneck` writes it: per channel c, a monotone scalar network
//
//     h₀ = x;   zᵢ = softplus(Wᵢ) hᵢ + bᵢ;   hᵢ₊₁ = zᵢ + tanh(fᵢ) ⊙ tanh(zᵢ)  (i < L−1);   logit = z_{L−1}
//
// with layer widths 1 → filters… → 1, gives the logit of the channel's cumulative distribution ("logits
// cumulative"). softplus(W) ≥ 0 and tanh(f) ∈ (−1, 1) make every layer non-decreasing in its input, so the
// CDF σ(logit(x)) is monotone for every parameter value.
//
// The likelihood of a value y under the density convolved with U(−½, ½) is σ(u) − σ(l) with
// l = logit(y − ½), u = logit(y + ½), computed as |σ(s·u) − σ(s·l)| with s = −sign(l + u) so that the two
// terms are small (no cancellation in the upper tail), and bounded below (`likelihoodBound`): the bound's
// gradient passes where the likelihood is at or above the bound, or where the gradient would raise it
// (CompressAI's LowerBound).
//
// Parameters, for K channels and layer i with widths dᵢ → dᵢ₊₁ (d = [1] + filters + [1]):
//   matrix i [K, dᵢ₊₁, dᵢ] (before softplus), bias i [K, dᵢ₊₁], factor i [K, dᵢ₊₁] (before tanh; i < L−1).
// The ops take them in the order matrices, biases, factors. Values are [N, K, …] (channel axis 1).
//
// Each element is evaluated on its own (a plain loop: this is both the kernel and its naive form; the
// Double reference `FactorizedNetwork.logit` in Methods is what the coding tables come from). Channels are
// split across threads and each channel's parameter gradients are summed in Double in a fixed order, so
// results do not depend on the thread count.

import TensorCore
import Foundation

/// Layer widths and the parameters' values for the factorized density's kernels.
struct FactorizedNet {
    let dims: [Int]
    var layers: Int { dims.count - 1 }
    /// softplus(matrix i), σ(matrix i) (softplus'), bias i, tanh(factor i), per layer, all channels.
    let a: [[Float]], sigmaW: [[Float]], b: [[Float]], t: [[Float]]
    /// Offsets of layer i's values inside one element's scratch (h: inputs of each layer, z: pre-activations).
    let hOff: [Int], zOff: [Int]
    let scratch: Int

    init(_ params: [Variable]) {
        let l = (params.count + 1) / 3
        precondition(params.count == 3 * l - 1 && l >= 1, "factorized density: \(params.count) parameter tensors")
        var dims = [1]
        for i in 0..<l { dims.append(params[i].shape[1]) }
        precondition(dims.last == 1, "factorized density: the last matrix must have one output")
        self.dims = dims
        let k = params[0].shape[0]
        for i in 0..<l {
            precondition(params[i].shape == [k, dims[i + 1], dims[i]], "matrix \(i): \(params[i].shape)")
            precondition(params[l + i].shape == [k, dims[i + 1]], "bias \(i): \(params[l + i].shape)")
            if i < l - 1 { precondition(params[2 * l + i].shape == [k, dims[i + 1]], "factor \(i): \(params[2 * l + i].shape)") }
        }
        a = (0..<l).map { params[$0].value.array.map(FactorizedNet.softplus) }
        sigmaW = (0..<l).map { params[$0].value.array.map { 1 / (1 + expf(-$0)) } }
        b = (0..<l).map { params[l + $0].value.array }
        t = (0..<(l - 1)).map { params[2 * l + $0].value.array.map { tanhf($0) } }
        var h: [Int] = [], z: [Int] = [], o = 0
        for i in 0..<l { h.append(o); o += dims[i] }
        for i in 0..<l { z.append(o); o += dims[i + 1] }
        hOff = h; zOff = z; scratch = o
    }

    static func softplus(_ w: Float) -> Float { w > 15 ? w : log1pf(expf(w)) }

    /// logit(x) for channel c; leaves the layer inputs and pre-activations in `s`.
    @inline(__always)
    func forward(_ c: Int, _ x: Float, _ s: UnsafeMutablePointer<Float>) -> Float {
        s[hOff[0]] = x
        for i in 0..<layers {
            let din = dims[i], dout = dims[i + 1]
            let ai = a[i], bi = b[i]
            let h = s + hOff[i], z = s + zOff[i]
            for o in 0..<dout {
                var acc = bi[c * dout + o]
                for j in 0..<din { acc += ai[(c * dout + o) * din + j] * h[j] }
                z[o] = acc
            }
            if i < layers - 1 {
                let ti = t[i], hn = s + hOff[i + 1]
                for o in 0..<dout { hn[o] = z[o] + ti[c * dout + o] * tanhf(z[o]) }
            }
        }
        return s[zOff[layers - 1]]
    }

    /// Back-propagates `g` = ∂loss/∂logit through the values `forward` left in `s`; adds ∂loss/∂softplus(W),
    /// ∂loss/∂b, ∂loss/∂tanh(f) of channel c into `ga`, `gb`, `gt` (whole-tensor layouts) and returns ∂loss/∂x.
    @inline(__always)
    func backward(_ c: Int, _ g: Float, _ s: UnsafeMutablePointer<Float>, _ gs: UnsafeMutablePointer<Float>, _ acc: Accumulators) -> Float {
        let (ga, gb, gt) = (acc.a, acc.b, acc.t)
        // gs holds ∂loss/∂z of the current layer, then ∂loss/∂h of its input.
        var gz = gs, gh = gs + scratch
        gz[0] = g
        for i in stride(from: layers - 1, through: 0, by: -1) {
            let din = dims[i], dout = dims[i + 1]
            let ai = a[i], h = s + hOff[i]
            for j in 0..<din { gh[j] = 0 }
            for o in 0..<dout {
                let go = gz[o]
                gb[i][c * dout + o] += Double(go)
                for j in 0..<din {
                    ga[i][(c * dout + o) * din + j] += Double(go * h[j])
                    gh[j] += ai[(c * dout + o) * din + j] * go
                }
            }
            if i > 0 {
                // h_i = z_{i−1} + t ⊙ tanh(z_{i−1})
                let tp = t[i - 1], zp = s + zOff[i - 1]
                for o in 0..<din {
                    let th = tanhf(zp[o]), tt = tp[c * din + o]
                    gt[i - 1][c * din + o] += Double(gh[o] * th)
                    gh[o] *= 1 + tt * (1 - th * th)
                }
            }
            swap(&gz, &gh)
        }
        return gz[0]
    }

    /// Runs `body(c, range of elements of channel c in sample n)` for every (n, c), channels split across
    /// threads, with per-thread scratch; each channel is handled by one thread in a fixed order.
    func perChannel(_ shape: [Int], _ body: (Int, [Range<Int>], UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let n = shape[0], k = shape[1], plane = shape.dropFirst(2).reduce(1, *)
        Parallel.forChunks(k) { _, channels in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
            let gs = UnsafeMutablePointer<Float>.allocate(capacity: 2 * scratch + 2)
            defer { s.deallocate(); gs.deallocate() }
            for c in channels {
                body(c, (0..<n).map { (($0 * k + c) * plane)..<(($0 * k + c + 1) * plane) }, s, gs)
            }
        }
    }

    /// Gradient accumulators shaped like the parameters (Double), and the conversion of what they hold —
    /// gradients with respect to softplus(W), b and tanh(f) — into the parameters' gradients.
    struct Accumulators { let a: [UnsafeMutablePointer<Double>], b: [UnsafeMutablePointer<Double>], t: [UnsafeMutablePointer<Double>] }

    func accumulators() -> Accumulators {
        func zeros(_ n: Int) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1)); p.initialize(repeating: 0, count: max(n, 1)); return p
        }
        return Accumulators(a: a.map { zeros($0.count) }, b: b.map { zeros($0.count) }, t: t.map { zeros($0.count) })
    }

    func deliver(_ params: [Variable], _ acc: Accumulators) {
        let (ga, gb, gt) = (acc.a, acc.b, acc.t)
        let l = layers
        for i in 0..<l {
            let w = params[i]
            if w.requiresGrad {
                let g = Tensor(uninitialized: w.shape)
                for e in 0..<g.count { g[e] = Float(ga[i][e]) * sigmaW[i][e] }
                w.accumulate(g)
            }
            let bv = params[l + i]
            if bv.requiresGrad {
                let g = Tensor(uninitialized: bv.shape)
                for e in 0..<g.count { g[e] = Float(gb[i][e]) }
                bv.accumulate(g)
            }
        }
        for i in 0..<(l - 1) {
            let f = params[2 * l + i]
            if f.requiresGrad {
                let g = Tensor(uninitialized: f.shape)
                for e in 0..<g.count { let tt = t[i][e]; g[e] = Float(gt[i][e]) * (1 - tt * tt) }
                f.accumulate(g)
            }
        }
        for p in ga + gb + gt { p.deallocate() }
    }
}

/// Smallest likelihood `factorizedLikelihood` returns (CompressAI's `likelihood_bound`).
public let likelihoodBound: Float = 1e-9

/// An element-wise op of the factorized density over `x` ([N, K, …]): `value(net, c, x, scratch)` gives each
/// output element; `gradient(net, c, x, y, ∂loss/∂y, scratch, gradient scratch, accumulators)` back-propagates
/// one element (adding into the parameter accumulators) and returns ∂loss/∂x.
func factorizedOp(_ x: Variable, _ params: [Variable],
                  value: @escaping (FactorizedNet, Int, Float, UnsafeMutablePointer<Float>) -> Float,
                  gradient: @escaping (FactorizedNet, Int, Float, Float, Float, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                       FactorizedNet.Accumulators) -> Float) -> Variable {
    let net = FactorizedNet(params)
    precondition(x.shape.count >= 2 && x.shape[1] == params[0].shape[0], "factorized density: input \(x.shape), \(params[0].shape[0]) channels")
    let y = Tensor(uninitialized: x.shape)
    let xv = x.value
    net.perChannel(x.shape) { c, ranges, s, _ in
        for r in ranges { for e in r { y[e] = value(net, c, xv[e], s) } }
    }
    return Variable(op: y, parents: [x] + params) { gy in
        let acc = net.accumulators()
        let gx = Tensor(zeros: x.shape)
        net.perChannel(x.shape) { c, ranges, s, gs in
            for r in ranges { for e in r { gx[e] = gradient(net, c, xv[e], y[e], gy[e], s, gs, acc) } }
        }
        net.deliver(params, acc)
        x.accumulate(gx)
    }
}

/// The cumulative logits logit_c(x) of the factorized density for every element of `x` ([N, K, …]);
/// `params`: matrices, biases, factors (file comment).
public func factorizedLogitsCumulative(_ x: Variable, _ params: [Variable]) -> Variable {
    factorizedOp(x, params, value: { net, c, v, s in net.forward(c, v, s) }) { net, c, v, _, g, s, gs, acc in
        _ = net.forward(c, v, s)
        return net.backward(c, g, s, gs, acc)
    }
}

/// The likelihood of every element of `y` ([N, K, …]) under channel k's density convolved with U(−½, ½),
/// bounded below by `likelihoodBound` (file comment); `params`: matrices, biases, factors.
public func factorizedLikelihood(_ y: Variable, _ params: [Variable]) -> Variable {
    func sigmoid(_ v: Float) -> Float { 1 / (1 + expf(-v)) }
    return factorizedOp(y, params, value: { net, c, v, s in
        let l = net.forward(c, v - 0.5, s), u = net.forward(c, v + 0.5, s)
        let sign: Float = l + u > 0 ? -1 : 1
        return max(abs(sigmoid(sign * u) - sigmoid(sign * l)), likelihoodBound)
    }) { net, c, v, p, g, s, gs, acc in
        // The bound stops the gradient where it holds the value up and the gradient would lower it.
        if p <= likelihoodBound && g > 0 { return 0 }
        // p = σ(u) − σ(l) (whatever s is): ∂p/∂u = σ'(u), ∂p/∂l = −σ'(l).
        let su = sigmoid(net.forward(c, v + 0.5, s))
        let gu = net.backward(c, g * su * (1 - su), s, gs, acc)
        let sl = sigmoid(net.forward(c, v - 0.5, s))
        return gu + net.backward(c, -g * sl * (1 - sl), s, gs, acc)
    }
}

/// −log₂ of every element (bits of a likelihood), gradient −1/(p ln 2).
public func negativeLog2(_ p: Variable) -> Variable {
    let pv = p.value
    let y = Tensor(uninitialized: pv.shape)
    for i in 0..<pv.count { y[i] = -log2f(pv[i]) }
    return Variable(op: y, parents: [p]) { gy in
        let g = Tensor(uninitialized: pv.shape)
        let inv = -1 / Float(M_LN2)
        for i in 0..<pv.count { g[i] = gy[i] * inv / pv[i] }
        p.accumulate(g)
    }
}

/// `x` plus U(−½, ½) noise drawn from `rng` in element order (the training-time stand-in for rounding);
/// the gradient passes unchanged.
public func addUniformNoise(_ x: Variable, rng: inout RNG) -> Variable {
    let noise = Tensor(uninitialized: x.shape)
    for i in 0..<noise.count { noise[i] = rng.uniform() - 0.5 }
    return x + Variable(noise)
}
