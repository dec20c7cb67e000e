// BottleNet++ (Shao & Zhang 2020), reimplemented from ../shared/papers/baselines-facts.md:
//   encoder (device):  [split tensor ‖ a constant plane holding the channel condition] → conv → BN → sigmoid
//                      (3×3 stride 1, or 2×2 stride 2 with spatial shrink), C + 1 → C' channels
//   channel:           noiseless; AWGN y = x + n, n ~ N(0, σ²); or a binary erasure channel on 8-bit symbols
//                      (each bit erased with probability p and replaced by half its weight), straight-through
//   decoder (edge):    conv 3×3 (or transposed conv 2×2 stride 2) → BN → ReLU, C' → C
// The 3×3 encoder pairs with the 3×3 decoder and the stride-2 encoder with the transposed stride-2 decoder
// (the public code crosses them by mistake).
//
// The channel condition (σ or p) is drawn per batch uniformly in [0, max) while training and fed to the
// encoder; for evaluation it is fixed (`condition`). Random draws come from an RNG seeded by (seed, step),
// the step being a buffer of the module, so a resumed training run draws exactly what an uninterrupted one
// would; evaluation draws from (seed, evaluation batch index) and is therefore repeatable too.

import Foundation
import TensorCore
import Autograd
import NN

public enum NoisyChannel: String, Equatable, Codable, Sendable, CaseIterable {
    case noiseless, awgn, bec
}

public final class BottleNetPPBridge: Module {
    public let channels: Int, reduced: Int
    public let spatialShrink: Bool
    public let channel: NoisyChannel
    /// Upper end of the training draw of σ (AWGN) or p (BEC).
    public let trainingMax: Float
    /// The fixed condition used outside training (σ or p); 0 for the noiseless channel.
    public var condition: Float = 0
    let seed: UInt64
    let encoderConv: Module, encoderBN: BatchNorm2D, decoderConv: Module, decoderBN: BatchNorm2D
    /// Training steps taken (a Float buffer, exact below 2^24), which seeds each batch's draws.
    let step = Tensor(zeros: [1])
    var evaluationBatch: UInt64 = 0

    public init(channels: Int, reduced: Int, spatialShrink: Bool, channel: NoisyChannel, trainingMax: Float, seed: UInt64) {
        self.channels = channels; self.reduced = reduced; self.spatialShrink = spatialShrink
        self.channel = channel; self.trainingMax = channel == .noiseless ? 0 : trainingMax; self.seed = seed
        var rng = RNG(seed: seed)
        if spatialShrink {
            encoderConv = Conv2D(channels + 1, reduced, kernel: 2, stride: 2, pad: 0, rng: &rng)
            decoderConv = ConvTranspose2D(reduced, channels, kernel: 2, stride: 2, pad: 0, bias: false, rng: &rng)
        } else {
            encoderConv = Conv2D(channels + 1, reduced, kernel: 3, stride: 1, pad: 1, rng: &rng)
            decoderConv = Conv2D(reduced, channels, kernel: 3, stride: 1, pad: 1, rng: &rng)
        }
        encoderBN = BatchNorm2D(reduced)
        decoderBN = BatchNorm2D(channels)
    }

    public override var children: [(String, Module)] {
        [("encoder_conv", encoderConv), ("encoder_bn", encoderBN), ("decoder_conv", decoderConv), ("decoder_bn", decoderBN)]
    }
    public override var localBuffers: [(String, Tensor)] { [("step", step)] }

    /// Device side: features → channel symbols in (0, 1), given the condition.
    public func encode(_ x: Variable, condition c: Float) -> Variable {
        let s = NCHW(x.shape)
        let plane = Tensor(zeros: [s.n, 1, s.h, s.w])
        plane.fill(c)
        return sigmoid(encoderBN(encoderConv(concatChannels([x, Variable(plane)]))))
    }

    /// Edge side: received symbols → features.
    public func decode(_ z: Variable) -> Variable { decoderBN.withReLU(decoderConv(z)) }

    /// The channel at condition `c` with random draws from `rng`; straight-through for the erasure channel.
    public func transmit(_ z: Variable, condition c: Float, rng: inout RNG) -> Variable {
        switch channel {
        case .noiseless: return z
        case .awgn:
            guard c > 0 else { return z }
            let noise = Tensor(uninitialized: z.shape)
            for i in 0..<noise.count { noise.buffer[i] = c * rng.normal() }
            return z + Variable(noise)
        case .bec:
            var local = rng
            let y = straightThrough(z) { t in Self.erase(t, probability: c, rng: &local) }
            rng = local
            return y
        }
    }

    /// 8-bit quantisation of values in [0, 1], each bit erased with probability `p` and replaced by half its
    /// weight, dequantised.
    public static func erase(_ t: Tensor, probability p: Float, rng: inout RNG) -> Tensor {
        let out = Tensor(uninitialized: t.shape)
        for i in 0..<t.count {
            let q = Int((min(max(t[i], 0), 1) * 255).rounded())
            var v: Float = 0
            for b in 0..<8 {
                let weight = Float(1 << b)
                if p > 0 && rng.uniform() < p { v += weight / 2 } else if q & (1 << b) != 0 { v += weight }
            }
            out.buffer[i] = v / 255
        }
        return out
    }

    public override func forward(_ x: Variable) -> Variable {
        var rng: RNG
        let c: Float
        if isTraining {
            let k = UInt64(step[0])
            step.buffer[0] += 1
            rng = RNG(seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* (k &+ 1)))
            c = trainingMax * rng.uniform()
        } else {
            rng = RNG(seed: seed ^ 0x5EED_0E7A1 ^ (0xBF58_476D_1CE4_E5B9 &* (evaluationBatch &+ 1)))
            evaluationBatch &+= 1
            c = condition
        }
        return decode(transmit(encode(x, condition: c), condition: c, rng: &rng))
    }

    /// Restart the evaluation draws (so each evaluation at a condition sees the same noise).
    public func resetEvaluationDraws() { evaluationBatch = 0 }
}
