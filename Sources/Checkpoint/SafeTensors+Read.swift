// SafeTensors reading: validate the 8-byte length, the JSON header and every entry's dtype, shape and offsets
// against the actual file size before allocating anything, then read each tensor straight into its storage.
// Every defect is a `SafeTensorsError` naming the file; nothing here traps on file contents.
// Tensor order is the header's JSON object order.

import Foundation
import Glibc
import TensorCore

extension SafeTensors {
    /// A parsed and validated header: entries in file order, metadata, and where the data buffer starts.
    public struct Header: Equatable, Sendable {
        public var tensors: [TensorInfo]
        public var metadata: [String: String]
        /// File offset of the data buffer (8 + header length; a multiple of 8 for files we write).
        public var dataStart: Int
        /// Length of the data buffer in bytes.
        public var dataLength: Int
    }

    /// Read and validate a safetensors file.
    /// - Throws: `SafeTensorsError` naming `url` and the defect.
    public static func read(from url: URL) throws -> SafeTensors {
        let path = url.path
        return try withOpenFile(path) { fd, size in
            let header = try readHeader(fd: fd, size: size, file: path)
            return try load(header, file: path) { dest, offset, count in
                try FileIO.preadExactly(fd, into: dest, count: count, offset: offset, path: path)
            }
        }
    }

    /// Read and validate only the header of a safetensors file (cheap: no tensor data is read).
    /// - Throws: `SafeTensorsError` naming `url` and the defect.
    public static func readHeader(from url: URL) throws -> Header {
        let path = url.path
        return try withOpenFile(path) { fd, size in try readHeader(fd: fd, size: size, file: path) }
    }

    /// Parse a complete safetensors file held in memory.
    /// - Parameter source: the name used in error messages.
    /// - Throws: `SafeTensorsError`.
    public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> SafeTensors {
        try bytes.withUnsafeBytes { raw in
            let header = try parseHeader(size: raw.count, file: source) { dest, offset, count in
                dest.copyMemory(from: raw.baseAddress! + offset, byteCount: count)
            }
            return try load(header, file: source) { dest, offset, count in
                dest.copyMemory(from: raw.baseAddress! + offset, byteCount: count)
            }
        }
    }

    // MARK: internals

    /// Copies `count` bytes at file offset `offset` into `dest`; callers guarantee the range is inside the file.
    typealias ByteSource = (_ dest: UnsafeMutableRawPointer, _ offset: Int, _ count: Int) throws -> Void

    private static func withOpenFile<R>(_ path: String, _ body: (Int32, Int) throws -> R) throws -> R {
        do {
            let fd = try FileIO.open(path, O_RDONLY)
            defer { close(fd) }
            return try body(fd, try FileIO.size(fd, path: path))
        } catch let e as FileIOError {
            throw SafeTensorsError(file: path, problem: .io(e))
        }
    }

    private static func readHeader(fd: Int32, size: Int, file: String) throws -> Header {
        try parseHeader(size: size, file: file) { dest, offset, count in
            try FileIO.preadExactly(fd, into: dest, count: count, offset: offset, path: file)
        }
    }

