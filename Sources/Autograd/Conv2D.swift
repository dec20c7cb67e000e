// 2-D convolution, NCHW, weight [Cout, Cin, KH, KW], optional bias [Cout]: forward, backward and a naive
// reference.
//
// Fast path: the batch is split into contiguous chunks, one per worker, each calling single-threaded
// sgemm. Inside a chunk, images are processed in tiles of G images whose im2col matrix [K = Cin·KH·KW,
// G·P] (P = Hout·Wout) stays near cache size: whole-batch im2col produces a column matrix of tens of MB
// and runs sgemm at a fraction of its speed, while one 28×28 image gives N = 784, and small late-stage
// maps (7×7) group several images so the product is not too thin.
//   forward   Y_t[Cout, G·P]  = W[Cout, K] · col_t[K, G·P]
//   backward  W_grad        += Y_grad_t[Cout, G·P] · col_tᵀ        (per-worker partial, reduced in order)
//             col_grad_t      = Wᵀ · Y_grad_t,  X_grad = col2im(col_grad_t)
// Weight-gradient partials are summed in worker order, so the result is identical run to run at a given
// thread count.

import TensorCore
import Foundation

/// Shape facts of one convolution.
public struct ConvGeometry: Hashable, Sendable {
    public let cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, stride: Int, pad: Int
    public let hout: Int, wout: Int

    public init(cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int, stride: Int, pad: Int) {
        self.cin = cin; self.h = h; self.w = w; self.cout = cout
        self.kh = kh; self.kw = kw; self.stride = stride; self.pad = pad
        self.hout = (h + 2 * pad - kh) / stride + 1
        self.wout = (w + 2 * pad - kw) / stride + 1
    }
    /// The geometry of input `x` ([N, Cin, H, W]) under weights of shape [Cout, Cin, KH, KW].
    public init(input x: NCHW, weight: [Int], stride: Int, pad: Int) {
        self.init(cin: x.c, h: x.h, w: x.w, cout: weight[0], kh: weight[2], kw: weight[3], stride: stride, pad: pad)
    }
    /// Rows of the column matrix (Cin·KH·KW).
    public var k: Int { cin * kh * kw }
    /// Output pixels per channel.
    public var p: Int { hout * wout }
    /// 1×1, stride 1, no padding: the image itself is the column matrix.
    public var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && pad == 0 }
    /// Multiply–accumulates per image.
    public var macsPerImage: Int { cout * k * p }
}

extension Kernels {
    /// Column-matrix elements a tile aims for (about 0.75 MB of floats).
    nonisolated(unsafe) public static var convTileElements = 196_608

    static func tileImages(_ geo: ConvGeometry, chunk: Int) -> Int {
        if geo.isPointwise { return 1 }
        return max(1, min(chunk, convTileElements / max(1, geo.k * geo.p)))
    }

