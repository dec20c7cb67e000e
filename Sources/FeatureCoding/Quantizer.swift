// Uniform n-bit quantisation of feature values (n = 1…8) to the symbols the coders see, and back. Values are
// `[Float]` in channel-major C × H × W order. The range [lo, hi] comes from the tensor itself (per tensor or
// per channel min–max, sent in the bitstream) or from a calibration stored with the model (fixed, not sent).
// The dequantisation formula is written so that every IEEE-754 machine gets the same Float bits: the decoder
// must reproduce values exactly (formulas in docs/bitstream.md, section 4). This file knows nothing about the
// container format (FeatureBitstream.swift) or tensors (the adapter lives one level up).

/// A closed quantisation interval `[lo, hi]` (finite, `lo ≤ hi`, `hi − lo` finite).
public struct QuantizerRange: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var lo: Float
    public var hi: Float

    /// - Parameters: `lo` ≤ `hi`, both finite (checked by `validate`, not here).
    public init(lo: Float, hi: Float) {
        self.lo = lo
        self.hi = hi
    }

    public var description: String { "[\(lo), \(hi)]" }

    /// Why the range is unusable, or nil: non-finite bounds, `lo > hi`, or a span `hi − lo` that overflows.
    public var problem: String? {
        if !lo.isFinite || !hi.isFinite { return "a bound is not finite" }
        if lo > hi { return "lo > hi" }
        if !(hi - lo).isFinite { return "hi − lo overflows Float" }
        return nil
    }

    /// Throws `QuantizerError.invalidRange` when `problem` is not nil; `what` names the range in the message.
    public func validate(_ what: String) throws {
        if let p = problem { throw QuantizerError.invalidRange(what: what, lo: lo, hi: hi, problem: p) }
    }

    /// Distance between adjacent reconstruction levels: `(hi − lo) / levels` (one Float division).
    public func step(levels: Int) -> Float { (hi - lo) / Float(levels) }
}

/// How a quantiser's range is chosen; the raw value is the bitstream's quantiser-mode byte.
public enum QuantizerMode: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// Min–max of the whole (carried) tensor; one range is sent (BottleNet's quantiser).
    case perTensor = 0
    /// Min–max of each carried channel; one range per carried channel is sent.
    case perChannel = 1
    /// One calibrated range stored with the model; nothing is sent.
    case fixedPerTensor = 2
    /// One calibrated range per channel of the full tensor, stored with the model; nothing is sent.
    case fixedPerChannel = 3

    /// Number of ranges a frame carrying `channelCount` channels sends in this mode.
    public func transmittedRangeCount(channelCount: Int) -> Int {
        switch self {
        case .perTensor: return 1
        case .perChannel: return channelCount
        case .fixedPerTensor, .fixedPerChannel: return 0
        }
    }

    public var description: String {
        switch self {
        case .perTensor: return "per-tensor"
        case .perChannel: return "per-channel"
        case .fixedPerTensor: return "fixed-per-tensor"
        case .fixedPerChannel: return "fixed-per-channel"
        }
    }
}

/// The range policy of a `Quantizer`, with the calibrated ranges of the fixed modes.
public enum QuantizationRanges: Equatable, Sendable {
    /// Min–max of the tensor being quantised.
    case perTensor
    /// Min–max of each channel being quantised.
    case perChannel
    /// A calibrated range for the whole tensor (e.g. `QuantizerCalibration.tensorRange`).
    case fixedPerTensor(QuantizerRange)
    /// One calibrated range per channel of the **full** split tensor (`C` entries, indexed by channel).
    case fixedPerChannel([QuantizerRange])

    /// The bitstream mode.
    public var mode: QuantizerMode {
        switch self {
        case .perTensor: return .perTensor
        case .perChannel: return .perChannel
        case .fixedPerTensor: return .fixedPerTensor
        case .fixedPerChannel: return .fixedPerChannel
        }
    }
}

/// Symbols plus the ranges they were quantised with.
public struct QuantizedFeatures: Equatable, Sendable {
    /// One symbol per value, `< 2^bits`, same order as the input (`K × H × W`).
    public var symbols: [UInt8]
    /// The range used for each carried channel (`K` entries, also in the fixed and per-tensor modes).
    public var channelRanges: [QuantizerRange]
    /// The ranges a bitstream must carry: 1 (per tensor), `K` (per channel) or none (fixed).
    public var transmittedRanges: [QuantizerRange]
}

