// The ResNet family, as a chain of named units so any unit boundary can be a split point:
//   stem, block1 … blockN, head
// The device half runs input → end of the split unit, the edge half the rest.
//
// Small-image ResNets (ResNet-20/32/56, He et al. §4.2, CIFAR style): stem conv3×3 → BN → ReLU; three stages
// of n BasicBlocks (widths 16/32/64 × width multiplier, first strides 1/2/2); 1×1 conv + BN shortcut where
// the shape changes; global average pool; Linear. ResNet-20 is exactly `../shared/anchors/resnet_fm.py`.
// ImageNet ResNets (ResNet-18: BasicBlocks [2,2,2,2]; ResNet-50: Bottlenecks [3,4,6,3], stride on the 3×3
// as in torchvision): stem conv7×7/2 → BN → ReLU → max pool 3×3/2.

import TensorCore
import Autograd
import NN

/// conv → BN → ReLU (the stem of small ResNets).
public final class ConvBNReLU: Module {
    public var conv: Conv2D
    public var bn: BatchNorm2D
    public init(conv: Conv2D, bn: BatchNorm2D) { self.conv = conv; self.bn = bn }
    public override var children: [(String, Module)] { [("conv", conv), ("bn", bn)] }
    public override func forward(_ x: Variable) -> Variable { bn.withReLU(conv(x)) }
}

/// ImageNet stem: conv7×7/2 → BN → ReLU → max pool 3×3/2.
public final class ImageNetStem: Module {
    public var conv: Conv2D
    public var bn: BatchNorm2D
    public init(conv: Conv2D, bn: BatchNorm2D) { self.conv = conv; self.bn = bn }
    public override var children: [(String, Module)] { [("conv", conv), ("bn", bn)] }
    public override func forward(_ x: Variable) -> Variable { maxPool2d(bn.withReLU(conv(x)), kernel: 3, stride: 2, pad: 1) }
}

/// 1×1 (strided) conv + BN on the shortcut.
public final class Projection: Module {
    public var conv: Conv2D
    public var bn: BatchNorm2D
    public init(conv: Conv2D, bn: BatchNorm2D) { self.conv = conv; self.bn = bn }
    public override var children: [(String, Module)] { [("0", conv), ("1", bn)] }
    public override func forward(_ x: Variable) -> Variable { bn(conv(x)) }
}

/// A residual block whose output channels can be selected (pruning): `outputChannels`, when set, lists the
/// channels of the full block output that this block still produces, in order.
public protocol ResidualUnit: Module {
    /// Channels of the block's output.
    var outChannels: Int { get }
}

/// conv3×3 → BN → ReLU → conv3×3 → BN, + shortcut, → ReLU.
public final class BasicBlock: Module, ResidualUnit {
    public var conv1: Conv2D, bn1: BatchNorm2D, conv2: Conv2D, bn2: BatchNorm2D
    /// Projection shortcut, or nil for the identity.
    public var shortcut: Projection?
    /// With an identity shortcut after pruning: the input channels the shortcut passes through.
    public var identityChannels: [Int]?

    public init(_ cin: Int, _ cout: Int, stride: Int, rng: inout RNG) {
        conv1 = Conv2D(cin, cout, kernel: 3, stride: stride, pad: 1, rng: &rng)
        bn1 = BatchNorm2D(cout)
        conv2 = Conv2D(cout, cout, kernel: 3, stride: 1, pad: 1, rng: &rng)
        bn2 = BatchNorm2D(cout)
        if stride != 1 || cin != cout {
            shortcut = Projection(conv: Conv2D(cin, cout, kernel: 1, stride: stride, rng: &rng), bn: BatchNorm2D(cout))
        }
    }

    public var outChannels: Int { conv2.outChannels }

    public override var children: [(String, Module)] {
        var c: [(String, Module)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
        if let shortcut { c.append(("shortcut", shortcut)) }
        return c
    }

    public override func forward(_ x: Variable) -> Variable {
        let out = conv2(bn1.withReLU(conv1(x)))
        let sc: Variable
        if let shortcut { sc = shortcut(x) }
        else if let idx = identityChannels { sc = gatherChannels(x, idx) }
        else { sc = x }
        return bn2.withReLU(out, adding: sc)
    }
}

/// conv1×1 → BN → ReLU → conv3×3 (stride) → BN → ReLU → conv1×1 (×4) → BN, + shortcut, → ReLU.
public final class Bottleneck: Module, ResidualUnit {
    public var conv1: Conv2D, bn1: BatchNorm2D, conv2: Conv2D, bn2: BatchNorm2D, conv3: Conv2D, bn3: BatchNorm2D
    public var shortcut: Projection?
    public var identityChannels: [Int]?
    public static let expansion = 4

    public init(_ cin: Int, _ width: Int, stride: Int, rng: inout RNG) {
        let cout = width * Bottleneck.expansion
        conv1 = Conv2D(cin, width, kernel: 1, rng: &rng)
        bn1 = BatchNorm2D(width)
        conv2 = Conv2D(width, width, kernel: 3, stride: stride, pad: 1, rng: &rng)
        bn2 = BatchNorm2D(width)
        conv3 = Conv2D(width, cout, kernel: 1, rng: &rng)
        bn3 = BatchNorm2D(cout)
        if stride != 1 || cin != cout {
            shortcut = Projection(conv: Conv2D(cin, cout, kernel: 1, stride: stride, rng: &rng), bn: BatchNorm2D(cout))
        }
    }

    public var outChannels: Int { conv3.outChannels }

    public override var children: [(String, Module)] {
        var c: [(String, Module)] = [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("conv3", conv3), ("bn3", bn3)]
        if let shortcut { c.append(("shortcut", shortcut)) }
        return c
    }

