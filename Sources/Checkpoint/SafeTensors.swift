// SafeTensors: the in-memory form of a safetensors file (named tensors in order, plus string metadata) and the
// writer. The format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of
// UTF-8 JSON header padded with spaces so the data starts 8-byte aligned, then the tensors' little-endian bytes
// back to back, with `data_offsets` relative to the start of that buffer. We write F32 (TensorCore `Tensor`) and
// raw I64/U64/I32/U8 arrays; other dtypes (F16, BF16, ...) are not supported. The reader is in
// SafeTensors+Read.swift; docs/checkpoints.md specifies exactly what is written.

import Foundation
import TensorCore

/// Element types we read and write, named as in the safetensors header.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case i64 = "I64"
    case u64 = "U64"
    case i32 = "I32"
    case u8 = "U8"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .i64, .u64: return 8
        case .u8: return 1
        }
    }
}

/// The data of one stored tensor: a float `Tensor`, or a raw integer array with a shape
/// (optimizer step counts, RNG state words, index lists...).
public enum TensorPayload: Equatable, Sendable {
    case f32(Tensor)
    case i64([Int64], shape: [Int])
    case u64([UInt64], shape: [Int])
    case i32([Int32], shape: [Int])
    case u8([UInt8], shape: [Int])

    /// A rank-1 I64 payload.
    public static func vector(_ values: [Int64]) -> TensorPayload { .i64(values, shape: [values.count]) }
    /// A rank-1 U64 payload (e.g. `RNG.stateWords`).
    public static func vector(_ values: [UInt64]) -> TensorPayload { .u64(values, shape: [values.count]) }
    /// A rank-1 I32 payload.
    public static func vector(_ values: [Int32]) -> TensorPayload { .i32(values, shape: [values.count]) }
    /// A rank-1 U8 payload.
    public static func vector(_ values: [UInt8]) -> TensorPayload { .u8(values, shape: [values.count]) }

    public var dtype: DType {
        switch self {
        case .f32: return .f32
        case .i64: return .i64
        case .u64: return .u64
        case .i32: return .i32
        case .u8: return .u8
        }
    }

    public var shape: [Int] {
        switch self {
        case .f32(let t): return t.shape
        case .i64(_, let s), .u64(_, let s), .i32(_, let s), .u8(_, let s): return s
        }
    }

    /// Number of elements actually held (for raw arrays, the array's count).
    public var elementCount: Int {
        switch self {
        case .f32(let t): return t.count
        case .i64(let v, _): return v.count
        case .u64(let v, _): return v.count
        case .i32(let v, _): return v.count
        case .u8(let v, _): return v.count
        }
    }

    /// Bytes this payload occupies in the data buffer.
    public var byteCount: Int { elementCount * dtype.byteSize }

    /// Element-wise (bitwise for floats) equality of dtype, shape and values.
    public static func == (a: TensorPayload, b: TensorPayload) -> Bool {
        switch (a, b) {
        case let (.f32(x), .f32(y)): return x.bitwiseEqual(y)
        case let (.i64(x, s), .i64(y, t)): return x == y && s == t
        case let (.u64(x, s), .u64(y, t)): return x == y && s == t
        case let (.i32(x, s), .i32(y, t)): return x == y && s == t
        case let (.u8(x, s), .u8(y, t)): return x == y && s == t
        default: return false
        }
    }

    /// Call `body` with the payload's little-endian bytes.
    func withLittleEndianBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        #if _endian(big)
        var bytes = [UInt8]()
        switch self {
        case .f32(let t): for x in t.buffer { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        case .i64(let v, _): for x in v { withUnsafeBytes(of: x.littleEndian) { bytes += $0 } }
        case .u64(let v, _): for x in v { withUnsafeBytes(of: x.littleEndian) { bytes += $0 } }
        case .i32(let v, _): for x in v { withUnsafeBytes(of: x.littleEndian) { bytes += $0 } }
        case .u8(let v, _): bytes = v
        }
        return try bytes.withUnsafeBytes(body)
        #else
        switch self {
        case .f32(let t): return try body(UnsafeRawBufferPointer(start: t.data, count: t.count * 4))
        case .i64(let v, _): return try v.withUnsafeBytes(body)
        case .u64(let v, _): return try v.withUnsafeBytes(body)
        case .i32(let v, _): return try v.withUnsafeBytes(body)
        case .u8(let v, _): return try v.withUnsafeBytes(body)
        }
        #endif
    }
}

/// One named tensor of a safetensors file.
public struct NamedTensor: Equatable, Sendable {
    public var name: String
    public var payload: TensorPayload

    public init(_ name: String, _ payload: TensorPayload) {
        self.name = name
        self.payload = payload
    }

    /// A float tensor entry.
    public init(_ name: String, _ tensor: Tensor) { self.init(name, .f32(tensor)) }
}

/// Where a tensor sits in a safetensors file, as described by its header entry.
public struct TensorInfo: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Byte range relative to the start of the data buffer (after the 8-byte length and the header).
    public var dataOffsets: Range<Int>
}