/// Uniform scalar quantiser: `bits` ∈ 1…8, `levels = 2^bits − 1`.
///
/// Quantise (`x` finite, `[lo, hi]` the range):
/// `q = 0` if `hi == lo` or `x ≤ lo`; `q = levels` if `x ≥ hi`; else
/// `q = roundHalfAway(((x − lo) / (hi − lo)) · levels)`, each operation one rounded Float operation in this
/// order (BottleNet's `round((F − min)/(max − min)·(2^n − 1))`, clamped).
///
/// Dequantise: `step = (hi − lo) / Float(levels)` once per range, then `x̂ = lo + Float(q) · step`, a Float
/// multiply and a Float add, each rounded to nearest-even (Swift never contracts them into a fused
/// multiply-add), so any IEEE-754 binary32 implementation reproduces `x̂` bit for bit. `x̂(levels)` may differ
/// from `hi` by rounding. For `x` in `[lo, hi]`, `|x − x̂| ≤ step/2` up to a few Float roundings.
public struct Quantizer: Equatable, Sendable {
    /// Symbol width, 1…8.
    public let bits: Int
    /// Range policy.
    public let ranges: QuantizationRanges

    /// - Throws: `QuantizerError.invalidBits`, or `.invalidRange` for an unusable calibrated range.
    public init(bits: Int, ranges: QuantizationRanges) throws {
        guard (1...8).contains(bits) else { throw QuantizerError.invalidBits(bits) }
        switch ranges {
        case .fixedPerTensor(let r): try r.validate("fixed tensor range")
        case .fixedPerChannel(let rs):
            for (c, r) in rs.enumerated() { try r.validate("fixed range of channel \(c)") }
        case .perTensor, .perChannel: break
        }
        self.bits = bits
        self.ranges = ranges
    }

    /// `2^bits − 1`, the largest symbol.
    public var levels: Int { (1 << bits) - 1 }

    /// Quantises the carried channels of a feature tensor.
    ///
    /// - Parameters:
    ///   - values: the carried channels only, channel-major `K × H × W` in the order of `channels`; finite.
    ///   - shape: the full split tensor `C × H × W`.
    ///   - channels: the carried channel indices (each `< C`); nil carries all `C` channels. Only the
    ///     fixed-per-channel mode uses them (to pick each channel's calibrated range).
    /// - Throws: `QuantizerError.countMismatch` (values or calibration size), `.nonFiniteValue`,
    ///   `.invalidChannel`, `.invalidRange` (a min–max span that overflows Float).
    public func quantize(_ values: [Float], shape: FeatureShape, channels: [Int]? = nil) throws -> QuantizedFeatures {
        guard shape.elementCount != nil else {
            throw QuantizerError.countMismatch(what: "elements of shape \(shape) (negative or overflowing dimension)", expected: 0, found: values.count)
        }
        let carried = channels ?? Array(0..<shape.channels)
        for c in carried where c < 0 || c >= shape.channels {
            throw QuantizerError.invalidChannel("channel index \(c) is outside 0..<\(shape.channels)")
        }
        let plane = shape.height * shape.width // ≤ C·H·W unless C = 0, when no index passes the check above
        let (expected, overflow) = carried.count.multipliedReportingOverflow(by: plane)
        guard !overflow else { throw QuantizerError.invalidChannel("\(carried.count) channels of \(plane) elements overflow Int") }
        guard values.count == expected else {
            throw QuantizerError.countMismatch(what: "values for \(carried.count) channels of \(shape.height)×\(shape.width)", expected: expected, found: values.count)
        }
        if let i = values.firstIndex(where: { !$0.isFinite }) { throw QuantizerError.nonFiniteValue(index: i, value: values[i]) }

        var channelRanges: [QuantizerRange]
        var transmitted: [QuantizerRange] = []
        switch ranges {
        case .perTensor:
            let r = Self.minMax(values[...])
            try r.validate("min–max range of the tensor")
            channelRanges = Array(repeating: r, count: carried.count)
            transmitted = [r]
        case .perChannel:
            channelRanges = try (0..<carried.count).map { k in
                let r = Self.minMax(values[(k * plane)..<((k + 1) * plane)])
                try r.validate("min–max range of channel \(carried[k])")
                return r
            }
            transmitted = channelRanges
        case .fixedPerTensor(let r):
            channelRanges = Array(repeating: r, count: carried.count)
        case .fixedPerChannel(let rs):
            guard rs.count == shape.channels else {
                throw QuantizerError.countMismatch(what: "calibrated channel ranges", expected: shape.channels, found: rs.count)
            }
            channelRanges = carried.map { rs[$0] }
        }
        var symbols = [UInt8](repeating: 0, count: values.count)
        let levels = self.levels
        for k in 0..<carried.count {
            let r = channelRanges[k]
            for i in (k * plane)..<((k + 1) * plane) { symbols[i] = Self.quantize(values[i], in: r, levels: levels) }
        }
        return QuantizedFeatures(symbols: symbols, channelRanges: channelRanges, transmittedRanges: transmitted)
    }