    public override func forward(_ x: Variable) -> Variable {
        let out = conv3(bn2.withReLU(conv2(bn1.withReLU(conv1(x)))))
        let sc: Variable
        if let shortcut { sc = shortcut(x) }
        else if let idx = identityChannels { sc = gatherChannels(x, idx) }
        else { sc = x }
        return bn3.withReLU(out, adding: sc)
    }
}

/// Global average pool → Linear.
public final class ClassifierHead: Module {
    public var fc: Linear
    public init(_ features: Int, _ classes: Int, rng: inout RNG) { fc = Linear(features, classes, rng: &rng) }
    public override var children: [(String, Module)] { [("fc", fc)] }
    public override func forward(_ x: Variable) -> Variable { fc(globalAvgPool(x)) }
}

/// Architectures the toolkit builds.
public enum Architecture: String, CaseIterable, Codable, Sendable {
    case resnet20, resnet32, resnet56, resnet18, resnet50
}

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unknownSplit(String, available: [String])
    case badInput(String)
    public var description: String {
        switch self {
        case .unknownSplit(let s, let a): return "unknown split point '\(s)'; this model has: \(a.joined(separator: ", "))"
        case .badInput(let s): return s
        }
    }
}

/// A ResNet as a chain of named units.
public final class ResNet: Module {
    public let architecture: Architecture
    /// stem, block1…blockN, head — in order.
    public private(set) var units: [(String, Module)]

    /// - Parameters: width multiplier applies to the small-image ResNets' 16/32/64 widths.
    public init(_ arch: Architecture, inputChannels: Int, classes: Int, width: Double = 1.0, seed: UInt64) {
        var rng = RNG(seed: seed)
        architecture = arch
        var units: [(String, Module)] = []
        switch arch {
        case .resnet20, .resnet32, .resnet56:
            let n = arch == .resnet20 ? 3 : arch == .resnet32 ? 5 : 9
            let widths = [16, 32, 64].map { max(1, Int((Double($0) * width).rounded())) }
            units.append(("stem", ConvBNReLU(conv: Conv2D(inputChannels, widths[0], kernel: 3, pad: 1, rng: &rng), bn: BatchNorm2D(widths[0]))))
            var cin = widths[0], k = 1
            for (s, w) in widths.enumerated() {
                for i in 0..<n {
                    units.append(("block\(k)", BasicBlock(cin, w, stride: (s > 0 && i == 0) ? 2 : 1, rng: &rng)))
                    cin = w; k += 1
                }
            }
            units.append(("head", ClassifierHead(cin, classes, rng: &rng)))
        case .resnet18, .resnet50:
            let counts = arch == .resnet18 ? [2, 2, 2, 2] : [3, 4, 6, 3]
            units.append(("stem", ImageNetStem(conv: Conv2D(inputChannels, 64, kernel: 7, stride: 2, pad: 3, rng: &rng), bn: BatchNorm2D(64))))
            var cin = 64, k = 1
            for (s, w) in [64, 128, 256, 512].enumerated() {
                for i in 0..<counts[s] {
                    let stride = (s > 0 && i == 0) ? 2 : 1
                    if arch == .resnet18 {
                        units.append(("block\(k)", BasicBlock(cin, w, stride: stride, rng: &rng))); cin = w
                    } else {
                        units.append(("block\(k)", Bottleneck(cin, w, stride: stride, rng: &rng))); cin = w * Bottleneck.expansion
                    }
                    k += 1
                }
            }
            units.append(("head", ClassifierHead(cin, classes, rng: &rng)))
        }
        self.units = units
    }

    public override var children: [(String, Module)] { units }

    /// Names of the places the network can be split (every unit but the head).
    public var splitPoints: [String] { units.dropLast().map { $0.0 } }

    public func unitIndex(of split: String) throws -> Int {
        guard let i = units.firstIndex(where: { $0.0 == split }), i < units.count - 1 else {
            throw ModelError.unknownSplit(split, available: splitPoints)
        }
        return i
    }

    public func unit(_ name: String) -> Module? { units.first { $0.0 == name }?.1 }

    /// Replace a unit (pruning rebuilds the split unit).
    public func replaceUnit(_ name: String, with m: Module) {
        if let i = units.firstIndex(where: { $0.0 == name }) { units[i].1 = m }
    }

    public override func forward(_ x: Variable) -> Variable { units.reduce(x) { $1.1($0) } }

    /// Input → output of the split unit (what the device computes).
    public func forwardDevice(_ x: Variable, split: String) throws -> Variable {
        let i = try unitIndex(of: split)
        return units[...i].reduce(x) { $1.1($0) }
    }

    /// Split features → logits (what the edge computes).
    public func forwardEdge(_ features: Variable, split: String) throws -> Variable {
        let i = try unitIndex(of: split)
        return units[(i + 1)...].reduce(features) { $1.1($0) }
    }

    /// Shape [C, H, W] of the tensor at each split point for one input of shape [C, H, W], and the FLOPs of
    /// the device half up to it (2 × multiply–adds of convolutions and linear layers).
    public func splitReport(inputShape: [Int]) -> [(split: String, shape: [Int], deviceFLOPs: Int)] {
        let wasTraining = isTraining
        setTraining(false)
        defer { setTraining(wasTraining) }
        var out: [(String, [Int], Int)] = []
        GradMode.withoutGrad {
            var x = Variable(Tensor(zeros: [1] + inputShape))
            var flops = 0
            for (name, m) in units.dropLast() {
                var y: Variable! = nil
                flops += FlopCounter.measure { y = m(x) }
                x = y
                out.append((name, Array(x.shape.dropFirst()), flops))
            }
        }
        return out
    }
}
