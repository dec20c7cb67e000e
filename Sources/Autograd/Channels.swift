// Channel-wise ops on NCHW tensors: concatenation, gather and scatter by channel index, per-channel scaling
// by a computed [N, C] tensor, and statistics across the channel dimension of [N, C] tensors (the
// channel-attention normalisation of the AECNN paper, eq. 6).

import TensorCore

/// Concatenate along channels: [N, C_i, H, W] → [N, ΣC_i, H, W].
public func concatChannels(_ xs: [Variable]) -> Variable {
    precondition(!xs.isEmpty, "concatChannels: no inputs")
    let s0 = NCHW(xs[0].shape)
    let cs = xs.map { NCHW($0.shape).c }
    for x in xs { let s = NCHW(x.shape); precondition(s.n == s0.n && s.h == s0.h && s.w == s0.w, "concatChannels: \(x.shape) vs \(xs[0].shape)") }
    let total = cs.reduce(0, +), plane = s0.plane
    let y = Tensor(uninitialized: [s0.n, total, s0.h, s0.w])
    for n in 0..<s0.n {
        var c0 = 0
        for (i, x) in xs.enumerated() {
            (y.data + (n * total + c0) * plane).update(from: x.value.data + n * cs[i] * plane, count: cs[i] * plane)
            c0 += cs[i]
        }
    }
    return Variable(op: y, parents: xs) { gy in
        var c0 = 0
        for (i, x) in xs.enumerated() {
            if x.requiresGrad {
                let gx = Tensor(uninitialized: x.shape)
                for n in 0..<s0.n { (gx.data + n * cs[i] * plane).update(from: gy.data + (n * total + c0) * plane, count: cs[i] * plane) }
                x.accumulate(gx)
            }
            c0 += cs[i]
        }
    }
}

/// Select channels by index: y[:, j] = x[:, indices[j]]. Repeated indices allowed (gradients add).
public func gatherChannels(_ x: Variable, _ indices: [Int]) -> Variable {
    let s = NCHW(x.shape), plane = s.plane, k = indices.count
    precondition(indices.allSatisfy { $0 >= 0 && $0 < s.c }, "gatherChannels: index out of 0..<\(s.c)")
    let y = Tensor(uninitialized: [s.n, k, s.h, s.w])
    for n in 0..<s.n { for (j, c) in indices.enumerated() {
        (y.data + (n * k + j) * plane).update(from: x.value.data + (n * s.c + c) * plane, count: plane)
    } }
    return Variable(op: y, parents: [x]) { gy in
        let gx = Tensor(zeros: x.shape)
        for n in 0..<s.n { for (j, c) in indices.enumerated() {
            let d = gx.data + (n * s.c + c) * plane, g = gy.data + (n * k + j) * plane
            for i in 0..<plane { d[i] += g[i] }
        } }
        x.accumulate(gx)
    }
}

/// Place channels at positions: y[:, indices[j]] = x[:, j], zeros elsewhere; `channels` is y's C.
/// Indices must be distinct.
public func scatterChannels(_ x: Variable, _ indices: [Int], channels: Int) -> Variable {
    let s = NCHW(x.shape), plane = s.plane
    precondition(indices.count == s.c, "scatterChannels: \(indices.count) indices for \(s.c) channels")
    precondition(Set(indices).count == indices.count && indices.allSatisfy { $0 >= 0 && $0 < channels },
                 "scatterChannels: indices must be distinct and in 0..<\(channels)")
    let y = Tensor(zeros: [s.n, channels, s.h, s.w])
    for n in 0..<s.n { for (j, c) in indices.enumerated() {
        (y.data + (n * channels + c) * plane).update(from: x.value.data + (n * s.c + j) * plane, count: plane)
    } }
    return Variable(op: y, parents: [x]) { gy in
        let gx = Tensor(uninitialized: x.shape)
        for n in 0..<s.n { for (j, c) in indices.enumerated() {
            (gx.data + (n * s.c + j) * plane).update(from: gy.data + (n * channels + c) * plane, count: plane)
        } }
        x.accumulate(gx)
    }
}