    /// Write image `x` ([Cin, H, W]) as columns [colOffset, colOffset + P) of `col` (row stride `ld`).
    @inline(__always)
    static func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>,
                       ld: Int, colOffset: Int) {
        let hw = g.h * g.w
        for c in 0..<g.cin {
            let src = x + c * hw
            for ki in 0..<g.kh {
                for kj in 0..<g.kw {
                    let row = (c * g.kh + ki) * g.kw + kj
                    let dstRow = col + row * ld + colOffset
                    if g.stride == 1 {
                        let lo = max(0, g.pad - kj), hi = min(g.wout, g.w + g.pad - kj)
                        for oy in 0..<g.hout {
                            let dst = dstRow + oy * g.wout
                            let iy = oy - g.pad + ki
                            if iy < 0 || iy >= g.h || hi <= lo {
                                zeroFloats(dst, g.wout)
                                continue
                            }
                            zeroFloats(dst, lo)
                            copyFloats(dst + lo, src + iy * g.w + (lo - g.pad + kj), hi - lo)
                            zeroFloats(dst + hi, g.wout - hi)
                        }
                    } else {
                        for oy in 0..<g.hout {
                            let dst = dstRow + oy * g.wout
                            let iy = oy * g.stride - g.pad + ki
                            if iy < 0 || iy >= g.h { zeroFloats(dst, g.wout); continue }
                            let srow = src + iy * g.w
                            for ox in 0..<g.wout {
                                let ix = ox * g.stride - g.pad + kj
                                dst[ox] = (ix >= 0 && ix < g.w) ? srow[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// Accumulate columns [colOffset, colOffset + P) of `col` into image `x` ([Cin, H, W], pre-zeroed).
    @inline(__always)
    static func col2im(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>,
                       ld: Int, colOffset: Int) {
        let hw = g.h * g.w
        for c in 0..<g.cin {
            let dstImg = x + c * hw
            for ki in 0..<g.kh {
                for kj in 0..<g.kw {
                    let row = (c * g.kh + ki) * g.kw + kj
                    let srcRow = col + row * ld + colOffset
                    if g.stride == 1 {
                        let lo = max(0, g.pad - kj), hi = min(g.wout, g.w + g.pad - kj)
                        if hi <= lo { continue }
                        for oy in 0..<g.hout {
                            let iy = oy - g.pad + ki
                            if iy < 0 || iy >= g.h { continue }
                            let s = srcRow + oy * g.wout
                            let d = dstImg + iy * g.w + (lo - g.pad + kj)
                            let sl = s + lo
                            for i in 0..<(hi - lo) { d[i] += sl[i] }
                        }
                    } else {
                        for oy in 0..<g.hout {
                            let iy = oy * g.stride - g.pad + ki
                            if iy < 0 || iy >= g.h { continue }
                            let s = srcRow + oy * g.wout
                            let d = dstImg + iy * g.w
                            for ox in 0..<g.wout {
                                let ix = ox * g.stride - g.pad + kj
                                if ix >= 0 && ix < g.w { d[ix] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Forward convolution. x [N, Cin, H, W], weight [Cout, Cin, KH, KW], bias [Cout] → [N, Cout, Hout, Wout].
    /// oneDNN's kernels where they serve the shape (`convBackend`), else the GEMM path.
    public static func conv2d(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Int, pad: Int) -> Tensor {
        let s = NCHW(x.shape)
        let g = ConvGeometry(input: s, weight: weight.shape, stride: stride, pad: pad)
        precondition(weight.shape[1] == s.c, "conv2d: input has \(s.c) channels, weight expects \(weight.shape[1])")
        if let y = conv2dOneDNN(x, weight, bias, g) { return y }
        return conv2dGEMM(x, weight, bias, stride: stride, pad: pad)
    }

    /// Backward convolution: gradients for input (if `needInput`), weight and bias (if `needBias`).
    public static func conv2dBackward(_ gy: Tensor, _ x: Tensor, _ weight: Tensor, stride: Int, pad: Int,
                                      needInput: Bool, needBias: Bool, needWeight: Bool = true)
        -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let s = NCHW(x.shape)
        let g = ConvGeometry(input: s, weight: weight.shape, stride: stride, pad: pad)
        if needInput || needWeight,
           let r = conv2dBackwardOneDNN(gy, x, weight, g, needInput: needInput, needWeight: needWeight) {
            return (r.input, r.weight, needBias ? biasGradient(gy) : nil)
        }
        return conv2dBackwardGEMM(gy, x, weight, stride: stride, pad: pad, needInput: needInput, needBias: needBias,
                                  needWeight: needWeight)
    }

    /// Σ over images and pixels of the output gradient, per channel (in image order, in Double).
    static func biasGradient(_ gy: Tensor) -> Tensor {
        let s = NCHW(gy.shape)
        let t = Tensor(zeros: [s.c])
        for c in 0..<s.c {
            var acc = 0.0
            for n in 0..<s.n { acc += sum(gy.data + (n * s.c + c) * s.plane, s.plane) }
            t.data[c] = Float(acc)
        }
        return t
    }

    /// Forward convolution on im2col tiles and sgemm.
    public static func conv2dGEMM(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Int, pad: Int) -> Tensor {
        let s = NCHW(x.shape)
        let g = ConvGeometry(input: s, weight: weight.shape, stride: stride, pad: pad)
        precondition(weight.shape[1] == s.c, "conv2d: input has \(s.c) channels, weight expects \(weight.shape[1])")
        let y = Tensor(uninitialized: [s.n, g.cout, g.hout, g.wout])
        let inImage = g.cin * g.h * g.w, outImage = g.cout * g.p
        let xp = x.data, yp = y.data, wp = weight.data
        Parallel.forChunks(s.n) { _, range in
            let tile = tileImages(g, chunk: range.count)
            let ld = tile * g.p
            let col = g.isPointwise ? nil : BufferPool.acquire(g.k * ld)
            let out = tile > 1 ? BufferPool.acquire(g.cout * ld) : nil
            defer {
                if let col { BufferPool.release(col, g.k * ld) }
                if let out { BufferPool.release(out, g.cout * ld) }
            }
            var n0 = range.lowerBound
            while n0 < range.upperBound {
                let gN = min(tile, range.upperBound - n0)
                let ldT = gN * g.p
                let b: UnsafePointer<Float>
                if let col {
                    for j in 0..<gN { im2col(xp + (n0 + j) * inImage, g, col, ld: ldT, colOffset: j * g.p) }
                    b = UnsafePointer(col)
                } else {
                    b = UnsafePointer(xp + n0 * inImage)
                }
                if let out {
                    BLAS.sgemm(m: g.cout, n: ldT, k: g.k, a: wp, b: b, c: out)
                    for j in 0..<gN {
                            for c in 0..<g.cout {
                            copyFloats(yp + (n0 + j) * outImage + c * g.p, out + c * ldT + j * g.p, g.p)
                        }
                    }
                } else {
                    BLAS.sgemm(m: g.cout, n: g.p, k: g.k, a: wp, b: b, c: yp + n0 * outImage)
                }
                n0 += gN
            }
            if let bias {
                for n in range {
                    for c in 0..<g.cout {
                        let row = yp + n * outImage + c * g.p, bv = bias.data[c]
                        simdMap(row, row, 0..<g.p) { $0 + bv }
                    }
                }
            }
        }
        return y
    }

    /// Backward convolution on im2col tiles and sgemm.
    public static func conv2dBackwardGEMM(_ gy: Tensor, _ x: Tensor, _ weight: Tensor, stride: Int, pad: Int,
                                          needInput: Bool, needBias: Bool, needWeight: Bool = true)
        -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let s = NCHW(x.shape)
        let g = ConvGeometry(input: s, weight: weight.shape, stride: stride, pad: pad)
        let inImage = g.cin * g.h * g.w, outImage = g.cout * g.p
        let xp = x.data, gyp = gy.data, wp = weight.data
        let gx: Tensor? = needInput ? Tensor(zeros: x.shape) : nil
        let gxp = gx?.data
        let chunks = Parallel.chunkCount(s.n)
        let wCount = weight.count
        let partials = BufferPool.acquire(chunks * wCount)
        partials.initialize(repeating: 0, count: chunks * wCount)
        let biasPartials = UnsafeMutablePointer<Double>.allocate(capacity: chunks * g.cout)
        biasPartials.initialize(repeating: 0, count: chunks * g.cout)
        defer { BufferPool.release(partials, chunks * wCount); biasPartials.deallocate() }

        Parallel.forChunks(s.n) { chunk, range in
            let wGrad = partials + chunk * wCount
            let tile = tileImages(g, chunk: range.count)
            let ld = tile * g.p
            let col = g.isPointwise ? nil : BufferPool.acquire(g.k * ld)
            let colGrad = (needInput && !g.isPointwise) ? BufferPool.acquire(g.k * ld) : nil
            let dyT = tile > 1 ? BufferPool.acquire(g.cout * ld) : nil
            defer {
                if let col { BufferPool.release(col, g.k * ld) }
                if let colGrad { BufferPool.release(colGrad, g.k * ld) }
                if let dyT { BufferPool.release(dyT, g.cout * ld) }
            }
            var n0 = range.lowerBound
            while n0 < range.upperBound {
                let gN = min(tile, range.upperBound - n0)
                let ldT = gN * g.p
                // Output gradient of the tile as [Cout, gN·P].
                let dy: UnsafePointer<Float>
                if let dyT {
                    for j in 0..<gN {
                        for c in 0..<g.cout {
                            copyFloats(dyT + c * ldT + j * g.p, gyp + (n0 + j) * outImage + c * g.p, g.p)
                        }
                    }
                    dy = UnsafePointer(dyT)
                } else {
                    dy = UnsafePointer(gyp + n0 * outImage)
                }
                var b = UnsafePointer(xp + n0 * inImage)
                if let col, needWeight {
                    for j in 0..<gN { im2col(xp + (n0 + j) * inImage, g, col, ld: ldT, colOffset: j * g.p) }
                    b = UnsafePointer(col)
                }
                // weightGrad += dy · colᵀ
                if needWeight { BLAS.sgemm(transB: true, m: g.cout, n: g.k, k: ldT, a: dy, b: b, beta: 1, c: wGrad) }
                if let gxp {
                    if let colGrad {
                        // colGrad = Wᵀ · dy, then scatter back to the images.
                        BLAS.sgemm(transA: true, m: g.k, n: ldT, k: g.cout, a: wp, b: dy, c: colGrad)
                        for j in 0..<gN { col2im(colGrad, g, gxp + (n0 + j) * inImage, ld: ldT, colOffset: j * g.p) }
                    } else {
                        BLAS.sgemm(transA: true, m: g.k, n: g.p, k: g.cout, a: wp, b: dy, c: gxp + n0 * inImage)
                    }
                }
                n0 += gN
            }
            if needBias {
                let bp = biasPartials + chunk * g.cout
                for n in range { for c in 0..<g.cout { bp[c] += sum(gyp + n * outImage + c * g.p, g.p) } }
            }
        }
        var gw: Tensor? = nil
        if needWeight {
            let t = Tensor(uninitialized: weight.shape)
            t.data.update(from: partials, count: wCount)
            for k in 1..<max(1, chunks) {
                let p = partials + k * wCount
                for i in 0..<wCount { t.data[i] += p[i] }
            }
            gw = t
        }
        var gb: Tensor? = nil
        if needBias {
            let t = Tensor(zeros: [g.cout])
            for c in 0..<g.cout {
                var acc = 0.0
                for k in 0..<chunks { acc += biasPartials[k * g.cout + c] }
                t.data[c] = Float(acc)
            }
            gb = t
        }
        return (gx, gw, gb)
    }

    /// Naive reference convolution (direct loops), for tests.
    public static func conv2dReference(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Int, pad: Int) -> Tensor {
        let s = NCHW(x.shape)
        let g = ConvGeometry(input: s, weight: weight.shape, stride: stride, pad: pad)
        let y = Tensor(zeros: [s.n, g.cout, g.hout, g.wout])
        for n in 0..<s.n { for co in 0..<g.cout { for oy in 0..<g.hout { for ox in 0..<g.wout {
            var acc: Double = Double(bias?.data[co] ?? 0)
            for ci in 0..<g.cin { for ki in 0..<g.kh { for kj in 0..<g.kw {
                let iy = oy * stride - pad + ki, ix = ox * stride - pad + kj
                if iy < 0 || iy >= s.h || ix < 0 || ix >= s.w { continue }
                acc += Double(x.data[((n * s.c + ci) * s.h + iy) * s.w + ix])
                    * Double(weight.data[((co * g.cin + ci) * g.kh + ki) * g.kw + kj])
            } } }
            y.data[((n * g.cout + co) * g.hout + oy) * g.wout + ox] = Float(acc)
        } } } }
        return y
    }
}

/// 2-D convolution op. x [N, Cin, H, W], weight [Cout, Cin, KH, KW], bias [Cout] or nil.
public func conv2d(_ x: Variable, weight: Variable, bias: Variable? = nil, stride: Int = 1, pad: Int = 0) -> Variable {
    let xv = x.value, wv = weight.value
    let y = Kernels.conv2d(xv, wv, bias?.value, stride: stride, pad: pad)
    var parents = [x, weight]
    if let bias { parents.append(bias) }
    return Variable(op: y, parents: parents) { gy in
        let r = Kernels.conv2dBackward(gy, xv, wv, stride: stride, pad: pad,
                                       needInput: x.requiresGrad, needBias: bias?.requiresGrad ?? false,
                                       needWeight: weight.requiresGrad)
        if let gx = r.input { x.accumulate(gx) }
        if let gw = r.weight { weight.accumulate(gw) }
        if let bias, let gb = r.bias { bias.accumulate(gb) }
    }
}
