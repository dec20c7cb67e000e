// BottleNet (Eshratifar, Esmaili & Pedram 2019), reimplemented from ../shared/papers/baselines-facts.md:
//   reduction unit (device):   1×1 conv C → c' → BN → ReLU; with spatial reduction s > 1, then a
//                              (s+1)×(s+1) conv of stride s → BN → ReLU
//   compressor:                8-bit min–max quantiser (per image), the c' planes tiled into one near-square
//                              image, JPEG at a quality setting; the decompressor inverts it
//   restoration unit (edge):   the mirror: transposed conv (s×s, stride s) → BN → ReLU, 1×1 conv c' → C → BN → ReLU
// Compression-aware training: the compressor/decompressor pair is the identity in backpropagation.
// Every forward pass really JPEG-codes each image; `bytesSent`/`imagesSent` count the bytes (JPEG plus the
// two 4-byte range bounds) of the passes in inference mode, and `bytesSentTablesOutOfBand` the same with the
// JPEG's tables shared out of band (its abbreviated stream, `JPEGCodec.tablesOutOfBandSize`).

import Foundation
import TensorCore
import Autograd
import NN
import FeatureCoding

public final class BottleNetBridge: Module {
    public let channels: Int, reduced: Int, stride: Int, quality: Int
    let reduce: Sequential, restore: Sequential
    public private(set) var bytesSent = 0
    public private(set) var imagesSent = 0
    public private(set) var bytesSentTablesOutOfBand = 0

    public init(channels: Int, reduced: Int, stride: Int = 1, quality: Int, seed: UInt64) {
        self.channels = channels; self.reduced = reduced; self.stride = max(1, stride); self.quality = quality
        var rng = RNG(seed: seed)
        var down: [(String, Module)] = [("conv1", Conv2D(channels, reduced, kernel: 1, rng: &rng)), ("bn1", BatchNorm2D(reduced)), ("relu1", ReLULayer())]
        var up: [(String, Module)] = []
        if self.stride > 1 {
            down += [("conv2", Conv2D(reduced, reduced, kernel: self.stride + 1, stride: self.stride, pad: self.stride / 2, rng: &rng)),
                     ("bn2", BatchNorm2D(reduced)), ("relu2", ReLULayer())]
            up += [("deconv", ConvTranspose2D(reduced, reduced, kernel: self.stride, stride: self.stride, bias: false, rng: &rng)),
                   ("bn0", BatchNorm2D(reduced)), ("relu0", ReLULayer())]
        }
        up += [("conv1", Conv2D(reduced, channels, kernel: 1, rng: &rng)), ("bn1", BatchNorm2D(channels)), ("relu1", ReLULayer())]
        reduce = Sequential(down)
        restore = Sequential(up)
    }

    public override var children: [(String, Module)] { [("reduce", reduce), ("restore", restore)] }

    public func resetCounters() { bytesSent = 0; imagesSent = 0; bytesSentTablesOutOfBand = 0 }

    /// Device side: the reduction unit.
    public func reduceFeatures(_ x: Variable) -> Variable { reduce(x) }

    /// One image's reduced features (`c' × h × w`) → (JPEG bytes, min, max).
    public func compress(_ values: ArraySlice<Float>, height h: Int, width w: Int) throws -> (jpeg: [UInt8], lo: Float, hi: Float) {
        let lo = values.min() ?? 0, hi = values.max() ?? 0
        let span = hi - lo
        let q = values.map { v -> UInt8 in span > 0 ? UInt8(min(255, max(0, ((v - lo) / span * 255).rounded()))) : 0 }
        let t = JPEGCodec.tile(q, count: reduced, height: h, width: w)
        return (try JPEGCodec.encode(grey: t.image, width: t.width, height: t.height, quality: quality), lo, hi)
    }

    /// Edge side: JPEG bytes and range → the reduced features.
    public func decompress(_ jpeg: [UInt8], lo: Float, hi: Float, height h: Int, width w: Int) throws -> [Float] {
        let (cols, rows) = JPEGCodec.grid(reduced)
        let image = try JPEGCodec.decode(jpeg, width: cols * w, height: rows * h)
        let step = (hi - lo) / 255
        return JPEGCodec.untile(image, count: reduced, height: h, width: w).map { lo + Float($0) * step }
    }

    /// The compressor and decompressor on every image of a batch; straight-through gradient.
    func codec(_ z: Variable) -> Variable {
        let counting = !isTraining
        return straightThrough(z) { t in
            let s = NCHW(t.shape)
            let out = Tensor(uninitialized: t.shape)
            let per = s.c * s.h * s.w
            let src = t.buffer
            for n in 0..<s.n {
                let slice = src[(n * per)..<((n + 1) * per)]
                guard let (jpeg, lo, hi) = try? self.compress(ArraySlice(slice), height: s.h, width: s.w),
                      let back = try? self.decompress(jpeg, lo: lo, hi: hi, height: s.h, width: s.w),
                      let abbreviated = try? JPEGCodec.tablesOutOfBandSize(jpeg) else {
                    preconditionFailure("BottleNet: JPEG round trip failed")
                }
                if counting {
                    self.bytesSent += jpeg.count + 8; self.imagesSent += 1
                    self.bytesSentTablesOutOfBand += abbreviated + 8
                }
                for i in 0..<per { out.buffer[n * per + i] = back[i] }
            }
            return out
        }
    }

    public override func forward(_ x: Variable) -> Variable { restore(codec(reduce(x))) }
}
