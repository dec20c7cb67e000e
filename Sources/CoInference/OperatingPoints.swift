// The coordinates co-inference is addressed by: an operating point (split, V), a coded configuration of it
// (codec, bits), and what encode-features measured for each configuration (CodedRow). Shared by the
// pipeline's stages and reports, the profiler, the planner, the device client and the edge server.

import Foundation
import Datasets
import FeatureCoding
import PipelineSpec

/// Where the network is cut and how many times fewer channels cross the link: the coordinates of every
/// per-split, per-ratio result.
public struct OperatingPoint: Hashable, Codable, Comparable, CustomStringConvertible, Sendable {
    public var split: String
    public var ratio: Int
    public init(split: String, ratio: Int) { self.split = split; self.ratio = ratio }
    public var description: String { "\(split) V=\(ratio)" }
    public static func < (a: OperatingPoint, b: OperatingPoint) -> Bool { (a.split, a.ratio) < (b.split, b.ratio) }
}

/// A coded configuration of an AECNN operating point: codec and quantiser width.
public struct CodedConfiguration: Hashable, Codable, CustomStringConvertible, Sendable {
    public var point: OperatingPoint
    public var codec: CodingSettings.Codec
    public var bits: Int
    public init(point: OperatingPoint, codec: CodingSettings.Codec, bits: Int) { self.point = point; self.codec = codec; self.bits = bits }
    /// "stem V=16 arith-context 4-bit".
    public var description: String { "\(point) \(codec.rawValue) \(bits)-bit" }
}

/// One coded configuration measured through the real encoder, frame and decoder.
public struct CodedRow: Codable, Sendable {
    public var split: String
    public var ratio: Int
    public var codec: CodingSettings.Codec
    public var codecId: String
    public var bits: Int
    public var ranges: CodingSettings.RangeMode
    public var accuracy: Double
    public var floatAccuracy: Double
    public var frameBytesMean: Double
    public var frameBytesP50: Int
    public var frameBytesP99: Int
    public var payloadBytesMean: Double
    public var bitsPerElement: Double
    public var order0EntropyBits: Double
    public var compressionRatio: Double
    public var compressionRatioFrame: Double
    public var encodeMsPerImage: Double
    public var decodeMsPerImage: Double
    public var encodeMbPerS: Double
    public var decodeMbPerS: Double
    public var carriedShape: [Int]
    public var splitShape: [Int]
    /// Each test image's predicted class through this configuration (absent in results written before they were kept).
    public var predictions: TestPredictions?

    public init(split: String, ratio: Int, codec: CodingSettings.Codec, codecId: String, bits: Int, ranges: CodingSettings.RangeMode, accuracy: Double, floatAccuracy: Double, frameBytesMean: Double, frameBytesP50: Int, frameBytesP99: Int, payloadBytesMean: Double, bitsPerElement: Double, order0EntropyBits: Double, compressionRatio: Double, compressionRatioFrame: Double, encodeMsPerImage: Double, decodeMsPerImage: Double, encodeMbPerS: Double, decodeMbPerS: Double, carriedShape: [Int], splitShape: [Int]) {
        self.split = split; self.ratio = ratio; self.codec = codec; self.codecId = codecId; self.bits = bits; self.ranges = ranges; self.accuracy = accuracy; self.floatAccuracy = floatAccuracy; self.frameBytesMean = frameBytesMean; self.frameBytesP50 = frameBytesP50; self.frameBytesP99 = frameBytesP99; self.payloadBytesMean = payloadBytesMean; self.bitsPerElement = bitsPerElement; self.order0EntropyBits = order0EntropyBits; self.compressionRatio = compressionRatio; self.compressionRatioFrame = compressionRatioFrame; self.encodeMsPerImage = encodeMsPerImage; self.decodeMsPerImage = decodeMsPerImage; self.encodeMbPerS = encodeMbPerS; self.decodeMbPerS = decodeMbPerS; self.carriedShape = carriedShape; self.splitShape = splitShape
    }

    public var configuration: CodedConfiguration { CodedConfiguration(point: OperatingPoint(split: split, ratio: ratio), codec: codec, bits: bits) }
}


/// The one JSON style of aecnn's files and replies (result.json, quantizer.json, reports, the edge server's
/// answers): snake_case keys, sorted, NaN and ∞ refused; pretty-printed for files, compact on the wire.
public enum SnakeCaseJSON {
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .throw
        return e
    }
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }
}

/// A co-inference file or setting that cannot be used, with the fix.
public struct CoInferenceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The one table from a pipeline's codec names to frame codecs (and their parameters).
public enum CodecTable {
    public static func codec(_ c: CodingSettings.Codec, _ settings: CodingSettings) -> FeatureCodec {
        switch c {
        case .arithContext: return .arithmeticContext
        case .arithContext4: return .arithmeticContext4(cdfShift: 6)
        case .arithContext3: return .arithmeticContext3(rateLimit: 30)
        case .arithOrder0: return .arithmeticOrder0
        case .zstd: return .zstd(level: settings.zstdLevel)
        case .raw: return .raw
        }
    }
}
