// zstd through the system libzstd: one-shot frame compression of a byte array, and decompression into a
// buffer whose size the caller bounds. The frame's own content-size field is untrusted: it is checked
// against the caller's limit before anything is allocated. `ZstdSymbolCodec` adapts this to `SymbolCodec`
// (the payload is a plain zstd frame of the symbol bytes, one byte per element).

import CZstd

/// One-shot zstd compression with bounded decompression.
public enum ZstdCodec {
    /// Compresses `bytes` into one zstd frame (content size recorded, no checksum).
    ///
    /// - Parameters:
    ///   - bytes: the data.
    ///   - level: zstd level, clamped to `ZSTD_minCLevel()…ZSTD_maxCLevel()` (1 fast … 19 slow; 3 default).
    public static func encode(_ bytes: [UInt8], level: Int = 3) throws -> [UInt8] {
        let lvl = Int32(clamping: min(max(level, Int(ZSTD_minCLevel())), Int(ZSTD_maxCLevel())))
        let bound = ZSTD_compressBound(bytes.count)
        if ZSTD_isError(bound) != 0 { throw FeatureCodingError.zstd(operation: "compressBound", message: errorName(bound)) }
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                ZSTD_compress(dst.baseAddress, dst.count, src.baseAddress, src.count, lvl)
            }
        }
        if ZSTD_isError(written) != 0 { throw FeatureCodingError.zstd(operation: "compress", message: errorName(written)) }
        out.removeSubrange(written...)
        return out
    }

    /// Decompresses one zstd frame that must hold exactly `expectedCount` bytes.
    ///
    /// At most `expectedCount` bytes are ever allocated, whatever the frame header claims.
    /// - Throws: `.outputLimitExceeded` when the frame declares or produces more; `.corrupt` when it produces
    ///   fewer or has trailing bytes; `.zstd` for libzstd's own errors (bad magic, checksum, truncation).
    public static func decode(_ bytes: [UInt8], expectedCount: Int) throws -> [UInt8] {
        guard expectedCount >= 0 else { throw FeatureCodingError.outputLimitExceeded(limit: expectedCount) }
        let frameSize = bytes.withUnsafeBytes { ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }
        if ZSTD_isError(frameSize) != 0 {
            throw FeatureCodingError.zstd(operation: "decompress", message: errorName(frameSize))
        }
        guard frameSize == bytes.count else {
            throw FeatureCodingError.corrupt("\(bytes.count - frameSize) bytes after the zstd frame")
        }
        let declared = bytes.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN = -1, ZSTD_CONTENTSIZE_ERROR = -2 (as UInt64).
        if declared == UInt64.max - 1 { throw FeatureCodingError.corrupt("unreadable zstd frame header") }
        if declared != UInt64.max {
            if declared > UInt64(expectedCount) { throw FeatureCodingError.outputLimitExceeded(limit: expectedCount) }
            if declared < UInt64(expectedCount) {
                throw FeatureCodingError.corrupt("zstd frame holds \(declared) bytes, expected \(expectedCount)")
            }
        }
        // One spare byte lets us notice a frame without a content size that decodes to more than expected.
        var out = [UInt8](repeating: 0, count: expectedCount + 1)
        let n = out.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                ZSTD_decompress(dst.baseAddress, dst.count, src.baseAddress, src.count)
            }
        }
        if ZSTD_isError(n) != 0 {
            let name = errorName(n)
            if name.contains("Destination buffer is too small") { throw FeatureCodingError.outputLimitExceeded(limit: expectedCount) }
            throw FeatureCodingError.zstd(operation: "decompress", message: name)
        }
        if n > expectedCount { throw FeatureCodingError.outputLimitExceeded(limit: expectedCount) }
        if n < expectedCount { throw FeatureCodingError.corrupt("zstd frame holds \(n) bytes, expected \(expectedCount)") }
        out.removeLast()
        return out
    }

    private static func errorName(_ code: Int) -> String {
        guard let p = ZSTD_getErrorName(code) else { return "error \(code)" }
        return String(cString: p)
    }
}

/// `SymbolCodec` over zstd: the payload is one zstd frame of the raw symbol bytes (one byte per element).
public struct ZstdSymbolCodec: SymbolCodec {
    /// zstd compression level (1 … 19).
    public let level: Int
    public var name: String { "zstd-\(level)" }

    public init(level: Int = 19) { self.level = level }

    public func encode(_ symbols: [UInt8], shape: FeatureShape, bits: Int) throws -> [UInt8] {
        _ = try validateSymbols(symbols, shape: shape, bits: bits)
        return try ZstdCodec.encode(symbols, level: level)
    }

    public func decode(_ bytes: [UInt8], shape: FeatureShape, bits: Int) throws -> [UInt8] {
        let n = try validateArguments(shape: shape, bits: bits)
        let out = try ZstdCodec.decode(bytes, expectedCount: n)
        if bits < 8 {
            let maxValue = UInt8((1 << bits) - 1)
            if let i = out.firstIndex(where: { $0 > maxValue }) {
                throw FeatureCodingError.corrupt("decoded symbol \(i) = \(out[i]) exceeds \(bits) bits")
            }
        }
        return out
    }
}
