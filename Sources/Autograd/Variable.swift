// Reverse-mode differentiation over whole-tensor ops.
//
// A `Variable` is a node: its value, its accumulated gradient, its parents and a closure that, given the
// gradient of the output, hands each parent its share (`accumulate`). `backward()` runs those closures in
// reverse topological order, so any graph works: branches that rejoin, shared inputs, frozen parameters
// (requiresGrad false: nothing flows into them). Every op's backward is written by hand next to its forward.
//
// Ownership rule that makes gradient accumulation safe without copies: a backward closure may hand a parent
// the incoming gradient tensor itself, or a tensor it just allocated, and nobody mutates a gradient in place;
// a second contribution creates a new sum. Intermediate gradients and saved tensors are released as soon as
// backward has passed a node, which keeps peak memory near that of the forward pass.

import TensorCore

public final class Variable {
    /// Current value; for parameters, optimizers update it in place.
    public var value: Tensor
    /// Gradient of the loss with respect to `value`, after `backward()`; nil until something flows in.
    public var grad: Tensor?
    /// Whether gradients flow into this node. False for data, and for frozen parameters.
    public var requiresGrad: Bool
    /// Optional name (parameters carry their checkpoint name).
    public var name: String?

    var parents: [Variable]
    var backwardFn: ((Tensor) -> Void)?

    /// A leaf: data (requiresGrad false) or a parameter (true).
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
        self.parents = []
        self.backwardFn = nil
    }

    init(op value: Tensor, parents: [Variable], backward: @escaping (Tensor) -> Void) {
        self.value = value
        self.name = nil
        if GradMode.isEnabled && parents.contains(where: { $0.requiresGrad }) {
            self.requiresGrad = true
            self.parents = parents
            self.backwardFn = backward
        } else {
            self.requiresGrad = false
            self.parents = []
            self.backwardFn = nil
        }
    }

    public var shape: [Int] { value.shape }
    public var isLeaf: Bool { backwardFn == nil && parents.isEmpty }

    /// Add `g` to this node's gradient (no-op when it does not require one).
    @inline(__always)
    func accumulate(_ g: Tensor) {
        guard requiresGrad else { return }
        if let existing = grad {
            grad = Kernels.add(existing, g)
        } else {
            grad = g
        }
    }

    /// Back-propagate from this node. `seed` defaults to ones (a scalar loss gets 1).
    /// Leaves keep their gradients; intermediate nodes release theirs and their saved tensors.
    public func backward(seed: Tensor? = nil) {
        guard requiresGrad else { return }
        // Iterative post-order DFS: order lists each node after all of its parents.
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (node, i) = stack.popLast() {
            if i < node.parents.count {
                stack.append((node, i + 1))
                let p = node.parents[i]
                if p.requiresGrad && !visited.contains(ObjectIdentifier(p)) {
                    visited.insert(ObjectIdentifier(p))
                    stack.append((p, 0))
                }
            } else {
                order.append(node)
            }
        }
        accumulate(seed ?? Tensor(shape: value.shape, repeating: 1))
        for node in order.reversed() {
            guard let fn = node.backwardFn else { continue }
            if let g = node.grad { fn(g) }
            node.backwardFn = nil
            node.parents = []
            node.grad = nil
        }
    }

    /// This value cut off from the graph (no gradient flows through it).
    public func detached() -> Variable { Variable(value, requiresGrad: false) }
}

/// Whether ops record the graph. Evaluation code wraps itself in `GradMode.withoutGrad`.
public enum GradMode {
    nonisolated(unsafe) public private(set) static var isEnabled = true

    /// Turns recording off for the rest of the process: for inference-only processes (the edge server) whose
    /// threads run forward passes concurrently, where `withoutGrad`'s save/restore of this process-wide flag
    /// would race.
    public static func disableForInferenceProcess() { isEnabled = false }

    public static func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isEnabled
        isEnabled = false
        defer { isEnabled = saved }
        return try body()
    }
}
