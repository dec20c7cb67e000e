// The coded link between the device half and the edge half of a (split, V) model: the carried channels of
// one image go through the quantiser and a codec into an AEFC frame (docs/bitstream.md), and back. The
// `encode-features` stage, `aecnn encode`/`decode` and training with the quantiser in the loop all use this
// one type, so what is measured, what is trained against and what is sent are the same arithmetic.
//
// Calibrated ranges ("fixed" modes) are computed once from training images through the device half and kept
// with the model (`quantizer.json`); the frames then carry no ranges at all.

import Foundation
import TensorCore
import Autograd
import Datasets
import Methods
import FeatureCoding
import Checkpoint
import PipelineSpec

public struct FeatureLink {
    /// The full split tensor, `C × H × W`.
    public let shape: FeatureShape
    /// Carried channel indices, ascending.
    public let kept: [Int]
    public let splitPoint: String
    public let modelID: String
    public let quantizer: Quantizer
    public let codec: FeatureCodec
    /// The frame format sent: 2, compact (the receiver knows the model: `context`), or 1, self-describing.
    public let frameVersion: Int

    public init(shape: FeatureShape, kept: [Int], splitPoint: String, modelID: String, quantizer: Quantizer, codec: FeatureCodec,
                frameVersion: Int = FeatureBitstream.compactVersion) {
        self.shape = shape; self.kept = kept; self.splitPoint = splitPoint; self.modelID = modelID
        self.quantizer = quantizer; self.codec = codec; self.frameVersion = frameVersion
    }

    /// What a receiver of this link's compact frames knows about the model.
    public var context: FrameContext { FrameContext(modelID: modelID, splitPoint: splitPoint, shape: shape, channels: kept) }

    /// The calibrated ranges for the fixed modes (nil for the min–max modes).
    public var fixedRanges: QuantizationRanges? {
        switch quantizer.ranges {
        case .fixedPerTensor, .fixedPerChannel: return quantizer.ranges
        case .perTensor, .perChannel: return nil
        }
    }

    /// Elements carried per image, `K · H · W`.
    public var carriedCount: Int { kept.count * shape.height * shape.width }

    /// One image's frame: the quantised symbols and the encoded bytes.
    public func encode(_ values: [Float]) throws -> (bytes: [UInt8], symbols: [UInt8]) {
        var frame = try FeatureFrame(values: values, shape: shape, channels: kept, modelID: modelID,
                                     splitPoint: splitPoint, quantizer: quantizer, codec: codec)
        frame.header.version = frameVersion
        return (try FeatureBitstream.encode(frame), frame.symbols)
    }

    /// Decodes one frame meant for this link: the dequantised carried channels `K × H × W`.
    /// - Throws: `FeatureBitstreamError` for a malformed frame, `FeatureLinkError.mismatch` for a frame of
    ///   another model, split point, shape or channel set.
    public func decode(_ bytes: [UInt8]) throws -> (values: [Float], frame: FeatureFrame) {
        let frame = try FeatureBitstream.decode(bytes, contexts: [context])
        try check(frame.header)
        return (try frame.dequantized(fixed: fixedRanges), frame)
    }

    /// Whether a frame's header is for this link.
    public func check(_ h: FeatureFrameHeader) throws {
        if let m = context.mismatch(h) { throw FeatureLinkError.mismatch(field: m.field, expected: m.expected, found: m.found) }
        if h.quantizerMode != quantizer.ranges.mode {
            throw FeatureLinkError.mismatch(field: "quantiser mode", expected: "\(quantizer.ranges.mode)", found: "\(h.quantizerMode)")
        }
    }

