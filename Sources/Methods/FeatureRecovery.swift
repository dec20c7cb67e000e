// The AECNN feature-recovery (FR) module (paper §IV-C, eq. 9) and the edge-side bridges that put a received
// tensor back into the full channel layout before the next layer.
//   ZeroFill:          received channels at their original positions, zeros at the pruned ones (CA_Pruned).
//   RecoveryBridge:    received channels at their positions, and the FR CNN's output — computed from ALL
//                      received channels — at the pruned positions (AECNN).

import TensorCore
import Autograd
import NN

/// Settings of the recovery CNN: `layers` 3×3 conv → BN → ReLU layers, hidden width `hidden`.
public struct RecoveryArchitecture: Equatable, Codable, Sendable {
    public var layers: Int
    public var hidden: Int
    public init(layers: Int = 2, hidden: Int = 32) { self.layers = layers; self.hidden = hidden }
}

/// k received channels → C − k regenerated channels.
public final class FeatureRecovery: Module {
    public let net: Sequential

    public init(received: Int, generated: Int, architecture: RecoveryArchitecture, rng: inout RNG) {
        var layers: [(String, Module)] = []
        var cin = received
        for i in 0..<max(1, architecture.layers) {
            let cout = i == max(1, architecture.layers) - 1 ? generated : architecture.hidden
            layers.append(("conv\(i + 1)", Conv2D(cin, cout, kernel: 3, pad: 1, rng: &rng)))
            layers.append(("bn\(i + 1)", BatchNorm2D(cout)))
            layers.append(("relu\(i + 1)", ReLULayer()))
            cin = cout
        }
        net = Sequential(layers)
    }

    public override var children: [(String, Module)] { net.layers }
    public override func forward(_ x: Variable) -> Variable { net(x) }
}

/// ReLU as a module (for Sequential).
public final class ReLULayer: Module {
    public override func forward(_ x: Variable) -> Variable { relu(x) }
}

/// Received channels back at their positions, zeros elsewhere.
public final class ZeroFill: Module {
    public let kept: [Int]
    public let channels: Int
    public init(kept: [Int], channels: Int) { self.kept = kept; self.channels = channels }
    public override func forward(_ x: Variable) -> Variable { scatterChannels(x, kept, channels: channels) }
}

/// Received channels at their positions plus recovered channels at the pruned positions.
public final class RecoveryBridge: Module {
    public let kept: [Int]
    public let pruned: [Int]
    public let channels: Int
    public let recovery: FeatureRecovery

    public init(kept: [Int], channels: Int, architecture: RecoveryArchitecture, seed: UInt64) {
        self.kept = kept
        self.channels = channels
        let keptSet = Set(kept)
        self.pruned = (0..<channels).filter { !keptSet.contains($0) }
        var rng = RNG(seed: seed)
        recovery = FeatureRecovery(received: kept.count, generated: channels - kept.count, architecture: architecture, rng: &rng)
    }

    public override var children: [(String, Module)] { [("recovery", recovery)] }

    public override func forward(_ x: Variable) -> Variable {
        if pruned.isEmpty { return scatterChannels(x, kept, channels: channels) }
        return scatterChannels(x, kept, channels: channels) + scatterChannels(recovery(x), pruned, channels: channels)
    }
}
