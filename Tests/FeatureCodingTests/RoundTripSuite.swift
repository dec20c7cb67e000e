// One round-trip property suite, run against every SymbolCodec: empty input, one symbol, every value of
// every bit width, long runs, random and structured data, odd shapes, deterministic output, argument errors.
// Plus truncation and trailing-byte detection where each codec's format guarantees it.

import FeatureCoding
import XCTest

/// Checks `decode(encode(x)) == x` and that encoding twice gives the same bytes.
func assertRoundTrip(_ codec: any SymbolCodec, _ symbols: [UInt8], _ shape: FeatureShape, bits: Int,
                     _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    do {
        let a = try codec.encode(symbols, shape: shape, bits: bits)
        let b = try codec.encode(symbols, shape: shape, bits: bits)
        XCTAssertEqual(a, b, "\(codec.name) \(what): encoding is not deterministic", file: file, line: line)
        let back = try codec.decode(a, shape: shape, bits: bits)
        XCTAssertEqual(back, symbols, "\(codec.name) \(what): round trip differs", file: file, line: line)
    } catch {
        XCTFail("\(codec.name) \(what): \(error)", file: file, line: line)
    }
}

/// The whole property suite for one codec.
func runRoundTripSuite(_ codec: any SymbolCodec) {
    var rng = TestRNG(seed: 7)
    // Empty inputs, including a zero-element shape with large other dimensions.
    for shape in [FeatureShape(channels: 0, height: 28, width: 28), FeatureShape(channels: 16, height: 0, width: 0),
                  FeatureShape(channels: 1 << 40, height: 0, width: 1 << 20)] {
        assertRoundTrip(codec, [], shape, bits: 8, "empty \(shape)")
    }
    for bits in 1...8 {
        let maxV = (1 << bits) - 1
        // A single symbol: 0, max, and a middle value.
        for v in Set([0, maxV, maxV / 2]) {
            assertRoundTrip(codec, [UInt8(v)], FeatureShape(channels: 1, height: 1, width: 1), bits: bits, "single \(v) bits \(bits)")
        }
        // All 2^bits values, in order and reversed, as one row and as a column.
        let all = (0...maxV).map { UInt8($0) }
        assertRoundTrip(codec, all, FeatureShape(channels: 1, height: 1, width: all.count), bits: bits, "all values bits \(bits)")
        assertRoundTrip(codec, all.reversed(), FeatureShape(channels: all.count, height: 1, width: 1), bits: bits, "all values reversed bits \(bits)")
        // Long runs.
        let runShape = FeatureShape(channels: 3, height: 17, width: 19)
        let n = runShape.elementCount!
        assertRoundTrip(codec, [UInt8](repeating: 0, count: n), runShape, bits: bits, "zeros bits \(bits)")
        assertRoundTrip(codec, [UInt8](repeating: UInt8(maxV), count: n), runShape, bits: bits, "all max bits \(bits)")
        // Random.
        for shape in [FeatureShape(channels: 1, height: 1, width: 1), FeatureShape(channels: 3, height: 5, width: 7),
                      FeatureShape(channels: 2, height: 1, width: 9), FeatureShape(channels: 2, height: 9, width: 1),
                      FeatureShape(channels: 4, height: 12, width: 10)] {
            assertRoundTrip(codec, rng.bytes(shape.elementCount!, below: maxV + 1), shape, bits: bits, "random \(shape) bits \(bits)")
        }
        // Random with a sparse alphabet: zeros and max only (extreme residuals).
        let sparse = (0..<n).map { _ in rng.below(2) == 0 ? UInt8(0) : UInt8(maxV) }
        assertRoundTrip(codec, sparse, runShape, bits: bits, "0/max bits \(bits)")
        // Structured: smooth maps, half zeros.
        for shape in [FeatureShape(channels: 4, height: 14, width: 14), FeatureShape(channels: 3, height: 5, width: 7)] {
            assertRoundTrip(codec, smoothFeatures(shape: shape, bits: bits, seed: UInt64(bits)), shape, bits: bits, "smooth \(shape) bits \(bits)")
        }
    }
}

final class RoundTripSuiteTests: XCTestCase {
    func testZstdLevel1() { runRoundTripSuite(allCodecs[0]) }
    func testZstdLevel19() { runRoundTripSuite(allCodecs[1]) }
    func testArithmeticOrder0() { runRoundTripSuite(allCodecs[2]) }
    func testArithmeticContext() { runRoundTripSuite(allCodecs[3]) }
    func testArithmeticContextFastestAdaptation() { runRoundTripSuite(allCodecs[4]) }
    func testArithmeticContextSlowestAdaptation() { runRoundTripSuite(allCodecs[5]) }
    func testArithmeticContext3() { runRoundTripSuite(allCodecs[6]) }
    func testArithmeticContext3FastAdaptation() { runRoundTripSuite(allCodecs[7]) }
    func testArithmeticContext4() { runRoundTripSuite(allCodecs[8]) }
    /// The named tests above cover every codec of the list, in its order.
    func testEveryCodecHasItsRoundTripTest() {
        XCTAssertEqual(allCodecs.map(\.name), ["zstd-1", "zstd-19", "arith-order0", "arith-context", "arith-context-s1", "arith-context-s14",
                                               "arith-context3", "arith-context3-r5", "arith-context4"])
    }