    /// One value to a symbol (the type's formula). NaN maps to 0; callers reject non-finite input first.
    @inline(__always)
    public static func quantize(_ x: Float, in r: QuantizerRange, levels: Int) -> UInt8 {
        guard r.hi > r.lo, x > r.lo else { return 0 } // constant range: no division by zero
        guard x < r.hi else { return UInt8(levels) }
        let t = ((x - r.lo) / (r.hi - r.lo)) * Float(levels)
        return UInt8(min(t.rounded(.toNearestOrAwayFromZero), Float(levels)))
    }

    /// One symbol to a value: `lo + Float(q) · step` with `step = r.step(levels:)` precomputed.
    @inline(__always)
    public static func dequantize(_ q: UInt8, lo: Float, step: Float) -> Float { lo + Float(q) * step }

    /// Dequantises `K × H × W` symbols with one range per carried channel.
    ///
    /// - Parameters:
    ///   - symbols: `K · planeSize` symbols, channel-major.
    ///   - channelRanges: `K` ranges (channel `k` uses `channelRanges[k]`).
    ///   - planeSize: `H · W`.
    ///   - bits: 1…8.
    /// - Throws: `QuantizerError.invalidBits`, `.countMismatch`.
    public static func dequantize(_ symbols: [UInt8], channelRanges: [QuantizerRange], planeSize: Int, bits: Int) throws -> [Float] {
        guard (1...8).contains(bits) else { throw QuantizerError.invalidBits(bits) }
        let (n, overflow) = channelRanges.count.multipliedReportingOverflow(by: max(planeSize, 0))
        guard !overflow, symbols.count == n else {
            throw QuantizerError.countMismatch(what: "symbols for \(channelRanges.count) channels of \(planeSize) elements", expected: n, found: symbols.count)
        }
        let levels = (1 << bits) - 1
        var out = [Float](repeating: 0, count: symbols.count)
        for (k, r) in channelRanges.enumerated() {
            let step = r.step(levels: levels)
            for i in (k * planeSize)..<((k + 1) * planeSize) { out[i] = dequantize(symbols[i], lo: r.lo, step: step) }
        }
        return out
    }

    /// `[min, max]` of finite values; `[0, 0]` for none.
    static func minMax(_ v: ArraySlice<Float>) -> QuantizerRange {
        guard var lo = v.first else { return QuantizerRange(lo: 0, hi: 0) }
        var hi = lo
        for x in v {
            lo = Swift.min(lo, x)
            hi = Swift.max(hi, x)
        }
        return QuantizerRange(lo: lo, hi: hi)
    }
}

/// Accumulates the ranges of the fixed quantiser modes over many tensors (a calibration set).
///
/// Plain running min and max, per tensor and per channel — not a percentile: one outlier widens the range
/// for good, so calibrate on representative inputs. Values outside a calibrated range are clamped by the
/// quantiser. The result goes into the model's metadata, not into the bitstream.
public struct QuantizerCalibration: Equatable, Sendable {
    /// Channels `C` of the tensors this calibration accepts.
    public let channels: Int
    /// Tensors added so far.
    public private(set) var tensorCount = 0
    private var mins: [Float]
    private var maxs: [Float]
    private var seen: [Bool]

    /// - Parameter channels: `C` of the full split tensor (≥ 0).
    public init(channels: Int) {
        self.channels = max(channels, 0)
        mins = Array(repeating: .infinity, count: self.channels)
        maxs = Array(repeating: -.infinity, count: self.channels)
        seen = Array(repeating: false, count: self.channels)
    }

