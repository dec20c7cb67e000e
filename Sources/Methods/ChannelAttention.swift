// The AECNN channel-attention (CA) module (paper §IV-B, eq. 5–7): global average pooling and global max
// pooling of the split tensor, each normalised across channels per sample, (a − μ)/√(σ² + ε), summed,
// sigmoid → one weight per channel, multiplied into the features. It has no parameters: training the
// network with it inserted teaches the network which channels matter, and the mean of the attention map over
// the training set (eq. 8) ranks the channels. It is removed before pruning and never runs on the device.

import TensorCore
import Autograd
import NN

public final class ChannelAttention: Module {
    public let eps: Float

    public init(eps: Float = 1e-5) { self.eps = eps }

    /// Q = sigmoid(norm(AvgPool(x)) + norm(MaxPool(x))): [N, C, H, W] → [N, C].
    public func attention(_ x: Variable) -> Variable {
        sigmoid(normalizeAcrossChannels(globalAvgPool(x), eps: eps) + normalizeAcrossChannels(globalMaxPool(x), eps: eps))
    }

    public override func forward(_ x: Variable) -> Variable { mulChannels(x, attention(x)) }
}

/// Channel importance from attention maps, and the channels kept at a compression ratio.
public enum ChannelRanking {
    /// Channel indices ordered from most to least important (ties: lower index first).
    public static func order(importance: [Double]) -> [Int] {
        importance.indices.sorted { importance[$0] != importance[$1] ? importance[$0] > importance[$1] : $0 < $1 }
    }

    /// Number of channels kept at ratio V: C / V, at least one.
    public static func keptCount(channels: Int, ratio: Int) -> Int { max(1, channels / max(1, ratio)) }

    /// The C/V most important channels, in ascending channel order (the order they are computed and sent in).
    public static func kept(order: [Int], ratio: Int) -> [Int] {
        Array(order.prefix(keptCount(channels: order.count, ratio: ratio))).sorted()
    }

    /// Spearman rank correlation between two importance vectors (the Fig. 4 stability check).
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        func ranks(_ v: [Double]) -> [Double] {
            var r = [Double](repeating: 0, count: v.count)
            for (rank, i) in order(importance: v).enumerated() { r[i] = Double(rank) }
            return r
        }
        let ra = ranks(a), rb = ranks(b), n = Double(a.count)
        guard n > 1 else { return 1 }
        let d2 = zip(ra, rb).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return 1 - 6 * d2 / (n * (n * n - 1))
    }
}
