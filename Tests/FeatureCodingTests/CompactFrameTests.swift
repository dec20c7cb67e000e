// Compact frames (version 2, docs/bitstream.md §8): the receiver knows the model (a FrameContext), so a
// frame carries a 32-bit model key, one byte of bits/mode/codec, the codec parameter, the ranges a min–max
// mode needs, the payload and the CRC: 11 bytes besides ranges and payload. Round trips for every codec,
// mode and width; a golden frame; unknown and clashing keys; hostile bytes never crash the decoder.

import XCTest
@testable import FeatureCoding

final class CompactFrameTests: XCTestCase {
    let shape = FeatureShape(channels: 4, height: 3, width: 5)
    let channels = [1, 3]
    var context: FrameContext { FrameContext(modelID: "fashion-resnet20/stem/V2@0123456789ab", splitPoint: "stem", shape: shape, channels: channels) }

    func frame(bits: Int, mode: QuantizerMode, codec: FeatureCodec, seed: UInt64) throws -> FeatureFrame {
        var state = seed
        let values = (0..<(channels.count * 15)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) * 3 - 1
        }
        let ranges: QuantizationRanges
        switch mode {
        case .perTensor: ranges = .perTensor
        case .perChannel: ranges = .perChannel
        case .fixedPerTensor: ranges = .fixedPerTensor(.init(lo: -1, hi: 2))
        case .fixedPerChannel: ranges = .fixedPerChannel((0..<4).map { QuantizerRange(lo: -1 + Float($0) * 0.1, hi: 2) })
        }
        var f = try FeatureFrame(values: values, shape: shape, channels: channels, modelID: context.modelID, splitPoint: "stem",
                                 quantizer: try Quantizer(bits: bits, ranges: ranges), codec: codec)
        f.header.version = FeatureBitstream.compactVersion
        return f
    }

    func testRoundTripsEveryCodecModeAndWidthWithElevenBytesOfOverhead() throws {
        let codecs: [FeatureCodec] = [.raw, .zstd(level: 19), .arithmeticOrder0, .arithmeticContext3(rateLimit: 30),
                                      .arithmeticContext4(cdfShift: 6), .arithmeticContext(cdfShift: 6), .zstd(level: -5), .arithmeticContext3(rateLimit: 1000)]
        for codec in codecs { for mode in [QuantizerMode.perTensor, .perChannel, .fixedPerTensor, .fixedPerChannel] { for bits in [1, 4, 8] {
            let f = try frame(bits: bits, mode: mode, codec: codec, seed: UInt64(bits))
            let bytes = try FeatureBitstream.encode(f)
            XCTAssertEqual(bytes.first, 0xA2)
            let back = try FeatureBitstream.decode(bytes, contexts: [context])
            XCTAssertEqual(back.header, f.header, "\(codec) \(mode) \(bits)")
            XCTAssertEqual(back.symbols, f.symbols, "\(codec) \(mode) \(bits)")
            let ranges = 8 * mode.transmittedRangeCount(channelCount: channels.count)
            let parameterBytes = (codec.parameter ?? 0) < 128 ? 1 : ((codec.parameter ?? 0) < 16384 ? 2 : 3)
            XCTAssertEqual(bytes.count - (back.payloadSize ?? 0) - ranges, 10 + parameterBytes, "\(codec) \(mode) \(bits)")
            // The self-describing frame of the same content decodes to the same symbols, and is longer.
            var v1 = f
            v1.header.version = FeatureBitstream.version
            let long = try FeatureBitstream.encode(v1)
            XCTAssertEqual(try FeatureBitstream.decode(long, contexts: [context]).symbols, f.symbols)
            XCTAssertGreaterThan(long.count, bytes.count + 40)
        } } }
    }

    /// Golden compact frame: docs/bitstream.md §8's example. A change here is a format change.
    func testGoldenCompactFrame() throws {
        var f = try FeatureFrame(values: [0, 0.5, 1, 1.5, 2, 3], shape: FeatureShape(channels: 1, height: 2, width: 3), modelID: "demo@01",
                                 splitPoint: "stem", quantizer: try Quantizer(bits: 4, ranges: .perTensor), codec: .raw)
        f.header.version = FeatureBitstream.compactVersion
        let bytes = try FeatureBitstream.encode(f)
        XCTAssertEqual(hex(bytes), goldenCompact)
        let ctx = FrameContext(modelID: "demo@01", splitPoint: "stem", shape: FeatureShape(channels: 1, height: 2, width: 3), channels: [0])
        XCTAssertEqual(ctx.key, 0x4649_C6C1)
        let back = try FeatureBitstream.decode(bytesFromHex(goldenCompact), contexts: [ctx])
        XCTAssertEqual(back.symbols, [0, 3, 5, 8, 10, 15])
        XCTAssertEqual(try back.dequantized(), [0, 0.6, 1, 1.6, 2, 3])
    }

    func testUnknownAndClashingKeysAreNamed() throws {
        let bytes = try FeatureBitstream.encode(try frame(bits: 4, mode: .fixedPerChannel, codec: .arithmeticContext, seed: 3))
        let other = FrameContext(modelID: "other@1", splitPoint: "stem", shape: shape, channels: channels)
        XCTAssertThrowsError(try FeatureBitstream.decode(bytes, contexts: [other])) { e in
            guard case FeatureBitstreamError.unknownModelKey(let key, let known)? = e as? FeatureBitstreamError else { return XCTFail("\(e)") }
            XCTAssertEqual(key, self.context.key)
            XCTAssertEqual(known, ["other@1"])
            XCTAssertTrue("\(e)".contains("other@1"), "\(e)")
        }
        XCTAssertThrowsError(try FeatureBitstream.decode(bytes)) { XCTAssertTrue("\($0)".contains("none of the models"), "\($0)") }
        var twin = context
        twin.splitPoint = "block1"
        XCTAssertThrowsError(try FeatureBitstream.decode(bytes, contexts: [context, twin])) { XCTAssertTrue("\($0)".contains("one model per key"), "\($0)") }
        // The context's own check names the first field that differs.
        var header = try FeatureBitstream.decode(bytes, contexts: [context]).header
        header.splitPoint = "block3"
        XCTAssertEqual(context.mismatch(header)?.field, "split point")
    }

    /// Every truncation and every single-byte change of compact frames, and random bytes behind the marker:
    /// an error or a valid frame, never a trap or a hang.
    func testHostileCompactFramesNeverCrash() throws {
        var seeds: [[UInt8]] = []
        for (k, codec) in [FeatureCodec.raw, .zstd(level: 3), .arithmeticOrder0, .arithmeticContext(cdfShift: 6)].enumerated() {
            for mode in [QuantizerMode.perChannel, .fixedPerTensor] {
                seeds.append(try FeatureBitstream.encode(try frame(bits: 4, mode: mode, codec: codec, seed: UInt64(k))))
            }
        }
        var rejected = 0
        for bytes in seeds {
            for n in 0..<bytes.count {
                if (try? FeatureBitstream.decode(Array(bytes.prefix(n)), contexts: [context])) == nil { rejected += 1 }
            }
            for i in 0..<bytes.count { for bit in [0x01, 0x10, 0x80] as [UInt8] {
                var m = bytes
                m[i] ^= bit
                if (try? FeatureBitstream.decode(m, contexts: [context])) == nil { rejected += 1 }
            } }
        }
        var state: UInt64 = 99
        for _ in 0..<2000 {
            state = state &* 6364136223846793005 &+ 1
            let n = Int(state >> 58) + 1
            var b: [UInt8] = [0xA2]
            for _ in 0..<n { state = state &* 6364136223846793005 &+ 1; b.append(UInt8(truncatingIfNeeded: state >> 33)) }
            _ = try? FeatureBitstream.decode(b, contexts: [context])
        }
        XCTAssertGreaterThan(rejected, 0)
    }
}

private let goldenCompact = "a2" + "c1c64946" + "03" + "00" + "00000000" + "00004040" + "000305080a0f" + "cc0f8f99"
