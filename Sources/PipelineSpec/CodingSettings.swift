// CodingSettings: how the transmitted features are quantised and entropy-coded — the optional top-level
// `coding:` section of a pipeline file. With it, the pipeline gains the `encode-features` stage.
//
//   coding:
//     codecs: [arith-context, zstd]  # arith-context | arith-context4 | arith-context3 | arith-order0 | zstd | raw
//     bits: [8, 4]                   # quantiser widths, 1…8
//     zstd_level: 19
//     ranges: fixed-per-channel      # per-tensor | per-channel (min–max sent per image) |
//                                    # fixed-per-tensor | fixed-per-channel (calibrated on training images)
//     calibration_images: 2000       # training images that calibrate the fixed ranges
//                                    # (features are measured on the pipeline's whole test set: every accuracy
//                                    # of a report is on the same images)
//     recovery_training_bits: 4      # optional: train-recovery trains with this quantiser in the loop

public struct CodingSettings: Equatable, Codable, Sendable {
    public enum Codec: String, Equatable, Codable, Sendable, CaseIterable {
        case arithContext = "arith-context", arithContext4 = "arith-context4", arithContext3 = "arith-context3", arithOrder0 = "arith-order0", zstd, raw
    }
    public enum RangeMode: String, Equatable, Codable, Sendable, CaseIterable {
        case perTensor = "per-tensor", perChannel = "per-channel"
        case fixedPerTensor = "fixed-per-tensor", fixedPerChannel = "fixed-per-channel"
        public var isFixed: Bool { self == .fixedPerTensor || self == .fixedPerChannel }
    }

    public var codecs: [Codec]
    public var bits: [Int]
    public var zstdLevel: Int
    public var ranges: RangeMode
    public var calibrationImages: Int
    /// When set, `train-recovery` fine-tunes with this quantiser (and `ranges`) in the loop, straight-through.
    public var recoveryTrainingBits: Int?

    public init(codecs: [Codec] = [.arithContext, .zstd], bits: [Int] = [8, 4], zstdLevel: Int = 19,
                ranges: RangeMode = .fixedPerChannel, calibrationImages: Int = 2000,
                recoveryTrainingBits: Int? = nil) {
        self.codecs = codecs
        self.bits = bits
        self.zstdLevel = zstdLevel
        self.ranges = ranges
        self.calibrationImages = calibrationImages
        self.recoveryTrainingBits = recoveryTrainingBits
    }

    static let keys = ["codecs", "bits", "zstd_level", "ranges", "calibration_images", "test_images", "recovery_training_bits"]

    public init(yaml value: YAMLValue) throws {
        let d = CodingSettings()
        let map = try value.mapping(knownKeys: Self.keys)
        let codecs: [Codec] = try map.get("codecs", default: d.codecs) { try $0.distinctList("codec") { try $0.oneOf(Codec.self) } }
        let bits: [Int] = try map.get("bits", default: d.bits) { list in
            try list.distinctList("bit width") { item in let b = try item.int(); try item.require((1...8).contains(b), "a bit width from 1 to 8"); return b }
        }
        let level = try map.get("zstd_level", default: d.zstdLevel) { v in
            let l = try v.int(); try v.require((1...22).contains(l), "a zstd level from 1 to 22"); return l
        }
        let ranges = try map.get("ranges", default: d.ranges) { try $0.oneOf(RangeMode.self) }
        let calibration = try map.get("calibration_images", default: d.calibrationImages) { try $0.int(atLeast: 1) }
        if let test = map.optional("test_images") {
            throw test.error(.invalidValue, "coding.test_images is no longer read: coded features are measured on the pipeline's whole test set, so that every accuracy of a report is on the same images",
                             hint: "remove it; to measure on fewer images, set dataset.test_subset")
        }
        let training: Int? = try map.optional("recovery_training_bits").map { v in
            let b = try v.int(); try v.require((1...8).contains(b), "a bit width from 1 to 8"); return b
        }
        self.init(codecs: codecs, bits: bits, zstdLevel: level, ranges: ranges, calibrationImages: calibration,
                  recoveryTrainingBits: training)
    }
}
