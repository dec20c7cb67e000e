// Element-wise ops: add, subtract, multiply, scale, ReLU, sigmoid, and whole-tensor sums.
// Large tensors are split across the worker threads; each element is computed independently, so results
// do not depend on the thread count.

import TensorCore
import Foundation

/// Raw tensor kernels shared by the ops' forward and backward closures.
public enum Kernels {
    /// Element count above which element-wise loops are split across threads.
    static let parallelThreshold = 1 << 16

    @inline(__always)
    static func map(_ n: Int, _ body: (Range<Int>) -> Void) {
        if n >= parallelThreshold { Parallel.forChunks(n, minChunk: parallelThreshold / 2) { _, r in body(r) } }
        else { body(0..<n) }
    }

    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape)
        let pa = a.data, pb = b.data, py = y.data
        map(a.count) { r in simdMap(pa, pb, py, r) { $0 + $1 } }
        return y
    }

    public static func sub(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "sub: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape)
        let pa = a.data, pb = b.data, py = y.data
        map(a.count) { r in simdMap(pa, pb, py, r) { $0 - $1 } }
        return y
    }

    public static func mul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "mul: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape)
        let pa = a.data, pb = b.data, py = y.data
        map(a.count) { r in simdMap(pa, pb, py, r) { $0 * $1 } }
        return y
    }

    public static func scale(_ a: Tensor, _ s: Float) -> Tensor {
        let y = Tensor(uninitialized: a.shape)
        let pa = a.data, py = y.data
        map(a.count) { r in simdMap(pa, py, r) { $0 * s } }
        return y
    }

    public static func relu(_ a: Tensor) -> Tensor {
        let y = Tensor(uninitialized: a.shape)
        let pa = a.data, py = y.data
        map(a.count) { r in simdMap(pa, py, r) { $0.replacing(with: 0, where: $0 .< 0) } }
        return y
    }

    /// gy where y > 0, else 0 (ReLU's backward from its output).
    public static func reluBackward(_ gy: Tensor, output y: Tensor) -> Tensor {
        let gx = Tensor(uninitialized: y.shape)
        let pg = gy.data, py = y.data, px = gx.data
        map(y.count) { r in simdMap(pg, py, px, r) { g, y in g.replacing(with: 0, where: y .<= 0) } }
        return gx
    }

    public static func sigmoid(_ a: Tensor) -> Tensor {
        let y = Tensor(uninitialized: a.shape)
        let pa = a.data, py = y.data
        map(a.count) { r in for i in r { py[i] = 1 / (1 + expf(-pa[i])) } }
        return y
    }

    /// Sum of all elements, accumulated in SIMD lanes then in Double (order fixed by index).
    public static func sum(_ a: Tensor) -> Float { Float(sum(a.data, a.count)) }

    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var total = Double(acc.sum())
        while i < n { total += Double(p[i]); i += 1 }
        return total
    }

    /// Σ a[i]·b[i] (SIMD lanes, then Double).
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
                * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var total = Double(acc.sum())
        while i < n { total += Double(a[i] * b[i]); i += 1 }
        return total
    }
}

// MARK: - Ops

public func + (a: Variable, b: Variable) -> Variable {
    precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
    return Variable(op: Kernels.add(a.value, b.value), parents: [a, b]) { gy in
        // ∂(a+b)/∂a = ∂(a+b)/∂b = 1
        a.accumulate(gy)
        b.accumulate(gy)
    }
}

public func - (a: Variable, b: Variable) -> Variable {
    precondition(a.shape == b.shape, "sub: \(a.shape) vs \(b.shape)")
    return Variable(op: Kernels.sub(a.value, b.value), parents: [a, b]) { gy in
        a.accumulate(gy)
        if b.requiresGrad { b.accumulate(Kernels.scale(gy, -1)) }
    }
}

public func * (a: Variable, b: Variable) -> Variable {
    precondition(a.shape == b.shape, "mul: \(a.shape) vs \(b.shape)")
    let av = a.value, bv = b.value
    return Variable(op: Kernels.mul(av, bv), parents: [a, b]) { gy in
        if a.requiresGrad { a.accumulate(Kernels.mul(gy, bv)) }   // aGrad = gy·b
        if b.requiresGrad { b.accumulate(Kernels.mul(gy, av)) }   // bGrad = gy·a
    }
}

public func * (a: Variable, s: Float) -> Variable {
    Variable(op: Kernels.scale(a.value, s), parents: [a]) { gy in a.accumulate(Kernels.scale(gy, s)) }
}

public func relu(_ x: Variable) -> Variable {
    let y = Kernels.relu(x.value)
    return Variable(op: y, parents: [x]) { gy in x.accumulate(Kernels.reluBackward(gy, output: y)) }
}

public func sigmoid(_ x: Variable) -> Variable {
    let y = Kernels.sigmoid(x.value)
    return Variable(op: y, parents: [x]) { gy in
        // σ' = σ(1−σ)
        let gx = Tensor(uninitialized: y.shape)
        for i in 0..<y.count { let s = y[i]; gx[i] = gy[i] * s * (1 - s) }
        x.accumulate(gx)
    }
}

/// Sum of every element, as a [1] tensor.
public func sum(_ x: Variable) -> Variable {
    let s = Tensor(shape: [1], values: [Kernels.sum(x.value)])
    return Variable(op: s, parents: [x]) { gy in x.accumulate(Tensor(shape: x.shape, repeating: gy[0])) }
}

/// Same elements, another shape (a copy; the gradient is reshaped back).
public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
    let inShape = x.shape
    return Variable(op: x.value.reshaped(shape), parents: [x]) { gy in x.accumulate(gy.reshaped(inShape)) }
}

/// Identity in the backward pass around an arbitrary, non-differentiable forward function of the same
/// shape (straight-through estimator: quantisers, codecs, channel noise).
public func straightThrough(_ x: Variable, _ forward: (Tensor) -> Tensor) -> Variable {
    let y = forward(x.value)
    precondition(y.shape == x.shape, "straightThrough: the forward function changed the shape")
    return Variable(op: y, parents: [x]) { gy in x.accumulate(gy) }
}

/// Straight-through with a gate: the gradient passes unchanged where `pass(x)` is 1 and is stopped where it
/// is 0 — for a quantiser, the values its forward clamps to the range (the "clipped" straight-through
/// estimator). Without the gate, nothing holds the features inside the range: training can drive them past
/// it, where the clamped forward no longer changes and the float features stop meaning what the edge learnt.
/// - Parameter pass: 0/1 of `x`'s shape, from `x`'s value.
public func straightThrough(_ x: Variable, passing pass: (Tensor) -> Tensor, _ forward: (Tensor) -> Tensor) -> Variable {
    let y = forward(x.value)
    precondition(y.shape == x.shape, "straightThrough: the forward function changed the shape")
    let gate = pass(x.value)
    precondition(gate.shape == x.shape, "straightThrough: the gate has another shape")
    return Variable(op: y, parents: [x]) { gy in
        let g = Tensor(uninitialized: gy.shape)
        for i in 0..<gy.count { g[i] = gy[i] * gate[i] }
        x.accumulate(g)
    }
}