/// A safetensors file's contents: tensors in file order plus the `__metadata__` string map.
public struct SafeTensors: Equatable, Sendable {
    /// Tensors in the order they are (or will be) stored.
    public var tensors: [NamedTensor]
    /// The header's `__metadata__` (string values only). Written with keys sorted; omitted when empty.
    public var metadata: [String: String]

    /// Largest header the reader accepts, as in the reference implementation.
    public static let maxHeaderLength = 100_000_000
    /// Reserved header key holding the metadata.
    public static let metadataKey = "__metadata__"

    public init(tensors: [NamedTensor] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Names in file order.
    public var names: [String] { tensors.map(\.name) }

    /// The payload named `name`, if present.
    public subscript(name: String) -> TensorPayload? {
        tensors.first(where: { $0.name == name })?.payload
    }

    /// The F32 tensor named `name`.
    /// - Throws: `CheckpointError.missingTensor` or `.dtypeMismatch` (with `file` as the path in the message).
    public func tensor(_ name: String, file: String = "<memory>") throws -> Tensor {
        guard let p = self[name] else { throw CheckpointError.missingTensor(file: file, name: name, expectedShape: nil) }
        guard case .f32(let t) = p else {
            throw CheckpointError.dtypeMismatch(file: file, name: name, expected: .f32, found: p.dtype)
        }
        return t
    }

    // MARK: writing

    /// The header entries this value would be written with (offsets assigned in `tensors` order).
    /// - Throws: `SafeTensorsError` for a duplicate or reserved name or a raw array whose count disagrees
    ///   with its shape.
    public func layout(file: String = "<memory>") throws -> [TensorInfo] {
        var seen = Set<String>()
        var offset = 0
        var infos: [TensorInfo] = []
        for t in tensors {
            if t.name == SafeTensors.metadataKey {
                throw SafeTensorsError(file: file, problem: .reservedName)
            }
            guard seen.insert(t.name).inserted else {
                throw SafeTensorsError(file: file, problem: .duplicateName(t.name))
            }
            let shape = t.payload.shape
            guard shape.allSatisfy({ $0 >= 0 }), let n = SafeTensors.product(shape), n == t.payload.elementCount else {
                throw SafeTensorsError(file: file, problem: .invalidEntry(
                    name: t.name, reason: "shape \(shape) does not match its \(t.payload.elementCount) values"))
            }
            infos.append(TensorInfo(name: t.name, dtype: t.payload.dtype, shape: shape,
                                    dataOffsets: offset..<offset + t.payload.byteCount))
            offset += t.payload.byteCount
        }
        return infos
    }

    /// The header bytes, spaces included, that precede the data buffer (without the 8-byte length).
    func headerBytes(_ infos: [TensorInfo]) -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += JSONWriter.quoted(SafeTensors.metadataKey) + ":{"
            json += metadata.keys.sorted().map { JSONWriter.quoted($0) + ":" + JSONWriter.quoted(metadata[$0]!) }
                .joined(separator: ",")
            json += "}"
            first = false
        }
        for info in infos {
            if !first { json += "," }
            first = false
            json += JSONWriter.quoted(info.name)
            json += ":{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":["
            json += info.shape.map(String.init).joined(separator: ",")
            json += "],\"data_offsets\":[\(info.dataOffsets.lowerBound),\(info.dataOffsets.upperBound)]}"
        }
        json += "}"
        var bytes = Array(json.utf8)
        bytes += [UInt8](repeating: 0x20, count: (8 - bytes.count % 8) % 8)
        return bytes
    }

    /// Emit the whole file, in order, through `sink`.
    func emit(file: String, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let infos = try layout(file: file)
        let header = headerBytes(infos)
        try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try sink($0) }
        try header.withUnsafeBytes { try sink($0) }
        for t in tensors { try t.payload.withLittleEndianBytes { try sink($0) } }
    }

    /// The complete file as bytes.
    /// - Throws: `SafeTensorsError` (see `layout`).
    public func encode() throws -> [UInt8] {
        var out: [UInt8] = []
        try emit(file: "<memory>") { out.append(contentsOf: $0) }
        return out
    }

    /// What `write(to:)` wrote.
    public struct WriteResult: Equatable, Sendable {
        /// File length in bytes.
        public var byteCount: Int
        /// Lower-case hex SHA-256 of the file, computed while writing.
        public var sha256: String
    }

    /// Write the file atomically (see `AtomicFile.write(to:_:)`), streaming the tensors without copying them,
    /// and hash it on the way.
    /// - Throws: `SafeTensorsError` (bad names or shapes) or `FileIOError`.
    @discardableResult
    public func write(to url: URL) throws -> WriteResult {
        var hasher = SHA256()
        let n = try AtomicFile.write(to: url) { out in
            try emit(file: url.path) { bytes in
                hasher.update(bytes)
                try out.write(bytes)
            }
        }
        return WriteResult(byteCount: n, sha256: SHA256.hex(hasher.finalize()))
    }

    /// Product of `shape`, nil on overflow at any step (so later code never traps on it).
    static func product(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = m
        }
        return n
    }
}
