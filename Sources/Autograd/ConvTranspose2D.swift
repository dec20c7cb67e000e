// Transposed 2-D convolution (the adjoint of conv2d), NCHW, weight [Cin, Cout, KH, KW] as in PyTorch.
// Output size (H−1)·stride − 2·pad + KH. Used by decoders that upsample (BottleNet++ 2×2 stride 2).
// Computed per image with the conv2d im2col/col2im helpers read in the other direction:
//   forward   col[Cout·KH·KW, Hin·Win] = Wᵀ · x_n,   y_n = col2im(col)
//   backward  x_grad_n = W · im2col(y_grad_n),  W_grad += x_n · im2col(y_grad_n)ᵀ

import TensorCore

extension Kernels {
    /// Geometry of the ordinary convolution whose adjoint this is (input = our output).
    static func transposedGeometry(input s: NCHW, weight: Tensor, stride: Int, pad: Int) -> ConvGeometry {
        let cout = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        let hout = (s.h - 1) * stride - 2 * pad + kh, wout = (s.w - 1) * stride - 2 * pad + kw
        let g = ConvGeometry(cin: cout, h: hout, w: wout, cout: s.c, kh: kh, kw: kw, stride: stride, pad: pad)
        precondition(g.hout == s.h && g.wout == s.w, "convTranspose2d: inconsistent geometry")
        return g
    }

    public static func convTranspose2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Int, pad: Int) -> Tensor {
        let s = NCHW(x.shape)
        precondition(weight.shape[0] == s.c, "convTranspose2d: input has \(s.c) channels, weight expects \(weight.shape[0])")
        let g = transposedGeometry(input: s, weight: weight, stride: stride, pad: pad)
        let y = Tensor(zeros: [s.n, g.cin, g.h, g.w])
        let inImage = s.c * s.h * s.w, outImage = g.cin * g.h * g.w
        let xp = x.data, yp = y.data, wp = weight.data
        Parallel.forChunks(s.n) { _, range in
            let col = BufferPool.acquire(g.k * g.p)
            defer { BufferPool.release(col, g.k * g.p) }
            for n in range {
                BLAS.sgemm(transA: true, m: g.k, n: g.p, k: s.c, a: wp, b: xp + n * inImage, c: col)
                col2im(col, g, yp + n * outImage, ld: g.p, colOffset: 0)
                if let bias {
                    for c in 0..<g.cin {
                        let row = yp + n * outImage + c * g.h * g.w, bv = bias.data[c]
                        for i in 0..<(g.h * g.w) { row[i] += bv }
                    }
                }
            }
        }
        return y
    }

    public static func convTranspose2dBackward(_ gy: Tensor, _ x: Tensor, _ weight: Tensor, stride: Int, pad: Int,
                                               needInput: Bool, needWeight: Bool, needBias: Bool)
        -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let s = NCHW(x.shape)
        let g = transposedGeometry(input: s, weight: weight, stride: stride, pad: pad)
        let inImage = s.c * s.h * s.w, outImage = g.cin * g.h * g.w
        let gx: Tensor? = needInput ? Tensor(uninitialized: x.shape) : nil
        let chunks = Parallel.chunkCount(s.n)
        let partials = BufferPool.acquire(chunks * weight.count)
        partials.initialize(repeating: 0, count: chunks * weight.count)
        defer { BufferPool.release(partials, chunks * weight.count) }
        let xp = x.data, gyp = gy.data, wp = weight.data, gxp = gx?.data
        Parallel.forChunks(s.n) { chunk, range in
            let col = BufferPool.acquire(g.k * g.p)
            defer { BufferPool.release(col, g.k * g.p) }
            for n in range {
                im2col(gyp + n * outImage, g, col, ld: g.p, colOffset: 0)
                if let gxp { BLAS.sgemm(m: s.c, n: g.p, k: g.k, a: wp, b: col, c: gxp + n * inImage) }
                if needWeight {
                    BLAS.sgemm(transB: true, m: s.c, n: g.k, k: g.p, a: xp + n * inImage, b: col, beta: 1,
                               c: partials + chunk * weight.count)
                }
            }
        }
        var gw: Tensor? = nil
        if needWeight {
            let t = Tensor(zeros: weight.shape)
            for k in 0..<chunks { let p = partials + k * weight.count; for i in 0..<weight.count { t.data[i] += p[i] } }
            gw = t
        }
        var gb: Tensor? = nil
        if needBias {
            let t = Tensor(zeros: [g.cin])
            for n in 0..<s.n { for c in 0..<g.cin { t.data[c] += Float(sum(gyp + n * outImage + c * g.h * g.w, g.h * g.w)) } }
            gb = t
        }
        return (gx, gw, gb)
    }

    /// Naive reference: every input pixel scatters its weighted kernel into the output.
    public static func convTranspose2dReference(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Int, pad: Int) -> Tensor {
        let s = NCHW(x.shape)
        let cout = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        let ho = (s.h - 1) * stride - 2 * pad + kh, wo = (s.w - 1) * stride - 2 * pad + kw
        let y = Tensor(zeros: [s.n, cout, ho, wo])
        for n in 0..<s.n { for ci in 0..<s.c { for iy in 0..<s.h { for ix in 0..<s.w {
            let v = x.data[((n * s.c + ci) * s.h + iy) * s.w + ix]
            for co in 0..<cout { for ki in 0..<kh { for kj in 0..<kw {
                let oy = iy * stride - pad + ki, ox = ix * stride - pad + kj
                if oy < 0 || oy >= ho || ox < 0 || ox >= wo { continue }
                y.data[((n * cout + co) * ho + oy) * wo + ox] += v * weight.data[((ci * cout + co) * kh + ki) * kw + kj]
            } } }
        } } } }
        if let bias { for n in 0..<s.n { for co in 0..<cout { for i in 0..<(ho * wo) { y.data[(n * cout + co) * ho * wo + i] += bias.data[co] } } } }
        return y
    }
}

/// Transposed convolution op. x [N, Cin, H, W], weight [Cin, Cout, KH, KW], bias [Cout] or nil.
public func convTranspose2d(_ x: Variable, weight: Variable, bias: Variable? = nil, stride: Int = 2, pad: Int = 0) -> Variable {
    let xv = x.value, wv = weight.value
    let y = Kernels.convTranspose2d(xv, wv, bias?.value, stride: stride, pad: pad)
    var parents = [x, weight]
    if let bias { parents.append(bias) }
    return Variable(op: y, parents: parents) { gy in
        let r = Kernels.convTranspose2dBackward(gy, xv, wv, stride: stride, pad: pad, needInput: x.requiresGrad,
                                                needWeight: weight.requiresGrad, needBias: bias?.requiresGrad ?? false)
        if let gx = r.input { x.accumulate(gx) }
        if let gw = r.weight { weight.accumulate(gw) }
        if let bias, let gb = r.bias { bias.accumulate(gb) }
    }
}
