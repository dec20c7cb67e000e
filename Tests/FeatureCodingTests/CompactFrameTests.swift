// Compact frames (docs/bitstream.md §8): the receiver knows the model (a FrameContext), so a frame carries a
// model key, one byte of bits/mode/codec, the codec parameter when it is not the codec's default, the ranges a
// min–max mode needs, the payload and the CRC. Version 3 (written by default): 16-bit key, CRC covering the model
// id, 8 bytes besides ranges and payload; version 2 (still read and written on request): 32-bit key, 11 bytes.
// Round trips for every codec, mode and width; golden frames of both; unknown keys, keys shared by two models,
// damage; hostile bytes never crash the decoder.

import XCTest
@testable import FeatureCoding

final class CompactFrameTests: XCTestCase {
    let shape = FeatureShape(channels: 4, height: 3, width: 5)
    let channels = [1, 3]
    var context: FrameContext { FrameContext(modelID: "fashion-resnet20/stem/V2@0123456789ab", splitPoint: "stem", shape: shape, channels: channels) }

    func frame(bits: Int, mode: QuantizerMode, codec: FeatureCodec, seed: UInt64, version: Int = FeatureBitstream.compactVersion) throws -> FeatureFrame {
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
        f.header.version = version
        return f
    }

    func testRoundTripsEveryCodecModeAndWidthWithEightBytesOfOverhead() throws {
        let codecs: [FeatureCodec] = [.raw, .zstd(level: 19), .arithmeticOrder0, .arithmeticContext3(rateLimit: 30),
                                      .arithmeticContext4(cdfShift: 6), .arithmeticContext(cdfShift: 6), .zstd(level: -5), .arithmeticContext3(rateLimit: 1000),
                                      .arithmeticContext(cdfShift: 9)]
        for codec in codecs { for mode in [QuantizerMode.perTensor, .perChannel, .fixedPerTensor, .fixedPerChannel] { for bits in [1, 4, 8] {
            for version in [FeatureBitstream.compactVersion, FeatureBitstream.compactVersion2] {
                let f = try frame(bits: bits, mode: mode, codec: codec, seed: UInt64(bits), version: version)
                let bytes = try FeatureBitstream.encode(f)
                let back = try FeatureBitstream.decode(bytes, contexts: [context])
                XCTAssertEqual(back.header, f.header, "\(codec) \(mode) \(bits) v\(version)")
                XCTAssertEqual(back.symbols, f.symbols, "\(codec) \(mode) \(bits) v\(version)")
                let p = Int(codec.parameter!)
                let parameterBytes = p < 128 ? 1 : (p < 16384 ? 2 : 3)
                let overhead = bytes.count - back.payloadSize! - 8 * mode.transmittedRangeCount(channelCount: channels.count)
                if version == FeatureBitstream.compactVersion2 {
                    XCTAssertEqual(bytes.first, 0xA2)
                    XCTAssertEqual(overhead, 10 + parameterBytes, "\(codec) \(mode) \(bits)")
                } else {
                    let isDefault = codec.parameter == FeatureCodec.defaultParameter(id: codec.id)
                    XCTAssertEqual(bytes.first, isDefault ? 0xA3 : 0xA4, "\(codec)")
                    XCTAssertEqual(overhead, 8 + (isDefault ? 0 : parameterBytes), "\(codec) \(mode) \(bits)")
                }
                // The self-describing frame of the same content decodes to the same symbols, and is longer.
                var v1 = f
                v1.header.version = FeatureBitstream.version
                let long = try FeatureBitstream.encode(v1)
                XCTAssertEqual(try FeatureBitstream.decode(long, contexts: [context]).symbols, f.symbols)
                XCTAssertGreaterThan(long.count, bytes.count + 40)
            }
        } } }
    }

