// Tests of the feature bitstream container (docs/bitstream.md): round trips for every codec × quantiser mode ×
// bit width on odd shapes and channel subsets, determinism, every truncation and every single-bit flip of a
// frame rejected, each typed error on hand-made frames with a valid CRC, limits, and golden frames that pin
// the format (regenerate them only on purpose, with a version bump and docs/bitstream.md).

import FeatureCoding
import XCTest

/// Bytes from a hex string (whitespace ignored).
func bytesFromHex(_ s: String) -> [UInt8] {
    let digits = Array(s.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// `frame` with its length field and CRC recomputed, so that a hand-made edit reaches the field checks.
func resealed(_ frame: [UInt8]) -> [UInt8] {
    var f = Array(frame.dropLast(4))
    let total = UInt32(f.count + 4)
    if f.count >= 9 { for i in 0..<4 { f[5 + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt32(i))) } }
    let crc = CRC32.checksum(f)
    for i in 0..<4 { f.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
    return f
}

let frameCodecs: [FeatureCodec] = [.raw, .zstd(level: 3), .arithmeticOrder0, .arithmeticContext3(rateLimit: 30), .arithmeticContext4(cdfShift: 6), .arithmeticContext]

final class FeatureBitstreamTests: XCTestCase {
    /// Every codec × mode × bit width × shape × channel subset: the header survives, the symbols survive,
    /// dequantisation matches the encoder's and stays within half a step, encoding is deterministic.
    func testRoundTrips() throws {
        let cases: [(FeatureShape, [Int]?)] = [
            (FeatureShape(channels: 1, height: 1, width: 1), nil),
            (FeatureShape(channels: 3, height: 5, width: 7), nil),
            (FeatureShape(channels: 3, height: 5, width: 7), [0, 2]),
            (FeatureShape(channels: 3, height: 5, width: 7), [1]),
            (FeatureShape(channels: 6, height: 2, width: 3), [0, 1, 4, 5]),
        ]
        var count = 0
        for (shape, channels) in cases {
            let carried = channels ?? Array(0..<shape.channels)
            let plane = shape.height * shape.width
            let full = testFeatures(shape, seed: UInt64(shape.channels * 31 + carried.count), signed: carried.count == 1)
            let values = carried.flatMap { full[($0 * plane)..<(($0 + 1) * plane)] }
            var cal = QuantizerCalibration(channels: shape.channels)
            try cal.add(full, shape: shape)
            let fixedT = try cal.ranges(perChannel: false), fixedC = try cal.ranges(perChannel: true)
            for policy in [QuantizationRanges.perTensor, .perChannel, fixedT, fixedC] {
                for bits in [1, 2, 5, 8] {
                    let q = try Quantizer(bits: bits, ranges: policy)
                    for codec in frameCodecs {
                        let what = "\(shape) \(carried) \(policy.mode) bits \(bits) \(codec)"
                        let frame = try FeatureFrame(values: values, shape: shape, channels: channels,
                                                     modelID: "fashion-resnet20@3f2a9c1e", splitPoint: "layer1.2", quantizer: q, codec: codec)
                        let bytes = try FeatureBitstream.encode(frame)
                        XCTAssertEqual(bytes, try FeatureBitstream.encode(frame), "not deterministic: \(what)")
                        let back = try FeatureBitstream.decode(bytes)
                        XCTAssertEqual(back.header, frame.header, what)
                        XCTAssertEqual(back.symbols, frame.symbols, what)
                        XCTAssertEqual(back.header.channels, carried, what)
                        XCTAssertEqual(try FeatureBitstream.encode(back), bytes, what)
                        let fixed: QuantizationRanges? = policy.mode == .fixedPerTensor ? fixedT : policy.mode == .fixedPerChannel ? fixedC : nil
                        let deq = try back.dequantized(fixed: fixed)
                        XCTAssertEqual(deq.map(\.bitPattern), try frame.dequantized(fixed: fixed).map(\.bitPattern), what)
                        let ranges = try back.channelRanges(fixed: fixed)
                        for i in 0..<values.count {
                            let r = ranges[i / plane]
                            let step = r.step(levels: q.levels)
                            XCTAssertLessThanOrEqual(abs(values[i] - deq[i]), step / 2 * 1.0001 + 4 * max(abs(r.lo), abs(r.hi)).ulp, what)
                        }
                        let fullBack = try back.dequantizedFullTensor(fixed: fixed, fill: -7)
                        for c in 0..<shape.channels {
                            let slice = Array(fullBack[(c * plane)..<((c + 1) * plane)])
                            if let k = carried.firstIndex(of: c) {
                                XCTAssertEqual(slice, Array(deq[(k * plane)..<((k + 1) * plane)]), what)
                            } else {
                                XCTAssertEqual(slice, Array(repeating: -7, count: plane), what)
                            }
                        }
                        count += 1
                    }
                }
            }
        }
        XCTAssertEqual(count, cases.count * 4 * 4 * frameCodecs.count)
    }

    func testConstantTensorFrames() throws {
        let shape = FeatureShape(channels: 2, height: 3, width: 3)
        for policy in [QuantizationRanges.perTensor, .perChannel] {
            for codec in frameCodecs {
                let bytes = try FeatureBitstream.encode(values: Array(repeating: -0.5, count: 18), shape: shape, modelID: "m", splitPoint: "s",
                                                        quantizer: try Quantizer(bits: 3, ranges: policy), codec: codec)
                XCTAssertEqual(try FeatureBitstream.decode(bytes).dequantized(), Array(repeating: -0.5, count: 18))
            }
        }
    }

    func testFixedFramesNeedTheModelsRanges() throws {
        let shape = FeatureShape(channels: 2, height: 1, width: 2)
        let q = try Quantizer(bits: 4, ranges: .fixedPerChannel([.init(lo: 0, hi: 1), .init(lo: 0, hi: 2)]))
        let frame = try FeatureBitstream.decode(FeatureBitstream.encode(values: [0, 1, 0, 2], shape: shape, modelID: "m", splitPoint: "s", quantizer: q, codec: .raw))
        XCTAssertEqual(frame.header.ranges, [])
        XCTAssertThrowsError(try frame.dequantized()) { guard case .missingFixedRanges = $0 as? QuantizerError else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try frame.dequantized(fixed: .fixedPerTensor(.init(lo: 0, hi: 1)))) {
            guard case .missingFixedRanges = $0 as? QuantizerError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try frame.dequantized(fixed: .fixedPerChannel([.init(lo: 0, hi: 1)]))) {
            guard case .countMismatch = $0 as? QuantizerError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try frame.dequantized(fixed: q.ranges), [0, 1, 0, 2])
    }

    /// A small frame used by the damage tests: per-channel ranges, a channel subset, the context coder.
    func smallFrame() throws -> [UInt8] {
        let shape = FeatureShape(channels: 3, height: 2, width: 3)
        return try FeatureBitstream.encode(values: testFeatures(FeatureShape(channels: 2, height: 2, width: 3), seed: 5),
                                           shape: shape, channels: [0, 2], modelID: "net@ab12", splitPoint: "stem",
                                           quantizer: try Quantizer(bits: 6, ranges: .perChannel), codec: .arithmeticContext)
    }

    func testEveryTruncationThrows() throws {
        for codec in frameCodecs {
            let frame = try FeatureBitstream.encode(values: [0, 1, 2, 3, 4, 5], shape: FeatureShape(channels: 1, height: 2, width: 3),
                                                    modelID: "m", splitPoint: "s", quantizer: try Quantizer(bits: 8, ranges: .perTensor), codec: codec)
            for n in 0..<frame.count {
                XCTAssertThrowsError(try FeatureBitstream.decode(Array(frame.prefix(n))), "\(codec) prefix \(n)") {
                    XCTAssertTrue($0 is FeatureBitstreamError, "\($0)")
                }
            }
            // And every one-byte extension.
            XCTAssertThrowsError(try FeatureBitstream.decode(frame + [0])) {
                XCTAssertEqual($0 as? FeatureBitstreamError, .trailingBytes(frameLength: frame.count, inputLength: frame.count + 1))
            }
        }
    }

    func testEverySingleBitFlipThrows() throws {
        let frame = try smallFrame()
        XCTAssertNoThrow(try FeatureBitstream.decode(frame))
        var crcErrors = 0
        for bit in 0..<(frame.count * 8) {
            var f = frame
            f[bit / 8] ^= UInt8(1 << (bit % 8))
            XCTAssertThrowsError(try FeatureBitstream.decode(f), "bit \(bit)") {
                if case .crcMismatch = $0 as? FeatureBitstreamError { crcErrors += 1 }
                XCTAssertTrue($0 is FeatureBitstreamError, "\($0)")
            }
        }
        // Flips in magic, version and length are caught before the CRC; all others by it.
        XCTAssertEqual(crcErrors, (frame.count - 9) * 8)
    }

    func testTypedErrorsOnHandMadeFrames() throws {
        let good = try smallFrame()
        // Offsets of the small frame (docs/bitstream.md §2): strings "net@ab12" (8) and "stem" (4).
        let cOffset = 9 + 1 + 8 + 1 + 4, kOffset = cOffset + 12, listOffset = kOffset + 4
        let bitsOffset = listOffset + 8, modeOffset = bitsOffset + 1, rangesOffset = modeOffset + 1
        let codecOffset = rangesOffset + 16, payloadLengthOffset = codecOffset + 3
        func expect(_ edit: (inout [UInt8]) -> Void, _ check: (FeatureBitstreamError) -> Bool, _ what: String, line: UInt = #line) {
            var f = good
            edit(&f)
            f = resealed(f)
            XCTAssertThrowsError(try FeatureBitstream.decode(f), what, line: line) {
                guard let e = $0 as? FeatureBitstreamError else { return XCTFail("\(what): \($0)", line: line) }
                XCTAssertTrue(check(e), "\(what): \(e)", line: line)
                XCTAssertFalse("\(e)".isEmpty)
            }
        }
        func u32(_ f: inout [UInt8], _ at: Int, _ v: UInt32) { for i in 0..<4 { f[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
        XCTAssertEqual(Array(good[listOffset..<(listOffset + 8)]), [0, 0, 0, 0, 2, 0, 0, 0])

        expect({ $0[0] = 0x42 }, { if case .badMagic = $0 { return true }; return false }, "magic")
        expect({ $0[4] = 2 }, { $0 == .unsupportedVersion(found: 2, supported: [1]) }, "version")
        expect({ $0[10] = 0xFF }, { if case .invalidField(let f, _, _) = $0 { return f == "model id" }; return false }, "UTF-8")
        expect({ $0[9] = 200 }, { if case .truncated = $0 { return true }; return false }, "model id length past the end")
        expect({ u32(&$0, cOffset, 0) }, { if case .invalidField(let f, _, _) = $0 { return f == "C" }; return false }, "C = 0")
        expect({ u32(&$0, cOffset + 4, 0xFFFF_FFFF); u32(&$0, cOffset + 8, 0xFFFF_FFFF) },
               { if case .oversized = $0 { return true }; return false }, "huge shape")
        expect({ u32(&$0, kOffset, 4) }, { if case .invalidField(let f, _, _) = $0 { return f.hasPrefix("carried") }; return false }, "K > C")
        expect({ u32(&$0, kOffset, 0) }, { if case .invalidField(let f, _, _) = $0 { return f.hasPrefix("carried") }; return false }, "K = 0")
        expect({ u32(&$0, listOffset + 4, 3) }, { if case .invalidField(let f, let e, _) = $0 { return f == "channel index 1" && e.hasPrefix("< C") }; return false }, "index ≥ C")
        expect({ u32(&$0, listOffset, 2) }, { if case .invalidField(_, let e, _) = $0 { return e.hasPrefix("strictly") }; return false }, "unsorted")
        expect({ u32(&$0, listOffset, 2); u32(&$0, listOffset + 4, 2) }, { if case .invalidField(_, let e, _) = $0 { return e.hasPrefix("strictly") }; return false }, "duplicate")
        for b: UInt8 in [0, 9, 255] {
            expect({ $0[bitsOffset] = b }, { if case .invalidField(let f, _, _) = $0 { return f == "quantiser bits" }; return false }, "bits \(b)")
        }
        expect({ $0[modeOffset] = 4 }, { $0 == .unknownQuantizerMode(4) }, "mode")
        expect({ $0[modeOffset] = 0 }, { _ in true }, "mode with fewer ranges: later fields misread, some error")
        expect({ u32(&$0, rangesOffset, Float.nan.bitPattern) }, { if case .invalidField(let f, _, _) = $0 { return f == "quantiser range 0" }; return false }, "NaN")
        expect({ u32(&$0, rangesOffset + 4, Float.infinity.bitPattern) }, { if case .invalidField(let f, _, _) = $0 { return f == "quantiser range 0" }; return false }, "inf")
        expect({ u32(&$0, rangesOffset, Float(100).bitPattern) }, { if case .invalidField(_, _, let found) = $0 { return found.contains("lo > hi") }; return false }, "lo > hi")
        expect({ $0[codecOffset] = 9 }, { $0 == .unknownCodec(9) }, "codec")
        expect({ $0[codecOffset + 1] = 0; $0[codecOffset + 2] = 0 }, { if case .invalidField(let f, _, _) = $0 { return f == "codec parameter" }; return false }, "rate limit 0")
        expect({ $0[codecOffset] = 2 }, { if case .invalidField(let f, _, _) = $0 { return f == "codec parameter" }; return false }, "order-0 with a parameter")
        expect({ u32(&$0, payloadLengthOffset, 1) }, { if case .invalidField(let f, _, _) = $0 { return f == "payload length" }; return false }, "payload length")
        // A context payload decoded as order-0 or with other bits: the codec rejects it.
        expect({ $0[codecOffset] = 2; $0[codecOffset + 1] = 0; $0[codecOffset + 2] = 0 },
               { if case .payloadCorrupt(let c, _) = $0 { return c == "arith-order0" }; return false }, "wrong codec")
        // Raw payload of the wrong length, or with a symbol ≥ 2^bits.
        let raw = try FeatureBitstream.encode(values: [0, 1, 2, 3], shape: FeatureShape(channels: 1, height: 2, width: 2), modelID: "", splitPoint: "",
                                              quantizer: try Quantizer(bits: 2, ranges: .fixedPerTensor(.init(lo: 0, hi: 3))), codec: .raw)
        var longer = Array(raw.dropLast(4)) + [0, 0, 0, 0, 0]
        let pl = raw.count - 4 - 4 - 4
        longer[pl] = 5
        XCTAssertThrowsError(try FeatureBitstream.decode(resealed(longer))) { XCTAssertEqual($0 as? FeatureBitstreamError, .payloadSizeMismatch(expected: 4, found: 5)) }
        var big = raw
        big[big.count - 5] = 4
        XCTAssertThrowsError(try FeatureBitstream.decode(resealed(big))) {
            guard case .invalidField(let f, _, _)? = $0 as? FeatureBitstreamError else { return XCTFail("\($0)") }
            XCTAssertEqual(f, "payload symbol 3")
        }
        // A zstd frame declaring another content size.
        let z = try FeatureBitstream.encode(values: [0, 1], shape: FeatureShape(channels: 2, height: 1, width: 2), channels: [1], modelID: "", splitPoint: "",
                                            quantizer: try Quantizer(bits: 2, ranges: .perTensor), codec: .zstd(level: 1))
        let zs = try ZstdCodec.encode([0, 1, 2, 3], level: 1)
        let payloadStart = 9 + 2 + 16 + 4 + 2 + 8 + 3 + 4 // empty strings, one channel index, one range
        XCTAssertEqual(Int(z[payloadStart - 4]), z.count - payloadStart - 4)
        var zf = Array(z[0..<(payloadStart - 4)])
        zf += [UInt8(zs.count), 0, 0, 0] + zs + [0, 0, 0, 0]
        XCTAssertThrowsError(try FeatureBitstream.decode(resealed(zf))) { XCTAssertEqual($0 as? FeatureBitstreamError, .payloadSizeMismatch(expected: 2, found: 4)) }
    }

    func testLimits() throws {
        let frame = try smallFrame()
        XCTAssertThrowsError(try FeatureBitstream.decode(frame, limits: FeatureBitstreamLimits(maxBytes: frame.count - 1))) {
            guard case .oversized? = $0 as? FeatureBitstreamError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try FeatureBitstream.decode(frame, limits: FeatureBitstreamLimits(maxElements: 17))) {
            XCTAssertEqual($0 as? FeatureBitstreamError, .oversized(field: "C·H·W of 3×2×3", value: 18, limit: 17))
        }
        XCTAssertNoThrow(try FeatureBitstream.decode(frame, limits: FeatureBitstreamLimits(maxElements: 18)))
        XCTAssertThrowsError(try FeatureBitstream.decode(frame, limits: FeatureBitstreamLimits(maxModelIDBytes: 7))) {
            XCTAssertEqual($0 as? FeatureBitstreamError, .oversized(field: "model id (UTF-8 bytes)", value: 8, limit: 7))
        }
        XCTAssertThrowsError(try FeatureBitstream.decode(frame, limits: FeatureBitstreamLimits(maxSplitPointBytes: 3))) {
            XCTAssertEqual($0 as? FeatureBitstreamError, .oversized(field: "split point (UTF-8 bytes)", value: 4, limit: 3))
        }
        // A header-only decode for routing checks the CRC too.
        let (header, payload) = try FeatureBitstream.decodeHeader(frame)
        XCTAssertEqual(header.modelID, "net@ab12")
        XCTAssertEqual(payload.upperBound, frame.count - 4)
    }

    func testEncoderRejectsWhatTheDecoderWould() throws {
        let shape = FeatureShape(channels: 3, height: 1, width: 1)
        let header = FeatureFrameHeader(modelID: "m", splitPoint: "s", shape: shape, channels: [0, 2], bits: 4,
                                        quantizerMode: .perTensor, ranges: [.init(lo: 0, hi: 1)], codec: .raw)
        XCTAssertNoThrow(try FeatureBitstream.encode(FeatureFrame(header: header, symbols: [1, 15])))
        func rejects(_ edit: (inout FeatureFrame) -> Void, _ what: String) {
            var f = FeatureFrame(header: header, symbols: [1, 15])
            edit(&f)
            XCTAssertThrowsError(try FeatureBitstream.encode(f), what) { XCTAssertTrue($0 is FeatureBitstreamError, "\(what): \($0)") }
        }
        rejects({ $0.header.channels = [2, 0] }, "unsorted")
        rejects({ $0.header.channels = [0, 3] }, "index ≥ C")
        rejects({ $0.header.channels = [] ; $0.symbols = [] }, "no channels")
        rejects({ $0.symbols = [1, 16] }, "symbol ≥ 2^bits")
        rejects({ $0.symbols = [1] }, "symbol count")
        rejects({ $0.header.ranges = [] }, "missing range")
        rejects({ $0.header.ranges = [.init(lo: 2, hi: 1)] }, "lo > hi")
        rejects({ $0.header.modelID = String(repeating: "x", count: 256) }, "long model id")
        rejects({ $0.header.version = 4 }, "version")
        rejects({ $0.header.codec = .arithmeticContext3(rateLimit: 2000) }, "rate limit")
        rejects({ $0.header.codec = .arithmeticContext(cdfShift: 15) }, "CDF shift")
        rejects({ $0.header.codec = .zstd(level: 40000) }, "zstd level")
        rejects({ $0.header.shape = FeatureShape(channels: 3, height: 0, width: 1) }, "H = 0")
    }

    /// Golden frames: the exact bytes of four small frames. A change here is a format change: bump
    /// `FeatureBitstream.version`, update docs/bitstream.md, then regenerate on purpose. (No zstd frame: its
    /// bytes depend on the libzstd version.)
    func testGoldenFrames() throws {
        // 1. The worked example of docs/bitstream.md §7: raw, per-tensor, 4 bits, 1×2×3.
        let a = try FeatureBitstream.encode(values: [0, 0.5, 1, 1.5, 2, 3], shape: FeatureShape(channels: 1, height: 2, width: 3),
                                            modelID: "demo@01", splitPoint: "stem", quantizer: try Quantizer(bits: 4, ranges: .perTensor), codec: .raw)
        // 2. Per-channel ranges, channels 0 and 2 of 3×2×2, 8 bits, tag-3 context coder (codec id 3).
        let b = try FeatureBitstream.encode(values: [0, 0.25, 0.5, 1, -1, 0, 2, 4], shape: FeatureShape(channels: 3, height: 2, width: 2), channels: [0, 2],
                                            modelID: "r20@9f", splitPoint: "layer1", quantizer: try Quantizer(bits: 8, ranges: .perChannel), codec: .arithmeticContext3(rateLimit: 30))
        // 4. The same with the tag-4 context coder (codec id 4), and 5. with the context coder (codec id 5).
        let d = try FeatureBitstream.encode(values: [0, 0.25, 0.5, 1, -1, 0, 2, 4], shape: FeatureShape(channels: 3, height: 2, width: 2), channels: [0, 2],
                                            modelID: "r20@9f", splitPoint: "layer1", quantizer: try Quantizer(bits: 8, ranges: .perChannel), codec: .arithmeticContext4(cdfShift: 6))
        let e = try FeatureBitstream.encode(values: [0, 0.25, 0.5, 1, -1, 0, 2, 4], shape: FeatureShape(channels: 3, height: 2, width: 2), channels: [0, 2],
                                            modelID: "r20@9f", splitPoint: "layer1", quantizer: try Quantizer(bits: 8, ranges: .perChannel), codec: .arithmeticContext)
        // 3. Fixed per-channel ranges (nothing sent), 2 bits, order-0 coder, 2×1×3.
        let c = try FeatureBitstream.encode(values: [0, 1, 2, 0, 0.5, 1], shape: FeatureShape(channels: 2, height: 1, width: 3), modelID: "m", splitPoint: "s",
                                            quantizer: try Quantizer(bits: 2, ranges: .fixedPerChannel([.init(lo: 0, hi: 3), .init(lo: 0, hi: 1)])),
                                            codec: .arithmeticOrder0)
        XCTAssertEqual(hex(a), goldenA)
        XCTAssertEqual(hex(b), goldenB)
        XCTAssertEqual(hex(c), goldenC)
        XCTAssertEqual(hex(d), goldenD)
        XCTAssertEqual(hex(e), goldenE)
        // The committed bytes decode to the frames they were made from.
        let fa = try FeatureBitstream.decode(bytesFromHex(goldenA))
        XCTAssertEqual(fa.header, FeatureFrameHeader(modelID: "demo@01", splitPoint: "stem", shape: FeatureShape(channels: 1, height: 2, width: 3),
                                                     channels: [0], bits: 4, quantizerMode: .perTensor, ranges: [.init(lo: 0, hi: 3)], codec: .raw))
        XCTAssertEqual(fa.symbols, [0, 3, 5, 8, 10, 15])
        XCTAssertEqual(try fa.dequantized(), [0, 0.6, 1, 1.6, 2, 3])
        let fb = try FeatureBitstream.decode(bytesFromHex(goldenB))
        XCTAssertEqual(fb.header.channels, [0, 2])
        XCTAssertEqual(fb.header.ranges, [.init(lo: 0, hi: 1), .init(lo: -1, hi: 4)])
        XCTAssertEqual(fb.header.codec, .arithmeticContext3(rateLimit: 30))
        XCTAssertEqual(fb.symbols, [0, 64, 128, 255, 0, 51, 153, 255])
        let fd = try FeatureBitstream.decode(bytesFromHex(goldenD))
        XCTAssertEqual(fd.header.codec, .arithmeticContext4(cdfShift: 6))
        XCTAssertEqual(fd.symbols, fb.symbols)
        let fe = try FeatureBitstream.decode(bytesFromHex(goldenE))
        XCTAssertEqual(fe.header.codec, .arithmeticContext(cdfShift: 6))
        XCTAssertEqual(fe.symbols, fb.symbols)
        let fc = try FeatureBitstream.decode(bytesFromHex(goldenC))
        XCTAssertEqual(fc.header.quantizerMode, .fixedPerChannel)
        XCTAssertEqual(fc.symbols, [0, 1, 2, 0, 2, 3])
    }
}

private let goldenA = "41454643" + "01" + "41000000" + "07" + "64656d6f403031" + "04" + "7374656d" + "01000000" + "02000000" + "03000000"
    + "01000000" + "04" + "00" + "00000000" + "00004040" + "00" + "0000" + "06000000" + "000305080a0f" + "31b93f09"
private let goldenB = "41454643015800000006723230403966066c61796572310300000002000000020000000200000000000000020000000801000000000000803f000080bf00008040031e000c000000387fbf5efefdf4f22b01686ba6151662"
private let goldenC = "41454643012e000000016d017302000000010000000300000002000000020302000004000000123b5ade99f9c266"
private let goldenD = "41454643015700000006723230403966066c61796572310300000002000000020000000200000000000000020000000801000000000000803f000080bf000080400406000b00000048047bfcf3a9dfef97314c91eb4962"
private let goldenE = "41454643015800000006723230403966066c61796572310300000002000000020000000200000000000000020000000801000000000000803f000080bf000080400506000c00000058047bfda791dfef27639800cdd429a3"