    func testArgumentErrorsAreTyped() {
        let shape = FeatureShape(channels: 2, height: 2, width: 2)
        for codec in allCodecs {
            XCTAssertThrowsError(try codec.encode([0, 1, 2], shape: shape, bits: 8)) {
                XCTAssertEqual($0 as? FeatureCodingError, .countMismatch(expected: 8, found: 3))
            }
            XCTAssertThrowsError(try codec.encode([0, 0, 0, 8, 0, 0, 0, 0], shape: shape, bits: 3)) {
                XCTAssertEqual($0 as? FeatureCodingError, .symbolOutOfRange(index: 3, value: 8, bits: 3))
            }
            for bad in [0, 9, -1] {
                XCTAssertThrowsError(try codec.encode([UInt8](repeating: 0, count: 8), shape: shape, bits: bad)) {
                    XCTAssertEqual($0 as? FeatureCodingError, .invalidBits(bad))
                }
                XCTAssertThrowsError(try codec.decode([1, 2, 3], shape: shape, bits: bad)) {
                    XCTAssertEqual($0 as? FeatureCodingError, .invalidBits(bad))
                }
            }
            let negative = FeatureShape(channels: -1, height: 2, width: 2)
            XCTAssertThrowsError(try codec.decode([1, 2, 3], shape: negative, bits: 8)) { XCTAssertTrue($0 is FeatureCodingError) }
            let huge = FeatureShape(channels: Int.max / 2, height: 4, width: 4)
            XCTAssertThrowsError(try codec.decode([1, 2, 3], shape: huge, bits: 8)) { XCTAssertTrue($0 is FeatureCodingError) }
            XCTAssertFalse("\(FeatureCodingError.invalidBits(9))".isEmpty)
        }
    }

    /// Every strict prefix of this payload and its extensions by 00 and FF are rejected (PayloadBoundaryTests
    /// goes through many payloads and every extension), and a payload decoded with the wrong model/bits is
    /// rejected by its header.
    func testTruncationAndTrailingBytesAreDetected() throws {
        let shape = FeatureShape(channels: 3, height: 6, width: 5)
        let symbols = smoothFeatures(shape: shape, bits: 8, seed: 3)
        for codec in allCodecs {
            let payload = try codec.encode(symbols, shape: shape, bits: 8)
            for cut in 0..<payload.count {
                XCTAssertThrowsError(try codec.decode(Array(payload[..<cut]), shape: shape, bits: 8), "\(codec.name) prefix \(cut)") {
                    XCTAssertTrue($0 is FeatureCodingError)
                }
            }
            for extra: UInt8 in [0, 0xFF] {
                XCTAssertThrowsError(try codec.decode(payload + [extra], shape: shape, bits: 8), "\(codec.name) + byte") {
                    XCTAssertTrue($0 is FeatureCodingError)
                }
            }
        }
        let context = ArithmeticSymbolCodec(model: .context())
        let payload = try context.encode(symbols, shape: shape, bits: 8)
        XCTAssertThrowsError(try ArithmeticSymbolCodec(model: .order0).decode(payload, shape: shape, bits: 8)) {
            guard case .headerMismatch = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try context.decode(payload, shape: shape, bits: 7)) {
            guard case .headerMismatch = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
        }
    }

    func testZstdDecodeHonoursTheOutputLimit() throws {
        let big = try ZstdCodec.encode([UInt8](repeating: 1, count: 10_000), level: 3)
        XCTAssertThrowsError(try ZstdCodec.decode(big, expectedCount: 100)) {
            XCTAssertEqual($0 as? FeatureCodingError, .outputLimitExceeded(limit: 100))
        }
        XCTAssertThrowsError(try ZstdCodec.decode(big, expectedCount: 20_000)) {
            guard case .corrupt = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try ZstdCodec.decode(big, expectedCount: 10_000), [UInt8](repeating: 1, count: 10_000))
        // A zero-element shape must not read a huge content size from a hostile frame.
        let small = FeatureShape(channels: 1, height: 2, width: 2)
        XCTAssertThrowsError(try ZstdSymbolCodec(level: 1).decode(big, shape: small, bits: 8)) {
            XCTAssertEqual($0 as? FeatureCodingError, .outputLimitExceeded(limit: 4))
        }
    }
}