    /// Adds one or more full tensors (`C × H × W` each, back to back).
    /// - Throws: `QuantizerError.countMismatch` (wrong channel count or a length that is not a whole number
    ///   of tensors), `.nonFiniteValue`.
    public mutating func add(_ values: [Float], shape: FeatureShape) throws {
        guard shape.channels == channels, let per = shape.elementCount else {
            throw QuantizerError.countMismatch(what: "channels of the calibration tensor \(shape)", expected: channels, found: shape.channels)
        }
        guard per > 0 ? values.count % per == 0 : values.isEmpty else {
            throw QuantizerError.countMismatch(what: "values (a whole number of \(shape) tensors)", expected: values.count / max(per, 1) * per, found: values.count)
        }
        if let i = values.firstIndex(where: { !$0.isFinite }) { throw QuantizerError.nonFiniteValue(index: i, value: values[i]) }
        guard per > 0 else { return }
        let plane = shape.height * shape.width
        for t in 0..<(values.count / per) {
            for c in 0..<channels {
                let start = t * per + c * plane
                let r = Quantizer.minMax(values[start..<(start + plane)])
                mins[c] = min(mins[c], r.lo)
                maxs[c] = max(maxs[c], r.hi)
                seen[c] = true
            }
            tensorCount += 1
        }
    }

    /// The min–max over all channels of all tensors, or nil before any non-empty tensor.
    public var tensorRange: QuantizerRange? {
        guard let rs = channelRanges else { return nil }
        return QuantizerRange(lo: rs.map(\.lo).min()!, hi: rs.map(\.hi).max()!)
    }

    /// The min–max of each channel (`C` entries), or nil before any non-empty tensor.
    public var channelRanges: [QuantizerRange]? {
        guard channels > 0, seen.allSatisfy({ $0 }) else { return nil }
        return (0..<channels).map { QuantizerRange(lo: mins[$0], hi: maxs[$0]) }
    }

    /// The fixed range policy this calibration gives.
    /// - Parameter perChannel: one range per channel (`.fixedPerChannel`) or one for the tensor.
    /// - Throws: `QuantizerError.noCalibrationData` before any non-empty tensor was added.
    public func ranges(perChannel: Bool) throws -> QuantizationRanges {
        guard let rs = channelRanges, let t = tensorRange else { throw QuantizerError.noCalibrationData }
        return perChannel ? .fixedPerChannel(rs) : .fixedPerTensor(t)
    }
}

/// A quantiser or calibration could not use its input.
public enum QuantizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `bits` outside 1…8.
    case invalidBits(Int)
    /// A value to quantise or calibrate on is NaN or infinite.
    case nonFiniteValue(index: Int, value: Float)
    /// A range with a non-finite bound, `lo > hi`, or a span that overflows Float.
    case invalidRange(what: String, lo: Float, hi: Float, problem: String)
    /// A count (values, ranges, channels) differs from what the shape implies.
    case countMismatch(what: String, expected: Int, found: Int)
    /// A carried channel index is outside the tensor or the list is malformed.
    case invalidChannel(String)
    /// `QuantizerCalibration.ranges` before any tensor was added.
    case noCalibrationData
    /// Fixed-mode symbols were dequantised without the model's calibrated ranges, or with the wrong kind.
    case missingFixedRanges(expected: String, found: String)

    public var description: String {
        switch self {
        case .invalidBits(let b):
            return "quantiser bits = \(b), expected 1…8. Fix: choose a bit width between 1 and 8."
        case .nonFiniteValue(let i, let v):
            return "value \(i) is \(v), expected a finite number. Fix: check the layer before the split for NaN/inf."
        case .invalidRange(let what, let lo, let hi, let p):
            return "\(what) [\(lo), \(hi)] is invalid: \(p); expected finite lo ≤ hi with a finite span. Fix: recalibrate or check the features."
        case .countMismatch(let what, let e, let f):
            return "\(what): expected \(e), found \(f). Fix: pass values, shape and channel list of the same tensor."
        case .invalidChannel(let what):
            return "invalid channel list: \(what). Fix: pass strictly increasing indices below C."
        case .noCalibrationData:
            return "the calibration has seen no tensor. Fix: add calibration tensors before asking for ranges."
        case .missingFixedRanges(let e, let f):
            return "dequantising a fixed-range frame needs the model's calibrated ranges: expected \(e), found \(f). Fix: pass the ranges stored with the model named in the frame."
        }
    }
}
