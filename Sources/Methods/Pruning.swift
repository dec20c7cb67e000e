// Pruning the split point's output channels (paper §IV-B, Algorithm 1): keep the C/V most important
// channels and remove the filters and BatchNorm entries that produce the others, so the device computes only
// the kept channels. At a residual block's output that is the block's last convolution and BatchNorm, plus
// the projection shortcut's; where the shortcut is the identity, the block selects the kept channels of its
// input instead (no computation is saved there, but none is sent either).

import TensorCore
import NN
import Models

public enum PruningError: Error, CustomStringConvertible, Equatable {
    case unsupportedUnit(String)
    case badChannels(String)
    public var description: String {
        switch self {
        case .unsupportedUnit(let s): return "cannot prune split point '\(s)': its unit type is not supported"
        case .badChannels(let s): return s
        }
    }
}

public enum Pruning {
    /// Rows `keep` of a tensor along its first dimension.
    public static func selectRows(_ t: Tensor, _ keep: [Int]) -> Tensor {
        let row = t.count / max(1, t.shape[0])
        let out = Tensor(uninitialized: [keep.count] + t.shape.dropFirst())
        for (j, i) in keep.enumerated() { (out.data + j * row).update(from: t.data + i * row, count: row) }
        return out
    }

    static func conv(_ c: Conv2D, keepingOutputs keep: [Int]) -> Conv2D {
        Conv2D(weight: selectRows(c.weight.value, keep), bias: c.bias.map { selectRows($0.value, keep) }, stride: c.stride, pad: c.pad)
    }

    static func bn(_ b: BatchNorm2D, keeping keep: [Int]) -> BatchNorm2D {
        BatchNorm2D(gamma: selectRows(b.gamma.value, keep), beta: selectRows(b.beta.value, keep),
                    runningMean: selectRows(b.state.runningMean, keep), runningVar: selectRows(b.state.runningVar, keep),
                    momentum: b.state.momentum, eps: b.state.eps)
    }

    /// Prune the output channels of `model`'s unit `split` in place, keeping `keep` (ascending, distinct).
    public static func prune(_ model: ResNet, split: String, keep: [Int]) throws {
        _ = try model.unitIndex(of: split)
        guard let unit = model.unit(split) else { throw PruningError.unsupportedUnit(split) }
        let channels = try outputChannels(of: unit, split: split)
        guard !keep.isEmpty, keep == keep.sorted(), Set(keep).count == keep.count, keep.allSatisfy({ $0 >= 0 && $0 < channels }) else {
            throw PruningError.badChannels("kept channels must be distinct, ascending and in 0..<\(channels); got \(keep)")
        }
        switch unit {
        case let u as ConvBNReLU:
            u.conv = conv(u.conv, keepingOutputs: keep); u.bn = bn(u.bn, keeping: keep)
        case let u as ImageNetStem:
            u.conv = conv(u.conv, keepingOutputs: keep); u.bn = bn(u.bn, keeping: keep)
        case let u as BasicBlock:
            u.conv2 = conv(u.conv2, keepingOutputs: keep); u.bn2 = bn(u.bn2, keeping: keep)
            if let s = u.shortcut { u.shortcut = Projection(conv: conv(s.conv, keepingOutputs: keep), bn: bn(s.bn, keeping: keep)) }
            else { u.identityChannels = keep }
        case let u as Bottleneck:
            u.conv3 = conv(u.conv3, keepingOutputs: keep); u.bn3 = bn(u.bn3, keeping: keep)
            if let s = u.shortcut { u.shortcut = Projection(conv: conv(s.conv, keepingOutputs: keep), bn: bn(s.bn, keeping: keep)) }
            else { u.identityChannels = keep }
        default:
            throw PruningError.unsupportedUnit(split)
        }
        // New layers start in training mode; give them the unit's current phase.
        unit.setTraining(unit.isTraining)
    }

    /// Channels a unit produces.
    public static func outputChannels(of unit: Module, split: String) throws -> Int {
        switch unit {
        case let u as ConvBNReLU: return u.bn.channels
        case let u as ImageNetStem: return u.bn.channels
        case let u as BasicBlock: return u.bn2.channels
        case let u as Bottleneck: return u.bn3.channels
        default: throw PruningError.unsupportedUnit(split)
        }
    }
}

// MARK: - The L1 filter-norm ranking (a control for the attention ranking)

extension Pruning {
    /// The convolution whose output filters rank the channels of split unit `split` by Li et al. (2017)'s
    /// criterion, and its tensor name as checkpoints spell it. It is a convolution whose filter j `prune`
    /// removes with channel j:
    /// - the stem (small or ImageNet): its conv (`stem.conv.weight`);
    /// - a residual block with an identity shortcut: its last conv (`conv2` of a BasicBlock, `conv3` of a
    ///   Bottleneck); the shortcut has no weights;
    /// - a residual block with a projection shortcut: the projection's 1×1 conv (`<split>.shortcut.0.weight`),
    ///   as Li et al. §3.5 do ("the second layer of the residual block is pruned with the same filter index as
    ///   selected by the pruning of the shortcut layer"); `prune` removes the same filters of the last conv.
    /// BatchNorm scales are not part of the norm (Li et al. norm the convolution kernels alone).
    public static func filterNormConvolution(of unit: Module, split: String) throws -> (conv: Conv2D, name: String) {
        switch unit {
        case let u as ConvBNReLU: return (u.conv, "\(split).conv.weight")
        case let u as ImageNetStem: return (u.conv, "\(split).conv.weight")
        case let u as BasicBlock: return u.shortcut.map { ($0.conv, "\(split).shortcut.0.weight") } ?? (u.conv2, "\(split).conv2.weight")
        case let u as Bottleneck: return u.shortcut.map { ($0.conv, "\(split).shortcut.0.weight") } ?? (u.conv3, "\(split).conv3.weight")
        default: throw PruningError.unsupportedUnit(split)
        }
    }

    /// s_j = Σ_{c,u,v} |W[j, c, u, v]| for every output filter j of `filterNormConvolution(of:split:)`, summed in
    /// Double; and the name of the tensor normed.
    public static func filterL1Norms(of unit: Module, split: String) throws -> (norms: [Double], weight: String) {
        let (conv, name) = try filterNormConvolution(of: unit, split: split)
        let w = conv.weight.value
        let filters = w.shape[0], per = w.count / max(1, filters)
        let norms = (0..<filters).map { j in (0..<per).reduce(0.0) { $0 + Double(abs(w[j * per + $1])) } }
        return (norms, name)
    }
}
