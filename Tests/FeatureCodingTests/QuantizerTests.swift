// Tests of the quantiser, its calibration and CRC-32: the documented formulas (bit-exact dequantisation),
// the half-step error bound for every bit width and range mode, constant tensors and channels, negative
// ranges, clamping to calibrated ranges, and the typed errors for unusable input.

import FeatureCoding
import XCTest

/// Channel-major `C × H × W` test features: ReLU-like (a third zeros) or signed, each channel on its own scale.
func testFeatures(_ shape: FeatureShape, seed: UInt64, signed: Bool = false) -> [Float] {
    var rng = TestRNG(seed: seed)
    let plane = shape.height * shape.width
    var out: [Float] = []
    for c in 0..<shape.channels {
        let scale = Float(0.5 + Double(c % 4))
        for _ in 0..<plane {
            let u = Float(rng.unit())
            out.append(signed ? (u - 0.4) * scale : (u < 0.33 ? 0 : u * scale))
        }
    }
    return out
}

final class QuantizerTests: XCTestCase {
    func testCRC32CheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([]), 0)
        XCTAssertEqual(CRC32.checksum([0]), 0xD202_EF8D)
        let a: [UInt8] = Array("hello, ".utf8), b: [UInt8] = Array("world".utf8)
        let split = b.withUnsafeBufferPointer { CRC32.update(CRC32.checksum(a), $0) }
        XCTAssertEqual(split, CRC32.checksum(a + b))
        XCTAssertEqual(CRC32.checksum(a + b, range: 0..<a.count), CRC32.checksum(a))
    }

    func testScalarFormulas() {
        let r = QuantizerRange(lo: 0, hi: 1)
        XCTAssertEqual(Quantizer.quantize(0, in: r, levels: 255), 0)
        XCTAssertEqual(Quantizer.quantize(1, in: r, levels: 255), 255)
        XCTAssertEqual(Quantizer.quantize(-5, in: r, levels: 255), 0)     // clamped
        XCTAssertEqual(Quantizer.quantize(7, in: r, levels: 255), 255)    // clamped
        XCTAssertEqual(Quantizer.quantize(0.5, in: r, levels: 1), 1)      // tie rounds away from zero
        XCTAssertEqual(Quantizer.quantize(0.49, in: r, levels: 1), 0)
        XCTAssertEqual(Quantizer.quantize(0.5, in: r, levels: 3), 2)      // 1.5 → 2
        XCTAssertEqual(Quantizer.quantize(.nan, in: r, levels: 3), 0)
        // A constant range never divides by zero.
        XCTAssertEqual(Quantizer.quantize(3, in: QuantizerRange(lo: 3, hi: 3), levels: 255), 0)
        // Dequantisation: step = (hi − lo) / levels, then lo + q·step; pinned bit patterns.
        let neg = QuantizerRange(lo: -1.5, hi: 2.25)
        let step = neg.step(levels: 15)
        XCTAssertEqual(step.bitPattern, Float(0.25).bitPattern)
        XCTAssertEqual(Quantizer.dequantize(0, lo: neg.lo, step: step), -1.5)
        XCTAssertEqual(Quantizer.dequantize(15, lo: neg.lo, step: step), 2.25)
        XCTAssertEqual(Quantizer.dequantize(7, lo: neg.lo, step: step), 0.25)
        let odd = QuantizerRange(lo: 0.1, hi: 0.7)
        let s = odd.step(levels: 255)
        XCTAssertEqual(s.bitPattern, ((Float(0.7) - Float(0.1)) / 255).bitPattern)
        XCTAssertEqual(Quantizer.dequantize(200, lo: 0.1, step: s).bitPattern, (Float(0.1) + Float(200) * s).bitPattern)
        XCTAssertEqual(Quantizer.dequantize(200, lo: 0.1, step: s).bitPattern, 0x3F12_1212)
    }

    /// |x − x̂| ≤ step/2 (plus Float rounding) in every mode, bit width and shape, signed or not.
    func testHalfStepErrorBound() throws {
        for shape in [FeatureShape(channels: 1, height: 1, width: 1), FeatureShape(channels: 3, height: 5, width: 7),
                      FeatureShape(channels: 4, height: 2, width: 9)] {
            for signed in [false, true] {
                let x = testFeatures(shape, seed: UInt64(shape.channels), signed: signed)
                var cal = QuantizerCalibration(channels: shape.channels)
                try cal.add(x, shape: shape)
                let policies: [QuantizationRanges] = [.perTensor, .perChannel, try cal.ranges(perChannel: false), try cal.ranges(perChannel: true)]
                for policy in policies {
                    for bits in 1...8 {
                        let q = try Quantizer(bits: bits, ranges: policy)
                        let out = try q.quantize(x, shape: shape)
                        XCTAssertTrue(out.symbols.allSatisfy { Int($0) <= q.levels })
                        let back = try Quantizer.dequantize(out.symbols, channelRanges: out.channelRanges,
                                                            planeSize: shape.height * shape.width, bits: bits)
                        let plane = shape.height * shape.width
                        for i in 0..<x.count {
                            let r = out.channelRanges[i / plane]
                            let step = r.step(levels: q.levels)
                            let tolerance = step / 2 * 1.0001 + 4 * max(abs(r.lo), abs(r.hi)).ulp
                            XCTAssertLessThanOrEqual(abs(x[i] - back[i]), tolerance, "\(shape) \(policy.mode) bits \(bits) i \(i)")
                        }
                        XCTAssertEqual(out.transmittedRanges.count, policy.mode.transmittedRangeCount(channelCount: shape.channels))
                    }
                }
            }
        }
    }

    func testConstantTensorAndChannel() throws {
        let shape = FeatureShape(channels: 2, height: 2, width: 2)
        let constant: [Float] = Array(repeating: 0.75, count: 8)
        for policy: QuantizationRanges in [.perTensor, .perChannel] {
            let q = try Quantizer(bits: 4, ranges: policy)
            let out = try q.quantize(constant, shape: shape)
            XCTAssertEqual(out.symbols, Array(repeating: 0, count: 8))
            let back = try Quantizer.dequantize(out.symbols, channelRanges: out.channelRanges, planeSize: 4, bits: 4)
            XCTAssertEqual(back, constant)
        }
        // One constant channel (all zeros after ReLU) next to a varying one.
        let mixed: [Float] = [0, 0, 0, 0, 1, 2, 3, 4]
        let out = try Quantizer(bits: 8, ranges: .perChannel).quantize(mixed, shape: shape)
        XCTAssertEqual(Array(out.symbols[0..<4]), [0, 0, 0, 0])
        XCTAssertEqual(out.channelRanges, [QuantizerRange(lo: 0, hi: 0), QuantizerRange(lo: 1, hi: 4)])
        XCTAssertEqual(try Quantizer.dequantize(out.symbols, channelRanges: out.channelRanges, planeSize: 4, bits: 8), mixed)
    }

    func testFixedRangesClampAndSelectChannels() throws {
        let shape = FeatureShape(channels: 3, height: 1, width: 2)
        let fixed: [QuantizerRange] = [.init(lo: 0, hi: 1), .init(lo: -2, hi: 2), .init(lo: 10, hi: 11)]
        let q = try Quantizer(bits: 2, ranges: .fixedPerChannel(fixed))
        // Carry channels 0 and 2: values outside the calibrated range clamp to the ends.
        let out = try q.quantize([-1, 5, 10.5, 12], shape: shape, channels: [0, 2])
        XCTAssertEqual(out.symbols, [0, 3, 2, 3])
        XCTAssertEqual(out.channelRanges, [fixed[0], fixed[2]])
        XCTAssertEqual(out.transmittedRanges, [])
        XCTAssertThrowsError(try Quantizer(bits: 2, ranges: .fixedPerChannel(fixed)).quantize([0, 0], shape: FeatureShape(channels: 2, height: 1, width: 1))) {
            guard case .countMismatch = $0 as? QuantizerError else { return XCTFail("\($0)") }
        }
    }

    func testCalibration() throws {
        let shape = FeatureShape(channels: 2, height: 1, width: 3)
        var cal = QuantizerCalibration(channels: 2)
        XCTAssertNil(cal.tensorRange)
        XCTAssertThrowsError(try cal.ranges(perChannel: true)) { XCTAssertEqual($0 as? QuantizerError, .noCalibrationData) }
        try cal.add([0, 1, 2, -1, 0, 1], shape: shape)
        try cal.add([0, 5, 2, -3, 0, 1, /* second tensor */ 0, 0, 0, 0, 0, 9], shape: shape)
        XCTAssertEqual(cal.tensorCount, 3)
        XCTAssertEqual(cal.channelRanges, [QuantizerRange(lo: 0, hi: 5), QuantizerRange(lo: -3, hi: 9)])
        XCTAssertEqual(cal.tensorRange, QuantizerRange(lo: -3, hi: 9))
        XCTAssertEqual(try cal.ranges(perChannel: false), .fixedPerTensor(QuantizerRange(lo: -3, hi: 9)))
        XCTAssertThrowsError(try cal.add([0, 1], shape: shape)) { guard case .countMismatch = $0 as? QuantizerError else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try cal.add([0, 1, 2], shape: FeatureShape(channels: 1, height: 1, width: 3))) {
            guard case .countMismatch = $0 as? QuantizerError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try cal.add([0, .nan, 2, 0, 0, 0], shape: shape)) {
            XCTAssertEqual(($0 as? QuantizerError).map { "\($0)" }?.contains("value 1"), true)
        }
    }

    func testErrors() throws {
        for bits in [0, 9, -1] {
            XCTAssertThrowsError(try Quantizer(bits: bits, ranges: .perTensor)) { XCTAssertEqual($0 as? QuantizerError, .invalidBits(bits)) }
        }
        for bad in [QuantizerRange(lo: 1, hi: 0), QuantizerRange(lo: .nan, hi: 1), QuantizerRange(lo: 0, hi: .infinity),
                    QuantizerRange(lo: -Float.greatestFiniteMagnitude, hi: .greatestFiniteMagnitude)] {
            XCTAssertNotNil(bad.problem)
            XCTAssertThrowsError(try Quantizer(bits: 8, ranges: .fixedPerTensor(bad))) {
                guard case .invalidRange = $0 as? QuantizerError else { return XCTFail("\($0)") }
            }
        }
        let q = try Quantizer(bits: 8, ranges: .perTensor)
        let shape = FeatureShape(channels: 1, height: 1, width: 3)
        XCTAssertThrowsError(try q.quantize([0, .infinity, 1], shape: shape)) {
            XCTAssertEqual($0 as? QuantizerError, .nonFiniteValue(index: 1, value: .infinity))
        }
        XCTAssertThrowsError(try q.quantize([0, 1], shape: shape)) { guard case .countMismatch = $0 as? QuantizerError else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try q.quantize([0, 1, 2], shape: shape, channels: [1])) {
            guard case .invalidChannel = $0 as? QuantizerError else { return XCTFail("\($0)") }
        }
        // A min–max span that overflows Float is rejected rather than quantised to NaN.
        XCTAssertThrowsError(try q.quantize([-3e38, 0, 3e38], shape: shape)) {
            guard case .invalidRange = $0 as? QuantizerError else { return XCTFail("\($0)") }
        }
        XCTAssertTrue("\(QuantizerError.invalidBits(9))".contains("expected 1…8"))
    }
}