    /// Golden compact frames: docs/bitstream.md §8's examples. A change here is a format change.
    func testGoldenCompactFrames() throws {
        let ctx = FrameContext(modelID: "demo@01", splitPoint: "stem", shape: FeatureShape(channels: 1, height: 2, width: 3), channels: [0])
        XCTAssertEqual(ctx.key, 0x4649_C6C1)
        XCTAssertEqual(ctx.shortKey, 0xC6C1)
        for (version, golden) in [(FeatureBitstream.compactVersion, goldenCompact), (FeatureBitstream.compactVersion2, goldenCompact2)] {
            var f = try FeatureFrame(values: [0, 0.5, 1, 1.5, 2, 3], shape: FeatureShape(channels: 1, height: 2, width: 3), modelID: "demo@01",
                                     splitPoint: "stem", quantizer: try Quantizer(bits: 4, ranges: .perTensor), codec: .raw)
            f.header.version = version
            XCTAssertEqual(hex(try FeatureBitstream.encode(f)), golden, "version \(version)")
            let back = try FeatureBitstream.decode(bytesFromHex(golden), contexts: [ctx])
            XCTAssertEqual(back.header.version, version)
            XCTAssertEqual(back.symbols, [0, 3, 5, 8, 10, 15])
            XCTAssertEqual(try back.dequantized(), [0, 0.6, 1, 1.6, 2, 3])
        }
        // The version-3 CRC is CRC-32 of the model id followed by the frame's bytes before the CRC.
        let bytes = bytesFromHex(goldenCompact)
        XCTAssertEqual(CRC32.checksum(Array("demo@01".utf8) + bytes.dropLast(4)),
                       UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8 | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24)
    }

    /// A frame names its model: an unknown key is named as such; two models sharing a 16-bit key are told apart
    /// by the CRC; a frame for a third model with that key, or a damaged one, fails the CRC, naming the candidates.
    func testKeysUnknownSharedAndDamaged() throws {
        let f = try frame(bits: 4, mode: .fixedPerChannel, codec: .arithmeticContext, seed: 3)
        let bytes = try FeatureBitstream.encode(f)
        let other = FrameContext(modelID: "other@1", splitPoint: "stem", shape: shape, channels: channels)
        XCTAssertThrowsError(try FeatureBitstream.decode(bytes, contexts: [other])) { e in
            guard case FeatureBitstreamError.unknownModelKey(let key, 16, let known)? = e as? FeatureBitstreamError else { return XCTFail("\(e)") }
            XCTAssertEqual(key, UInt32(self.context.shortKey))
            XCTAssertEqual(known, ["other@1"])
            XCTAssertTrue("\(e)".contains("other@1"), "\(e)")
        }
        XCTAssertThrowsError(try FeatureBitstream.decode(bytes)) { XCTAssertTrue("\($0)".contains("none of the models"), "\($0)") }

        // Model ids with the same 16-bit key as the context's (found by search; about 65,536 tries each).
        var twins: [String] = []
        var i = 0
        while twins.count < 2 {
            let id = "twin-\(i)"
            if FrameContext.key(id) & 0xFFFF == UInt32(context.shortKey) { twins.append(id) }
            i += 1
        }
        let twin = FrameContext(modelID: twins[0], splitPoint: "block1", shape: FeatureShape(channels: 4, height: 3, width: 5), channels: channels)
        for contexts in [[context, twin], [twin, context]] {
            let back = try FeatureBitstream.decode(bytes, contexts: contexts)
            XCTAssertEqual(back.header.modelID, context.modelID)
            XCTAssertEqual(back.header.splitPoint, "stem")
        }
        var g = f
        g.header.modelID = twins[1]
        let third = try FeatureBitstream.encode(g)
        XCTAssertEqual(Array(third.prefix(3)), Array(bytes.prefix(3)))
        XCTAssertThrowsError(try FeatureBitstream.decode(third, contexts: [context, twin])) { e in
            guard case FeatureBitstreamError.compactCRCMismatch(_, let models)? = e as? FeatureBitstreamError else { return XCTFail("\(e)") }
            XCTAssertEqual(Set(models), [self.context.modelID, twins[0]])
        }
        var damaged = bytes
        damaged[5] ^= 0x10
        XCTAssertThrowsError(try FeatureBitstream.decode(damaged, contexts: [context])) {
            XCTAssertTrue("\($0)".contains("damaged"), "\($0)")
        }
        // Version 2: a clash of 32-bit keys is refused.
        let v2 = try FeatureBitstream.encode(try frame(bits: 4, mode: .fixedPerChannel, codec: .arithmeticContext, seed: 3, version: FeatureBitstream.compactVersion2))
        var same = context
        same.splitPoint = "block1"
        XCTAssertThrowsError(try FeatureBitstream.decode(v2, contexts: [context, same])) { XCTAssertTrue("\($0)".contains("one model per key"), "\($0)") }
        // The context's own check names the first field that differs.
        var header = try FeatureBitstream.decode(bytes, contexts: [context]).header
        header.splitPoint = "block3"
        XCTAssertEqual(context.mismatch(header)?.field, "split point")
    }

