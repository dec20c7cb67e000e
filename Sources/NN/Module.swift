// Modules: containers of named parameters, buffers and child modules, with a training/inference phase.
// Parameters are listed explicitly by each module (no reflection); names are dotted paths
// ("block1.conv1.weight") and are the keys of checkpoints, in PyTorch's naming style where one exists.

import TensorCore
import Autograd

open class Module {
    /// Training phase (batch statistics in BatchNorm) or inference phase (running statistics).
    public private(set) var isTraining = true

    public init() {}

    /// Parameters owned directly by this module, in a fixed order.
    open var localParameters: [(String, Variable)] { [] }
    /// Non-trained state owned directly by this module (e.g. running statistics).
    open var localBuffers: [(String, Tensor)] { [] }
    /// Child modules in a fixed order.
    open var children: [(String, Module)] { [] }

    open func forward(_ x: Variable) -> Variable { x }

    public func callAsFunction(_ x: Variable) -> Variable { forward(x) }

    /// Switch this module and all its children to training (true) or inference (false).
    public func setTraining(_ on: Bool) {
        isTraining = on
        for (_, c) in children { c.setTraining(on) }
    }

    /// Every parameter below this module with its dotted name.
    public func namedParameters(prefix: String = "") -> [(String, Variable)] {
        var out = localParameters.map { (prefix + $0.0, $0.1) }
        for (name, c) in children { out += c.namedParameters(prefix: prefix + name + ".") }
        return out
    }

    /// Every buffer below this module with its dotted name.
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        var out = localBuffers.map { (prefix + $0.0, $0.1) }
        for (name, c) in children { out += c.namedBuffers(prefix: prefix + name + ".") }
        return out
    }

    /// Parameters and buffers as one ordered list of tensors (what a checkpoint stores).
    public func stateTensors(prefix: String = "") -> [(String, Tensor)] {
        namedParameters(prefix: prefix).map { ($0.0, $0.1.value) } + namedBuffers(prefix: prefix)
    }

    /// Number of trainable scalars.
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.1.value.count } }

    /// Make only parameters whose name starts with one of `prefixes` trainable (empty: all).
    public func setTrainable(prefixes: [String]) {
        for (name, p) in namedParameters() {
            p.requiresGrad = prefixes.isEmpty || prefixes.contains { name.hasPrefix($0) }
        }
    }
}

/// Errors loading state into a module.
public enum ModuleStateError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case shape(name: String, expected: [Int], found: [Int])
    case unexpected([String])

    public var description: String {
        switch self {
        case .missing(let n): return "tensor '\(n)' is missing from the checkpoint (was it saved from a different model?)"
        case .shape(let n, let e, let f): return "tensor '\(n)' has shape \(f), the model expects \(e) (a different architecture or width?)"
        case .unexpected(let names): return "the checkpoint has tensors this model does not: \(names.prefix(5).joined(separator: ", "))\(names.count > 5 ? ", …" : "")"
        }
    }
}

extension Module {
    /// Copy parameter and buffer values from `tensors` (by name). Shapes must match exactly; with
    /// `strict`, names the model does not have are an error too.
    public func loadState(_ tensors: [String: Tensor], strict: Bool = true) throws {
        let own = stateTensors()
        for (name, t) in own {
            guard let src = tensors[name] else { throw ModuleStateError.missing(name) }
            guard src.shape == t.shape else { throw ModuleStateError.shape(name: name, expected: t.shape, found: src.shape) }
        }
        if strict {
            let known = Set(own.map { $0.0 })
            let extra = tensors.keys.filter { !known.contains($0) }.sorted()
            if !extra.isEmpty { throw ModuleStateError.unexpected(extra) }
        }
        for (name, t) in own { t.assign(tensors[name]!) }
    }
}