/// y[n, c, :, :] = x[n, c, :, :] · scale[n, c]; scale is [N, C].
public func mulChannels(_ x: Variable, _ scale: Variable) -> Variable {
    let s = NCHW(x.shape), plane = s.plane
    precondition(scale.shape == [s.n, s.c], "mulChannels: scale \(scale.shape), expected [\(s.n), \(s.c)]")
    let xv = x.value, sv = scale.value
    let y = Tensor(uninitialized: x.shape)
    for i in 0..<(s.n * s.c) {
        let a = sv.data[i], p = xv.data + i * plane, q = y.data + i * plane
        for j in 0..<plane { q[j] = p[j] * a }
    }
    return Variable(op: y, parents: [x, scale]) { gy in
        if x.requiresGrad {   // inputGrad = dy · scale
            let gx = Tensor(uninitialized: xv.shape)
            for i in 0..<(s.n * s.c) {
                let a = sv.data[i], p = gy.data + i * plane, q = gx.data + i * plane
                for j in 0..<plane { q[j] = p[j] * a }
            }
            x.accumulate(gx)
        }
        if scale.requiresGrad {   // scaleGrad[n, c] = Σ_hw dy · x
            let gs = Tensor(uninitialized: sv.shape)
            for i in 0..<(s.n * s.c) { gs.data[i] = Float(Kernels.dot(gy.data + i * plane, xv.data + i * plane, plane)) }
            scale.accumulate(gs)
        }
    }
}

/// Mean across channels of [N, C] → [N, 1].
public func meanAcrossChannels(_ a: Variable) -> Variable {
    let n = a.shape[0], c = a.shape[1]
    let y = Tensor(uninitialized: [n, 1])
    for i in 0..<n { y.data[i] = Float(Kernels.sum(a.value.data + i * c, c) / Double(c)) }
    return Variable(op: y, parents: [a]) { gy in
        let g = Tensor(uninitialized: a.shape)
        for i in 0..<n { (g.data + i * c).update(repeating: gy.data[i] / Float(c), count: c) }
        a.accumulate(g)
    }
}

/// Biased variance across channels of [N, C] → [N, 1].
public func varianceAcrossChannels(_ a: Variable) -> Variable {
    let n = a.shape[0], c = a.shape[1], av = a.value
    let y = Tensor(uninitialized: [n, 1])
    var means = [Float](repeating: 0, count: n)
    for i in 0..<n {
        let p = av.data + i * c
        let mu = Float(Kernels.sum(p, c) / Double(c))
        means[i] = mu
        var acc = 0.0
        for j in 0..<c { let d = Double(p[j] - mu); acc += d * d }
        y.data[i] = Float(acc / Double(c))
    }
    return Variable(op: y, parents: [a]) { gy in
        // ∂var/∂a_j = 2(a_j − μ)/C
        let g = Tensor(uninitialized: av.shape)
        for i in 0..<n { for j in 0..<c { g.data[i * c + j] = gy.data[i] * 2 * (av.data[i * c + j] - means[i]) / Float(c) } }
        a.accumulate(g)
    }
}

/// (a − mean) / sqrt(var + ε) across channels of each row of [N, C] (AECNN eq. 6).
public func normalizeAcrossChannels(_ a: Variable, eps: Float = 1e-5) -> Variable {
    let n = a.shape[0], c = a.shape[1], av = a.value
    let y = Tensor(uninitialized: av.shape)
    var invStd = [Float](repeating: 0, count: n)
    for i in 0..<n {
        let p = av.data + i * c
        let mu = Kernels.sum(p, c) / Double(c)
        var acc = 0.0
        for j in 0..<c { let d = Double(p[j]) - mu; acc += d * d }
        let istd = 1 / (acc / Double(c) + Double(eps)).squareRoot()
        invStd[i] = Float(istd)
        for j in 0..<c { y.data[i * c + j] = Float((Double(p[j]) - mu) * istd) }
    }
    return Variable(op: y, parents: [a]) { gy in
        // inputGrad = (1/σ)·(dy − mean(dy) − ŷ·mean(dy·ŷ))
        let g = Tensor(uninitialized: av.shape)
        for i in 0..<n {
            let d = gy.data + i * c, yy = y.data + i * c
            let md = Kernels.sum(d, c) / Double(c), mdy = Kernels.dot(d, yy, c) / Double(c)
            for j in 0..<c { g.data[i * c + j] = Float((Double(d[j]) - md - Double(yy[j]) * mdy) * Double(invStd[i])) }
        }
        a.accumulate(g)
    }
}
