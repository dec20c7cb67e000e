// SHA-256 (FIPS 180-4) in pure Swift: streaming over bytes and over files in fixed-size chunks, hex output.
// Used for checkpoint content hashes and pipeline-settings hashes. It is not constant-time and not meant
// for secrets; it only has to agree with every other SHA-256 (e.g. `sha256sum`).

import Foundation

/// Incremental SHA-256. Feed bytes with `update`, then call `finalize` once.
public struct SHA256: Sendable {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    /// Partial block, `bufferCount` bytes used.
    private var buffer = [UInt8](repeating: 0, count: 64)
    private var bufferCount = 0
    private var totalBytes: UInt64 = 0

    /// Digest length in bytes.
    public static let byteCount = 32

    public init() {}

    /// Absorb `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var left = bytes.count
        totalBytes &+= UInt64(left)
        if bufferCount > 0 {
            let n = min(64 - bufferCount, left)
            for i in 0..<n { buffer[bufferCount + i] = p.load(fromByteOffset: i, as: UInt8.self) }
            bufferCount += n
            p += n
            left -= n
            if bufferCount < 64 { return }
            let block = buffer
            block.withUnsafeBytes { compress($0.baseAddress!) }
            bufferCount = 0
        }
        while left >= 64 {
            compress(UnsafeRawPointer(p))
            p += 64
            left -= 64
        }
        for i in 0..<left { buffer[i] = p.load(fromByteOffset: i, as: UInt8.self) }
        bufferCount = left
    }

    /// Absorb `bytes` (an array, `Data`, a slice...).
    public mutating func update<C: ContiguousBytes>(_ bytes: C) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Pad, process the last block(s) and return the 32-byte digest. Call once.
    public mutating func finalize() -> [UInt8] {
        let bitLength = totalBytes &* 8
        var pad: [UInt8] = [0x80]
        let afterMarker = (bufferCount + 1) % 64
        pad += [UInt8](repeating: 0, count: (56 - afterMarker + 64) % 64)
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        let savedTotal = totalBytes
        update(pad)
        totalBytes = savedTotal
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            out += [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16),
                    UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
        }
        return out
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Digest of `bytes`.
    public static func hash<C: ContiguousBytes>(_ bytes: C) -> [UInt8] {
        var s = SHA256()
        s.update(bytes)
        return s.finalize()
    }

    /// Lower-case hex digest of `bytes` (64 characters).
    public static func hexDigest<C: ContiguousBytes>(_ bytes: C) -> String { hex(hash(bytes)) }

    /// Lower-case hex digest of a string's UTF-8 bytes.
    public static func hexDigest(_ string: String) -> String { hexDigest(Array(string.utf8)) }

    /// Lower-case hex digest of a file's contents, read in 1 MiB chunks (the file is never held in memory).
    /// - Throws: `FileIOError` if the file cannot be opened or read.
    public static func hexDigest(ofFile url: URL) throws -> String {
        var s = SHA256()
        try FileIO.forEachChunk(of: url, chunkSize: 1 << 20) { s.update($0) }
        return hex(s.finalize())
    }

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 &- n)) }

    /// One 64-byte block.
    private mutating func compress(_ block: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
            }
            for i in 16..<64 {
                let s0 = SHA256.rotr(w[i - 15], 7) ^ SHA256.rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = SHA256.rotr(w[i - 2], 17) ^ SHA256.rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = h
            SHA256.k.withUnsafeBufferPointer { k in
                for i in 0..<64 {
                    let s1 = SHA256.rotr(e, 6) ^ SHA256.rotr(e, 11) ^ SHA256.rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                    let s0 = SHA256.rotr(a, 2) ^ SHA256.rotr(a, 13) ^ SHA256.rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    hh = g; g = f; f = e; e = d &+ t1
                    d = c; c = b; b = a; a = t1 &+ t2
                }
            }
            h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
        }
    }
}
