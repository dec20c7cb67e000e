// A trained (split, V) model as it is deployed, and the link of each of its coded configurations.

import Foundation
import Methods
import FeatureCoding
import PipelineSpec

/// A trained (split, V) model as it is deployed: the AECNN weights of train-recovery and the quantiser ranges
/// of its encode-features stage (`quantizer.json`), from which the link of any codec × width is built. What
/// `aecnn encode`/`decode`, the profiler and the edge server load.
public struct DeployedModel {
    public let model: CoInferenceModel
    public let split: String
    public let ratio: Int
    /// The model id frames carry.
    public let id: String
    /// The full split tensor.
    public let shape: FeatureShape
    /// Carried channels.
    public let kept: [Int]
    public let calibration: QuantizerCalibration
    public let coding: CodingSettings

    public init(model: CoInferenceModel, split: String, ratio: Int, id: String, shape: FeatureShape, kept: [Int],
                calibration: QuantizerCalibration, coding: CodingSettings) {
        self.model = model; self.split = split; self.ratio = ratio; self.id = id; self.shape = shape; self.kept = kept
        self.calibration = calibration; self.coding = coding
    }

    /// The link for a width and codec, with the pipeline's range mode.
    public func link(bits: Int, codec: CodingSettings.Codec) throws -> FeatureLink {
        let q = try LinkCalibration.quantizer(bits: bits, mode: coding.ranges, calibration: calibration, kept: kept, channels: shape.channels)
        return FeatureLink(shape: shape, kept: kept, splitPoint: split, modelID: id, quantizer: q, codec: CodecTable.codec(codec, coding))
    }

    /// What frames for this model leave out (docs/bitstream.md §8).
    public var frameContext: FrameContext { FrameContext(modelID: id, splitPoint: split, shape: shape, channels: kept) }

    /// The calibrated ranges a decoder needs (nil for the min–max modes, whose frames carry their ranges).
    public func fixedRanges() throws -> QuantizationRanges? { try link(bits: 8, codec: .raw).fixedRanges }
}
