// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"):
// a 4-byte magic 0x00 0x00 <type> <rank>, `rank` big-endian UInt32 dimensions, then the elements row-major.
// Only unsigned bytes (type 0x08) are read, which is what both datasets use. Gzip'd or plain.
// Every size is checked against what the file can hold before anything is allocated.

import Foundation

/// One IDX array of unsigned bytes: its dimensions and its elements, row-major.
public struct IDXArray: Equatable, Sendable {
    /// Dimensions, outermost first (for images: count, rows, columns).
    public var dims: [Int]
    /// The elements, `dims.reduce(1, *)` of them.
    public var bytes: [UInt8]

    public init(dims: [Int], bytes: [UInt8]) {
        self.dims = dims
        self.bytes = bytes
    }

    /// The IDX magic for unsigned bytes of rank `rank`: 0x00000801 for labels, 0x00000803 for images.
    public static func magic(rank: Int) -> UInt32 { 0x0000_0800 | UInt32(rank & 0xFF) }

    /// Read an unsigned-byte IDX file of the given rank, gzip'd or plain.
    ///
    /// - Parameters:
    ///   - path: the file.
    ///   - rank: the expected number of dimensions (3 for images, 1 for labels); the magic must be
    ///     `magic(rank:)`.
    ///   - missingHint: the fix offered if the file does not exist.
    /// - Throws: `DatasetError` for a missing or unreadable file, a wrong magic, a zero dimension (other than
    ///   the outermost), a payload shorter or longer than the product of the dimensions, or a damaged gzip stream.
    public static func read(path: String, rank: Int, missingHint: String = "") throws -> IDXArray {
        let reader = try ZlibReader(path: path, missingHint: missingHint)
        let headerBytes = 4 + 4 * rank
        let header = try reader.readBytes(headerBytes)
        if header.count >= 4 {
            let found = bigEndianUInt32(header, at: 0)
            let expected = magic(rank: rank)
            if found != expected {
                throw DatasetError(.badMagic, path: path, expected: "IDX magic \(hex(expected)) (\(describe(rank: rank)))",
                                   found: hex(found) + magicGuess(found),
                                   hint: "check that the file is the right one of the four (images vs labels) and not HTML or a partial download")
            }
        }
        guard header.count == headerBytes else {
            throw DatasetError(.truncated, path: path, expected: "a \(headerBytes)-byte IDX header",
                               found: "\(header.count) bytes", hint: "the file is truncated: download it again")
        }
        var dims: [Int] = []
        for d in 0..<rank { dims.append(Int(bigEndianUInt32(header, at: 4 + 4 * d))) }
        if rank > 1, dims.dropFirst().contains(0) {
            throw DatasetError(.badHeader, path: path, expected: "non-zero element dimensions",
                               found: "dimensions \(dims)", hint: "the file is not a valid IDX file")
        }
        var payload = 1
        for d in dims {
            let (p, overflow) = payload.multipliedReportingOverflow(by: d)
            if overflow {
                throw DatasetError(.badHeader, path: path, expected: "dimensions whose product fits in memory",
                                   found: "dimensions \(dims)", hint: "the header is corrupt: download the file again")
            }
            payload = p
        }
        // Refuse before allocating: a plain file must hold exactly the payload; a gzip file at most 1032:1.
        let room = reader.maxRemainingBytes(afterReading: headerBytes)
        if payload > room {
            throw DatasetError(.truncated, path: path, expected: "\(payload) payload bytes for dimensions \(dims)",
                               found: reader.isPlain ? "\(room) bytes" : "a \(reader.fileSize)-byte gzip file, which cannot hold that many",
                               hint: "the file is truncated or its header is corrupt: download it again")
        }
        if reader.isPlain, room > payload {
            throw overlong(path: path, payload: payload, dims: dims, found: "\(room) bytes")
        }
        let bytes = try reader.readBytes(payload)
        if bytes.count < payload {
            throw DatasetError(.truncated, path: path, expected: "\(payload) payload bytes for dimensions \(dims)",
                               found: "\(bytes.count) bytes", hint: "the file is truncated: download it again")
        }
        if try reader.hasMoreData() {
            throw overlong(path: path, payload: payload, dims: dims, found: "more")
        }
        return IDXArray(dims: dims, bytes: bytes)
    }

    private static func overlong(path: String, payload: Int, dims: [Int], found: String) -> DatasetError {
        DatasetError(.overlong, path: path, expected: "\(payload) payload bytes for dimensions \(dims)", found: found,
                     hint: "the header and the data disagree: the file is corrupt or was concatenated; download it again")
    }

    static func bigEndianUInt32(_ b: [UInt8], at i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    private static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }

    private static func describe(rank: Int) -> String {
        switch rank {
        case 1: return "a labels file"
        case 3: return "an images file"
        default: return "unsigned bytes, rank \(rank)"
        }
    }

    private static func magicGuess(_ found: UInt32) -> String {
        if found & 0xFFFF_FF00 == 0x0000_0800 { return " (an IDX file of rank \(found & 0xFF))" }
        if found >> 16 == 0x1F8B { return " (a gzip stream inside the gzip stream: decompress the file once)" }
        return ""
    }
}