    /// One encoding per frame: a parameter equal to the codec's default is never written out.
    func testDefaultParameterWrittenOutIsRefused() throws {
        let f = try frame(bits: 4, mode: .perTensor, codec: .arithmeticContext(cdfShift: 7), seed: 5)
        var bytes = Array(try FeatureBitstream.encode(f).dropLast(4))
        XCTAssertEqual(bytes[0], 0xA4)
        XCTAssertEqual(bytes[4], 7)
        bytes[4] = 6
        let crc = bytes.withUnsafeBufferPointer { CRC32.update(context.key, $0) }
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
        XCTAssertThrowsError(try FeatureBitstream.decode(bytes, contexts: [context])) { XCTAssertTrue("\($0)".contains("A3"), "\($0)") }
    }

    /// One encoding per frame: the codec parameter's LEB128 in a longer form than the shortest (a final 00
    /// byte after another) is refused, in both compact versions, even with a correct CRC.
    func testNonShortestParameterIsRefused() throws {
        // (codec, its parameter's shortest LEB128): one byte and two bytes (three-byte values cannot grow).
        for (codec, leb) in [(FeatureCodec.arithmeticContext(cdfShift: 7), [0x07] as [UInt8]), (.arithmeticContext3(rateLimit: 200), [0xC8, 0x01]),
                             (.raw, [0x00])] {
            for version in [FeatureBitstream.compactVersion, FeatureBitstream.compactVersion2] where codec != .raw || version == FeatureBitstream.compactVersion2 {
                let encoded = Array(try FeatureBitstream.encode(try frame(bits: 4, mode: .perTensor, codec: codec, seed: 3, version: version)).dropLast(4))
                let at = version == FeatureBitstream.compactVersion2 ? 6 : 4
                XCTAssertEqual(Array(encoded[at..<(at + leb.count)]), leb, "\(codec)")
                let padded = leb.count == 1 ? [[leb[0] | 0x80, 0x00], [leb[0] | 0x80, 0x80, 0x00]] : [[leb[0], leb[1] | 0x80, 0x00]]
                for form in padded {
                    var bytes = Array(encoded[..<at]) + form + Array(encoded[(at + leb.count)...])
                    let crc = bytes.withUnsafeBufferPointer { CRC32.update(version == FeatureBitstream.compactVersion2 ? 0 : context.key, $0) }
                    for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
                    XCTAssertThrowsError(try FeatureBitstream.decode(bytes, contexts: [context]), "\(codec) v\(version) \(hex(form))") {
                        guard case .invalidField(let field, let expected, _)? = $0 as? FeatureBitstreamError else { return XCTFail("\($0)") }
                        XCTAssertEqual(field, "codec parameter")
                        XCTAssertTrue(expected.contains("shortest"), expected)
                    }
                }
            }
        }
    }

    /// Every truncation and every single-byte change of compact frames, and random bytes behind the marker:
    /// an error or a valid frame, never a trap or a hang.
    func testHostileCompactFramesNeverCrash() throws {
        var seeds: [[UInt8]] = []
        for (k, codec) in [FeatureCodec.raw, .zstd(level: 3), .arithmeticOrder0, .arithmeticContext(cdfShift: 6)].enumerated() {
            for mode in [QuantizerMode.perChannel, .fixedPerTensor] {
                for version in [FeatureBitstream.compactVersion, FeatureBitstream.compactVersion2] {
                    seeds.append(try FeatureBitstream.encode(try frame(bits: 4, mode: mode, codec: codec, seed: UInt64(k), version: version)))
                }
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
        for k in 0..<3000 {
            state = state &* 6364136223846793005 &+ 1
            let n = Int(state >> 58) + 1
            var b: [UInt8] = [[0xA2, 0xA3, 0xA4][k % 3]]
            for _ in 0..<n { state = state &* 6364136223846793005 &+ 1; b.append(UInt8(truncatingIfNeeded: state >> 33)) }
            _ = try? FeatureBitstream.decode(b, contexts: [context])
        }
        XCTAssertGreaterThan(rejected, 0)
    }
}

private let goldenCompact = "a3" + "c1c6" + "03" + "00000000" + "00004040" + "000305080a0f" + "38c656f7"
private let goldenCompact2 = "a2" + "c1c64946" + "03" + "00" + "00000000" + "00004040" + "000305080a0f" + "cc0f8f99"