    /// Quantise then dequantise every image of a batch `[N, K, H, W]` exactly as the real link does (the same
    /// `Quantizer` arithmetic, no entropy coding, which is lossless). Used to train with the quantiser in the
    /// loop and checked against the real encode/decode in the tests.
    public func roundTrip(_ batch: Tensor) throws -> Tensor {
        let per = carriedCount
        precondition(batch.rank == 4 && batch.shape[1] == kept.count && batch.count % max(per, 1) == 0, "roundTrip: batch shape \(batch.shape)")
        let out = Tensor(uninitialized: batch.shape)
        let src = batch.buffer, dst = out.buffer
        let plane = shape.height * shape.width
        for s in 0..<(batch.count / per) {
            let values = Array(src[(s * per)..<((s + 1) * per)])
            let q = try quantizer.quantize(values, shape: shape, channels: kept)
            let x = try Quantizer.dequantize(q.symbols, channelRanges: q.channelRanges, planeSize: plane, bits: quantizer.bits)
            for i in 0..<per { dst[s * per + i] = x[i] }
        }
        return out
    }

    /// The link as a differentiable op: forward is `roundTrip`; backward the identity inside the quantiser's
    /// range and 0 where the forward clamps (clipped straight-through), so that training with fixed ranges
    /// cannot push the features out of them. The min–max modes never clamp.
    public func straightThrough(_ x: Variable) -> Variable {
        Autograd.straightThrough(x, passing: { self.insideRange($0) }) { t in (try? self.roundTrip(t)) ?? t }
    }

    /// 1 where a value of the batch `[N, K, H, W]` lies inside its channel's quantiser range, else 0.
    public func insideRange(_ batch: Tensor) -> Tensor {
        let gate = Tensor(uninitialized: batch.shape)
        let plane = shape.height * shape.width, per = carriedCount
        let ranges: [QuantizerRange]?
        switch quantizer.ranges {
        case .fixedPerChannel(let rs): ranges = kept.map { rs[$0] }
        case .fixedPerTensor(let r): ranges = Array(repeating: r, count: kept.count)
        case .perTensor, .perChannel: ranges = nil
        }
        for i in 0..<batch.count {
            guard let rs = ranges else { gate[i] = 1; continue }
            let r = rs[(i % max(per, 1)) / max(plane, 1)]
            let v = batch[i]
            gate[i] = v >= r.lo && v <= r.hi ? 1 : 0
        }
        return gate
    }
}

public enum FeatureLinkError: Error, CustomStringConvertible, Equatable {
    case mismatch(field: String, expected: String, found: String)
    public var description: String {
        switch self {
        case let .mismatch(field, expected, found):
            return "the frame's \(field) is \(found), but this model expects \(expected). Fix: decode with the pipeline, split and ratio that encoded it"
        }
    }
}

/// Calibration and persistence of the quantiser's ranges.
public enum LinkCalibration {
    /// Per-channel min–max of the carried channels over the first `count` training images (no augmentation),
    /// through `device`.
    public static func calibrate(_ device: (Variable) -> Variable, images: LabeledImages, count: Int,
                                 normalization: Normalization, carried: Int) throws -> QuantizerCalibration {
        let sample = images.subset(first: min(count, images.count))
        var calibration: QuantizerCalibration?
        var unused = RNG(seed: 0)
        for r in Batching.batchRanges(count: sample.count, batchSize: 250) {
            let (x, _) = try Batching.makeBatch(sample, indices: r, normalization: normalization, augmentation: nil, rng: &unused)
            let f = GradMode.withoutGrad { device(Variable(x)).value }
            precondition(f.rank == 4 && f.shape[1] == carried, "calibrate: device output \(f.shape), expected \(carried) channels")
            if calibration == nil { calibration = QuantizerCalibration(channels: carried) }
            try calibration!.add(f.array, shape: FeatureShape(channels: f.shape[1], height: f.shape[2], width: f.shape[3]))
        }
        guard let c = calibration else { throw QuantizerError.noCalibrationData }
        return c
    }

    /// The quantiser for a range mode. Fixed per-channel ranges are indexed by the full tensor's channels;
    /// channels that are not carried get a placeholder [0, 1] that is never used.
    public static func quantizer(bits: Int, mode: CodingSettings.RangeMode, calibration: QuantizerCalibration?,
                                 kept: [Int], channels: Int) throws -> Quantizer {
        switch mode {
        case .perTensor: return try Quantizer(bits: bits, ranges: .perTensor)
        case .perChannel: return try Quantizer(bits: bits, ranges: .perChannel)
        case .fixedPerTensor:
            guard let r = calibration?.tensorRange else { throw QuantizerError.noCalibrationData }
            return try Quantizer(bits: bits, ranges: .fixedPerTensor(r))
        case .fixedPerChannel:
            guard let rs = calibration?.channelRanges, rs.count == kept.count else { throw QuantizerError.noCalibrationData }
            var full = [QuantizerRange](repeating: QuantizerRange(lo: 0, hi: 1), count: channels)
            for (k, c) in kept.enumerated() { full[c] = rs[k] }
            return try Quantizer(bits: bits, ranges: .fixedPerChannel(full))
        }
    }