    static func parseHeader(size: Int, file: String, source: ByteSource) throws -> Header {
        func fail(_ p: SafeTensorsError.Problem) -> SafeTensorsError { SafeTensorsError(file: file, problem: p) }
        guard size >= 8 else { throw fail(.fileTooShort(size: size)) }
        var lengthLE: UInt64 = 0
        try withUnsafeMutableBytes(of: &lengthLE) { try source($0.baseAddress!, 0, 8) }
        let length = UInt64(littleEndian: lengthLE)
        guard length <= UInt64(maxHeaderLength) else {
            throw fail(.headerLengthTooLarge(length: length, limit: maxHeaderLength))
        }
        guard length <= UInt64(size - 8) else { throw fail(.headerBeyondEnd(length: length, fileSize: size)) }
        let n = Int(length)
        let bytes = try [UInt8](unsafeUninitializedCapacity: n) { buf, initialized in
            if n > 0 { try source(UnsafeMutableRawPointer(buf.baseAddress!), 8, n) }
            initialized = n
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch let e as JSONParseError {
            throw fail(.headerNotJSON(e.description))
        }
        guard let members = json.objectMembers else { throw fail(.headerNotObject) }
        let dataLength = size - 8 - n
        var infos: [TensorInfo] = []
        var metadata: [String: String]?
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else {
                throw fail(name == metadataKey ? .invalidMetadata("it appears twice") : .duplicateName(name))
            }
            if name == metadataKey {
                metadata = try parseMetadata(value, file: file)
                continue
            }
            let info = try parseEntry(name, value, file: file)
            guard info.dataOffsets.upperBound <= dataLength else {
                throw fail(.offsetsOutOfRange(name: name, begin: info.dataOffsets.lowerBound,
                                              end: info.dataOffsets.upperBound, bufferLength: dataLength))
            }
            infos.append(info)
        }
        // Contiguity: sorted by offsets, each tensor must start where the previous ended and the last must end
        // at the end of the file (the reference implementation's rule).
        var expected = 0
        for info in infos.sorted(by: { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) <
                                       ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }) {
            let begin = info.dataOffsets.lowerBound
            if begin < expected { throw fail(.overlap(name: info.name, begin: begin, previousEnd: expected)) }
            if begin > expected { throw fail(.hole(name: info.name, begin: begin, previousEnd: expected)) }
            expected = info.dataOffsets.upperBound
        }
        if expected != dataLength { throw fail(.hole(name: nil, begin: dataLength, previousEnd: expected)) }
        return Header(tensors: infos, metadata: metadata ?? [:], dataStart: 8 + n, dataLength: dataLength)
    }

    private static func parseMetadata(_ value: JSONValue, file: String) throws -> [String: String] {
        guard let members = value.objectMembers else {
            throw SafeTensorsError(file: file, problem: .invalidMetadata("it is not a JSON object"))
        }
        var out: [String: String] = [:]
        for (k, v) in members {
            guard let s = v.stringValue else {
                throw SafeTensorsError(file: file, problem: .invalidMetadata("value of \"\(k)\" is not a string"))
            }
            guard out.updateValue(s, forKey: k) == nil else {
                throw SafeTensorsError(file: file, problem: .invalidMetadata("key \"\(k)\" appears twice"))
            }
        }
        return out
    }

    private static func parseEntry(_ name: String, _ value: JSONValue, file: String) throws -> TensorInfo {
        func bad(_ reason: String) -> SafeTensorsError {
            SafeTensorsError(file: file, problem: .invalidEntry(name: name, reason: reason))
        }
        guard let members = value.objectMembers else { throw bad("the entry is not a JSON object") }
        var fields: [String: JSONValue] = [:]
        for (k, v) in members where fields.updateValue(v, forKey: k) != nil {
            throw bad("field \"\(k)\" appears twice")
        }
        guard let dtypeName = fields["dtype"]?.stringValue else { throw bad("missing or non-string \"dtype\"") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw SafeTensorsError(file: file, problem: .unknownDType(name: name, dtype: dtypeName))
        }
        guard case .array(let dims)? = fields["shape"] else { throw bad("missing or non-array \"shape\"") }
        var shape: [Int] = []
        for d in dims {
            guard let v = d.intValue, v >= 0 else { throw bad("shape entries must be non-negative integers") }
            shape.append(v)
        }
        guard case .array(let offs)? = fields["data_offsets"], offs.count == 2,
              let begin = offs[0].intValue, let end = offs[1].intValue, begin >= 0, end >= 0 else {
            throw bad("\"data_offsets\" must be two non-negative integers [begin, end]")
        }
        guard begin <= end else { throw bad("data_offsets [\(begin), \(end)] end before they begin") }
        let found = end - begin
        guard let count = product(shape) else {
            throw SafeTensorsError(file: file, problem: .byteLengthMismatch(
                name: name, dtype: dtype, shape: shape, expected: nil, found: found))
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == found else {
            throw SafeTensorsError(file: file, problem: .byteLengthMismatch(
                name: name, dtype: dtype, shape: shape, expected: overflow ? nil : bytes, found: found))
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// Read every tensor of a validated header. Sizes are already checked against the file size.
    static func load(_ header: Header, file: String, source: ByteSource) throws -> SafeTensors {
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(header.tensors.count)
        do {
            for info in header.tensors {
                let offset = header.dataStart + info.dataOffsets.lowerBound
                let bytes = info.dataOffsets.count
                let n = bytes / info.dtype.byteSize
                func array<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
                    let a = try [T](unsafeUninitializedCapacity: n) { buf, initialized in
                        if bytes > 0 { try source(UnsafeMutableRawPointer(buf.baseAddress!), offset, bytes) }
                        initialized = n
                    }
                    #if _endian(big)
                    return a.map { T(littleEndian: $0) }
                    #else
                    return a
                    #endif
                }
                let payload: TensorPayload
                switch info.dtype {
                case .f32:
                    let t = Tensor(uninitialized: info.shape)
                    if bytes > 0 { try source(UnsafeMutableRawPointer(t.data), offset, bytes) }
                    #if _endian(big)
                    for i in 0..<t.count { t.data[i] = Float(bitPattern: UInt32(littleEndian: t.data[i].bitPattern)) }
                    #endif
                    payload = .f32(t)
                case .i64: payload = .i64(try array(Int64.self), shape: info.shape)
                case .u64: payload = .u64(try array(UInt64.self), shape: info.shape)
                case .i32: payload = .i32(try array(Int32.self), shape: info.shape)
                case .u8: payload = .u8(try array(UInt8.self), shape: info.shape)
                }
                tensors.append(NamedTensor(info.name, payload))
            }
        } catch let e as FileIOError {
            throw SafeTensorsError(file: file, problem: .io(e))
        }
        return SafeTensors(tensors: tensors, metadata: header.metadata)
    }
}
