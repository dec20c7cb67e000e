// A base network split in two with an optional bridge between the halves:
//   device:  input → units up to and including the split unit (pruned or not)
//   bridge:  what the edge does first with what it received (channel attention during training, zero-fill,
//            or feature recovery)
//   edge:    the remaining units → logits
// Parameter names are the base network's ("stem.conv.weight", …) plus "bridge.…", so base checkpoints load
// directly.

import TensorCore
import Autograd
import NN
import Models

public final class CoInferenceModel: Module {
    public let base: ResNet
    public let split: String
    public let bridge: Module?
    /// What happens to the features on the way (e.g. quantisation with a straight-through gradient while
    /// training with the quantiser in the loop); nil passes them unchanged. Holds no parameters.
    public var transmit: ((Variable) -> Variable)?

    public init(base: ResNet, split: String, bridge: Module?) throws {
        _ = try base.unitIndex(of: split)
        self.base = base
        self.split = split
        self.bridge = bridge
    }

    public override var children: [(String, Module)] {
        var c = base.units
        if let bridge { c.append(("bridge", bridge)) }
        return c
    }

    /// What the device computes and sends.
    public func device(_ x: Variable) -> Variable { try! base.forwardDevice(x, split: split) }

    /// What the edge computes from what it received.
    public func edge(_ received: Variable) -> Variable {
        let f = bridge.map { $0(received) } ?? received
        return try! base.forwardEdge(f, split: split)
    }

    public override func forward(_ x: Variable) -> Variable {
        let sent = device(x)
        return edge(transmit.map { $0(sent) } ?? sent)
    }

    /// Shape of what the device half sends for one input of shape [C, H, W]: [1, C', H', W'].
    public func splitShape(inputShape: [Int]) -> [Int] {
        let was = isTraining
        setTraining(false)
        defer { setTraining(was) }
        return GradMode.withoutGrad { device(Variable(Tensor(zeros: [1] + inputShape))).shape }
    }

    /// FLOPs of the device half for one input of shape [C, H, W].
    public func deviceFLOPs(inputShape: [Int]) -> Int {
        let was = isTraining
        setTraining(false)
        defer { setTraining(was) }
        return FlopCounter.measure { _ = GradMode.withoutGrad { device(Variable(Tensor(zeros: [1] + inputShape))) } }
    }

    /// FLOPs of the bridge (e.g. the recovery CNN) for one received tensor of shape [k, H, W].
    public func bridgeFLOPs(receivedShape: [Int]) -> Int {
        guard let bridge else { return 0 }
        let was = isTraining
        setTraining(false)
        defer { setTraining(was) }
        return FlopCounter.measure { _ = GradMode.withoutGrad { bridge(Variable(Tensor(zeros: [1] + receivedShape))) } }
    }
}
