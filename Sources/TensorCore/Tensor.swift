// Tensor: a dense float32 array with a shape, NCHW by convention for images.
// It owns 64-byte-aligned storage and has reference semantics: ops produce new tensors and never mutate
// their inputs; only optimizers (parameters) and the op that just allocated a tensor write into it.
// It does not know about gradients (Autograd does) or devices (there is only the CPU).

import Foundation

/// Errors a user can cause through shapes or values (never a crash).
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let s): return "shape mismatch: \(s)"
        case .invalidArgument(let s): return "invalid argument: \(s)"
        }
    }
}

public final class Tensor: @unchecked Sendable {
    /// Dimensions, outermost first (N, C, H, W for images).
    public let shape: [Int]
    /// Number of elements, the product of `shape`.
    public let count: Int
    /// Element storage, `count` floats, 64-byte aligned.
    public let data: UnsafeMutablePointer<Float>

    /// Zero-filled tensor of the given shape.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = Tensor.allocate(count)
        data.initialize(repeating: 0, count: count)
    }

    /// Uninitialised tensor: the caller must write every element before it is read.
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = Tensor.allocate(count)
    }

    /// Tensor holding a copy of `values`; `values.count` must equal the product of `shape`.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(uninitialized: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// Tensor filled with one value.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(uninitialized: shape)
        data.update(repeating: value, count: count)
    }

    deinit { BufferPool.release(data, count) }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> { BufferPool.acquire(n) }

    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The elements as a Swift array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Element buffer view.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// A new tensor with the same elements.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// A copy with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        let t = Tensor(uninitialized: newShape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Overwrite the elements with those of `other` (same count).
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    public func fill(_ v: Float) { data.update(repeating: v, count: count) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// Bitwise equality of shape and every element (used for reproducibility checks).
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        shape == other.shape && memcmp(data, other.data, count * 4) == 0
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = (0..<min(count, 8)).map { String(format: "%.4g", data[$0]) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

/// NCHW dimensions of a rank-4 tensor.
public struct NCHW: Equatable, Sendable {
    public var n: Int, c: Int, h: Int, w: Int
    public init(n: Int, c: Int, h: Int, w: Int) { self.n = n; self.c = c; self.h = h; self.w = w }
    public init(_ shape: [Int]) {
        precondition(shape.count == 4, "expected an NCHW shape, got \(shape)")
        self.init(n: shape[0], c: shape[1], h: shape[2], w: shape[3])
    }
    public var array: [Int] { [n, c, h, w] }
    public var plane: Int { h * w }
}
