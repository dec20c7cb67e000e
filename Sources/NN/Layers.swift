// Layers: Conv2D, ConvTranspose2D, BatchNorm2D, Linear, and Sequential, with PyTorch's initialisations
// (Kaiming-normal fan-out for convolutions in ResNets, Kaiming-uniform(a=√5) for Linear and default convs).

import TensorCore
import Autograd
import Foundation

public enum ConvInit: Sendable {
    /// N(0, 2/fan_out): ResNet convolutions (kaiming_normal_, mode fan_out, relu).
    case kaimingNormalFanOut
    /// U(±1/√fan_in): PyTorch's default for Conv2d and Linear (kaiming_uniform_ with a = √5).
    case pytorchDefault
}

public final class Conv2D: Module {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, pad: Int

    /// weight [Cout, Cin, K, K].
    public init(_ cin: Int, _ cout: Int, kernel: Int, stride: Int = 1, pad: Int = 0, bias: Bool = false,
                initializer: ConvInit = .kaimingNormalFanOut, rng: inout RNG) {
        let fanIn = cin * kernel * kernel, fanOut = cout * kernel * kernel
        switch initializer {
        case .kaimingNormalFanOut:
            weight = Variable(Tensor.randomNormal([cout, cin, kernel, kernel], std: (2 / Float(fanOut)).squareRoot(), rng: &rng), requiresGrad: true)
        case .pytorchDefault:
            let bound = 1 / Float(fanIn).squareRoot()
            weight = Variable(Tensor.randomUniform([cout, cin, kernel, kernel], lo: -bound, hi: bound, rng: &rng), requiresGrad: true)
        }
        if bias {
            let bound = 1 / Float(fanIn).squareRoot()
            self.bias = Variable(Tensor.randomUniform([cout], lo: -bound, hi: bound, rng: &rng), requiresGrad: true)
        } else {
            self.bias = nil
        }
        self.stride = stride
        self.pad = pad
    }

    /// A convolution holding the given tensors (used when pruning rebuilds a layer).
    public init(weight: Tensor, bias: Tensor?, stride: Int, pad: Int) {
        self.weight = Variable(weight, requiresGrad: true)
        self.bias = bias.map { Variable($0, requiresGrad: true) }
        self.stride = stride
        self.pad = pad
    }

    public var inChannels: Int { weight.shape[1] }
    public var outChannels: Int { weight.shape[0] }
    public var kernel: Int { weight.shape[2] }

    public override var localParameters: [(String, Variable)] {
        var p = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    public override func forward(_ x: Variable) -> Variable {
        FlopCounter.addConv(x.shape, weight.shape, stride: stride, pad: pad)
        return conv2d(x, weight: weight, bias: bias, stride: stride, pad: pad)
    }
}

public final class ConvTranspose2D: Module {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int, pad: Int

    /// weight [Cin, Cout, K, K] (PyTorch layout), PyTorch default initialisation.
    public init(_ cin: Int, _ cout: Int, kernel: Int, stride: Int = 2, pad: Int = 0, bias: Bool = true, rng: inout RNG) {
        let bound = 1 / Float(cout * kernel * kernel).squareRoot()
        weight = Variable(Tensor.randomUniform([cin, cout, kernel, kernel], lo: -bound, hi: bound, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.randomUniform([cout], lo: -bound, hi: bound, rng: &rng), requiresGrad: true) : nil
        self.stride = stride
        self.pad = pad
    }

    public override var localParameters: [(String, Variable)] {
        var p = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    public override func forward(_ x: Variable) -> Variable {
        convTranspose2d(x, weight: weight, bias: bias, stride: stride, pad: pad)
    }
}

public final class BatchNorm2D: Module {
    public let gamma: Variable
    public let beta: Variable
    public let state: BatchNormState

    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        gamma = Variable(Tensor(shape: [channels], repeating: 1), requiresGrad: true)
        beta = Variable(Tensor(zeros: [channels]), requiresGrad: true)
        state = BatchNormState(channels: channels, momentum: momentum, eps: eps)
    }

    /// A batch norm holding the given tensors (used when pruning keeps a subset of channels).
    public init(gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, momentum: Float = 0.1, eps: Float = 1e-5) {
        self.gamma = Variable(gamma, requiresGrad: true)
        self.beta = Variable(beta, requiresGrad: true)
        state = BatchNormState(channels: gamma.count, momentum: momentum, eps: eps)
        state.runningMean.assign(runningMean)
        state.runningVar.assign(runningVar)
    }

    public var channels: Int { gamma.value.count }

    public override var localParameters: [(String, Variable)] { [("weight", gamma), ("bias", beta)] }
    public override var localBuffers: [(String, Tensor)] {
        [("running_mean", state.runningMean), ("running_var", state.runningVar)]
    }

    public override func forward(_ x: Variable) -> Variable {
        batchNorm2d(x, gamma: gamma, beta: beta, state: state, training: isTraining)
    }

    /// `relu(self(x))`, or `relu(self(x) + residual)` with `adding`, as one fused op.
    public func withReLU(_ x: Variable, adding residual: Variable? = nil) -> Variable {
        batchNorm2d(x, gamma: gamma, beta: beta, state: state, training: isTraining, adding: residual, relu: true)
    }
}

public final class Linear: Module {
    public let weight: Variable
    public let bias: Variable?

    /// weight [Out, In], PyTorch default initialisation U(±1/√In).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RNG) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Variable(Tensor.randomUniform([outFeatures, inFeatures], lo: -bound, hi: bound, rng: &rng), requiresGrad: true)
        self.bias = bias ? Variable(Tensor.randomUniform([outFeatures], lo: -bound, hi: bound, rng: &rng), requiresGrad: true) : nil
    }

    public override var localParameters: [(String, Variable)] {
        var p = [("weight", weight)]
        if let bias { p.append(("bias", bias)) }
        return p
    }

    public override func forward(_ x: Variable) -> Variable {
        FlopCounter.add(2 * x.shape[0] * weight.value.count)
        return linear(x, weight: weight, bias: bias)
    }
}

/// Children applied in order; names are their indices unless given.
public final class Sequential: Module {
    public let layers: [(String, Module)]
    public init(_ layers: [(String, Module)]) { self.layers = layers }
    public convenience init(_ layers: [Module]) { self.init(layers.enumerated().map { (String($0.offset), $0.element) }) }
    public override var children: [(String, Module)] { layers }
    public override func forward(_ x: Variable) -> Variable { layers.reduce(x) { $1.1($0) } }
}

/// Counts the multiply–adds (×2 = FLOPs) of convolution and linear layers run inside `measure`.
public enum FlopCounter {
    nonisolated(unsafe) private static var active = false
    nonisolated(unsafe) private static var total = 0

    public static func measure(_ body: () -> Void) -> Int {
        let saved = (active, total)
        active = true; total = 0
        body()
        let result = total
        (active, total) = saved
        return result
    }

    static func add(_ flops: Int) { if active { total += flops } }

    static func addConv(_ x: [Int], _ w: [Int], stride: Int, pad: Int) {
        guard active else { return }
        let ho = (x[2] + 2 * pad - w[2]) / stride + 1, wo = (x[3] + 2 * pad - w[3]) / stride + 1
        total += 2 * x[0] * w[0] * w[1] * w[2] * w[3] * ho * wo
    }
}
