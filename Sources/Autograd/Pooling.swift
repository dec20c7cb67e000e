// Pooling: max pool (window, stride, zero-free padding: padded positions never win), global average pool
// and global max pool. NCHW in; global pools give [N, C].

import TensorCore

public func maxPool2d(_ x: Variable, kernel: Int, stride: Int, pad: Int = 0) -> Variable {
    let s = NCHW(x.shape)
    let ho = (s.h + 2 * pad - kernel) / stride + 1, wo = (s.w + 2 * pad - kernel) / stride + 1
    let y = Tensor(uninitialized: [s.n, s.c, ho, wo])
    var argmax = [Int32](repeating: 0, count: y.count)
    let xp = x.value.data, yp = y.data
    argmax.withUnsafeMutableBufferPointer { am in
        let amp = am.baseAddress!
        Parallel.forChunks(s.n * s.c) { _, planes in
            for pl in planes {
                let src = xp + pl * s.h * s.w
                for oy in 0..<ho { for ox in 0..<wo {
                    var best = -Float.infinity, bestIdx = -1
                    for ki in 0..<kernel {
                        let iy = oy * stride - pad + ki
                        if iy < 0 || iy >= s.h { continue }
                        for kj in 0..<kernel {
                            let ix = ox * stride - pad + kj
                            if ix < 0 || ix >= s.w { continue }
                            let v = src[iy * s.w + ix]
                            if v > best || bestIdx < 0 { best = v; bestIdx = iy * s.w + ix }
                        }
                    }
                    let o = (pl * ho + oy) * wo + ox
                    yp[o] = best
                    amp[o] = Int32(bestIdx)
                } }
            }
        }
    }
    let plane = s.h * s.w, outPlane = ho * wo
    return Variable(op: y, parents: [x]) { gy in
        // The gradient goes to the arg-max of each window (ties: first in scan order).
        let gx = Tensor(zeros: x.shape)
        for pl in 0..<(s.n * s.c) {
            for o in 0..<outPlane { gx.data[pl * plane + Int(argmax[pl * outPlane + o])] += gy.data[pl * outPlane + o] }
        }
        x.accumulate(gx)
    }
}

/// Mean over H×W: [N, C, H, W] → [N, C].
public func globalAvgPool(_ x: Variable) -> Variable {
    let s = NCHW(x.shape)
    let y = Tensor(uninitialized: [s.n, s.c])
    let inv = 1 / Float(s.plane)
    for i in 0..<(s.n * s.c) { y.data[i] = Float(Kernels.sum(x.value.data + i * s.plane, s.plane)) * inv }
    return Variable(op: y, parents: [x]) { gy in
        let gx = Tensor(uninitialized: x.shape)
        for i in 0..<(s.n * s.c) { (gx.data + i * s.plane).update(repeating: gy.data[i] * inv, count: s.plane) }
        x.accumulate(gx)
    }
}

/// Maximum over H×W: [N, C, H, W] → [N, C]; the gradient goes to the first maximal element.
public func globalMaxPool(_ x: Variable) -> Variable {
    let s = NCHW(x.shape)
    let y = Tensor(uninitialized: [s.n, s.c])
    var arg = [Int](repeating: 0, count: s.n * s.c)
    for i in 0..<(s.n * s.c) {
        let p = x.value.data + i * s.plane
        var best = p[0], bi = 0
        for j in 1..<max(1, s.plane) where p[j] > best { best = p[j]; bi = j }
        y.data[i] = best
        arg[i] = bi
    }
    return Variable(op: y, parents: [x]) { gy in
        let gx = Tensor(zeros: x.shape)
        for i in 0..<(s.n * s.c) { gx.data[i * s.plane + arg[i]] = gy.data[i] }
        x.accumulate(gx)
    }
}