    /// `quantizer.json`: the calibrated ranges of the carried channels, bit patterns included so that the
    /// edge reads exactly the floats the device used.
    public struct QuantizerFile: Codable, Sendable {
        public struct Range: Codable, Sendable {
            public var channel: Int?
            public var lo: Double?
            public var hi: Double?
            public var loBits: UInt32?
            public var hiBits: UInt32?
            init(channel: Int?, lo: Double?, hi: Double?, loBits: UInt32?, hiBits: UInt32?) {
                self.channel = channel; self.lo = lo; self.hi = hi; self.loBits = loBits; self.hiBits = hiBits
            }
            init(channel: Int?, _ r: QuantizerRange) {
                self.channel = channel; lo = Double(r.lo); hi = Double(r.hi); loBits = r.lo.bitPattern; hiBits = r.hi.bitPattern
            }
        }
        public var kept: [Int]
        public var calibrationImages: Int
        public var channelRanges: [Range]
        /// Empty (`{}`) when the calibration has no tensor range.
        public var tensorRange: Range
    }

    public static func file(_ c: QuantizerCalibration, kept: [Int], images: Int) -> QuantizerFile {
        let rs = c.channelRanges ?? []
        return QuantizerFile(kept: kept, calibrationImages: images, channelRanges: zip(kept, rs).map { QuantizerFile.Range(channel: $0, $1) },
                             tensorRange: c.tensorRange.map { QuantizerFile.Range(channel: nil, $0) }
                                 ?? QuantizerFile.Range(channel: nil, lo: nil, hi: nil, loBits: nil, hiBits: nil))
    }

    /// Writes `quantizer.json`.
    public static func write(_ c: QuantizerCalibration, kept: [Int], images: Int, to url: URL) throws {
        try AtomicFile.write(try SnakeCaseJSON.encoder().encode(file(c, kept: kept, images: images)), to: url)
    }

    /// Reads `quantizer.json` back into a calibration-equivalent list of carried-channel ranges.
    public static func ranges(fromJSON url: URL) throws -> (kept: [Int], channelRanges: [QuantizerRange], tensorRange: QuantizerRange) {
        guard let data = try? SafeRead.contents(of: url, limit: SafeRead.recordLimit), let file = try? SnakeCaseJSON.decoder().decode(QuantizerFile.self, from: data) else {
            throw CoInferenceError("\(url.path) is missing or not a quantizer description. Fix: run the encode-features stage for this split and ratio")
        }
        func range(_ d: QuantizerFile.Range) throws -> QuantizerRange {
            guard let l = d.loBits, let h = d.hiBits else {
                throw CoInferenceError("\(url.path): a range without lo_bits/hi_bits. Fix: rerun encode-features with --force")
            }
            return QuantizerRange(lo: Float(bitPattern: l), hi: Float(bitPattern: h))
        }
        return (file.kept, try file.channelRanges.map(range), try range(file.tensorRange))
    }
}

extension QuantizerCalibration {
    /// A calibration holding exactly these ranges (for ranges read back from `quantizer.json`).
    public static func fromRanges(_ rs: [QuantizerRange]) throws -> QuantizerCalibration {
        var c = QuantizerCalibration(channels: rs.count)
        // Two one-pixel tensors: one at every channel's lo, one at its hi.
        try c.add(rs.map(\.lo), shape: FeatureShape(channels: rs.count, height: 1, width: 1))
        try c.add(rs.map(\.hi), shape: FeatureShape(channels: rs.count, height: 1, width: 1))
        return c
    }
}
