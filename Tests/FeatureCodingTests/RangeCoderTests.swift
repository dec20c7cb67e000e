// The range coder and the models on their own: frequency-table round trips, binary decisions at extreme
// probabilities (carry propagation, long 0xFF runs), the documented adaptation and rescale rules, golden
// bytes that pin the payload format, order-0 entropy, and a smoke run of the benchmark.

import FeatureCoding
import XCTest

final class RangeCoderTests: XCTestCase {
    func testMixedOperationsRoundTripIncludingCarries() throws {
        var rng = TestRNG(seed: 5)
        enum Op { case bit(Int, UInt32), interval(UInt32, UInt32, UInt32), direct(UInt32, Int) }
        var ops: [Op] = []
        for _ in 0..<60_000 {
            switch rng.below(4) {
            case 0: // skewed: long runs of the likely outcome push low towards 0xFF… and force carries
                let p0: UInt32 = rng.below(2) == 0 ? 65535 : 1
                ops.append(.bit(rng.below(50) == 0 ? (p0 == 1 ? 0 : 1) : (p0 == 1 ? 1 : 0), p0))
            case 1:
                ops.append(.bit(rng.below(2), UInt32(1 + rng.below(65535))))
            case 2:
                let total = UInt32(1 + rng.below(Int(RangeEncoder.maxTotal)))
                let cum = UInt32(rng.below(Int(total)))
                let freq = UInt32(1 + rng.below(Int(total - cum)))
                ops.append(.interval(cum, freq, total))
            default:
                let n = 1 + rng.below(16)
                ops.append(.direct(UInt32(rng.below(1 << n)), n))
            }
        }
        var enc = RangeEncoder()
        for op in ops {
            switch op {
            case .bit(let b, let p): enc.encodeBit(b, p0: p)
            case .interval(let c, let f, let t): try enc.encode(cumulative: c, frequency: f, total: t)
            case .direct(let v, let n): enc.encodeDirect(v, bits: n)
            }
        }
        let bytes = enc.finish()
        XCTAssertTrue(bytes.contains(0xFF))
        var dec = RangeDecoder(bytes)
        for (i, op) in ops.enumerated() {
            switch op {
            case .bit(let b, let p):
                let got = dec.decodeBit(p0: p)
                if got != b { return XCTFail("bit \(i): \(got) ≠ \(b)") }
            case .interval(let c, let f, let t):
                let target = dec.decodeTarget(total: t)
                if !(c..<(c + f)).contains(target) { return XCTFail("interval \(i): target \(target) ∉ [\(c), \(c + f))") }
                dec.consume(cumulative: c, frequency: f)
            case .direct(let v, let n):
                let got = dec.decodeDirect(bits: n)
                if got != v { return XCTFail("direct \(i): \(got) ≠ \(v)") }
            }
        }
        XCTAssertNoThrow(try dec.finish())
    }

    func testInvalidIntervalsThrow() {
        var enc = RangeEncoder()
        for (c, f, t) in [(0, 0, 10), (5, 6, 10), (0, 1, 0), (0, 1, (1 << 16) + 1)] as [(UInt32, UInt32, UInt32)] {
            XCTAssertThrowsError(try enc.encode(cumulative: c, frequency: f, total: t)) {
                guard case .invalidModel = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
            }
        }
    }

    func testAdaptiveFrequencyTableRoundTripAndRescale() throws {
        var rng = TestRNG(seed: 11)
        let symbols = (0..<20_000).map { _ in rng.below(7) == 0 ? rng.below(300) : rng.below(3) }
        var table = try AdaptiveFrequencyTable(symbolCount: 300, increment: 32, limit: 1 << 13)
        var enc = RangeEncoder()
        for s in symbols {
            try enc.encode(s, with: table)
            table.update(s)
            XCTAssertLessThanOrEqual(table.total, 1 << 13)
        }
        for s in 0..<300 { XCTAssertGreaterThanOrEqual(table.frequency(s), 1) }
        // The table's lookup agrees with its cumulative sums for every target.
        for t in stride(from: UInt32(0), to: table.total, by: 1) {
            let s = table.symbol(forTarget: t)
            XCTAssertTrue(table.cumulative(s) <= t && t < table.cumulative(s) + table.frequency(s))
        }
        var dec = RangeDecoder(enc.finish())
        var table2 = try AdaptiveFrequencyTable(symbolCount: 300, increment: 32, limit: 1 << 13)
        for (i, s) in symbols.enumerated() {
            let got = dec.decode(with: table2)
            if got != s { return XCTFail("symbol \(i): \(got) ≠ \(s)") }
            table2.update(got)
        }
        XCTAssertNoThrow(try dec.finish())
        XCTAssertThrowsError(try AdaptiveFrequencyTable(symbolCount: 1))
        XCTAssertThrowsError(try AdaptiveFrequencyTable(symbolCount: 10, limit: 1 << 17))
    }

    func testAdaptationRatesFollowTheDocumentedRule() {
        let rates = AdaptationRates(rateLimit: 30)
        XCTAssertEqual(rates.rateLimit, 30)
        XCTAssertEqual(AdaptationRates(rateLimit: 5000).rateLimit, 1022)
        XCTAssertEqual(AdaptiveBit().p0, 32768)
    }

    func testEmptyStreamAndExactEnd() throws {
        var enc = RangeEncoder()
        let bytes = enc.finish()
        XCTAssertEqual(bytes, [0])
        XCTAssertNoThrow(try RangeDecoder(bytes).finish())
        XCTAssertThrowsError(try RangeDecoder([]).finish()) {
            guard case .truncated = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try RangeDecoder([0, 0]).finish()) {
            guard case .corrupt = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
        }
        // The empty stream is only `00`: any other single byte ends with code ≥ 2^24, which the encoder's
        // rounded-up last byte never leaves.
        for byte in 1...255 {
            XCTAssertThrowsError(try RangeDecoder([UInt8(byte)]).finish(), "\(byte)") {
                guard case .corrupt = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
            }
        }
    }

    /// Pins the payload formats. Regenerate only on purpose, and then bump the format tag and docs/coders.md.
    func testGoldenBytes() throws {
        let shape = FeatureShape(channels: 2, height: 3, width: 4)
        let symbols: [UInt8] = [0, 0, 3, 9, 0, 7, 12, 10, 0, 0, 255, 128,
                                1, 0, 0, 2, 40, 41, 0, 0, 0, 200, 201, 0]
        let smallShape = FeatureShape(channels: 1, height: 2, width: 3)
        let context3 = try ArithmeticSymbolCodec(model: .context3()).encode(symbols, shape: shape, bits: 8)
        let order0 = try ArithmeticSymbolCodec(model: .order0).encode(symbols, shape: shape, bits: 8)
        let small3 = try ArithmeticSymbolCodec(model: .context3()).encode([1, 0, 2, 3, 3, 1], shape: smallShape, bits: 2)
        XCTAssertEqual(hex(context3), "385cf43cb2a074fb4f83b436cae9a875d869")
        XCTAssertEqual(hex(order0), "180003da68ba22fc031ad1197fc12ffefb447e35")
        XCTAssertEqual(hex(small3), "329cc638")
        // Tags 4 and 5: every part of the payload (flat runs, zero flags, class symbols of both signs, coded
        // and implied signs, class 8's flag, raw mantissa bits) is exercised by `symbols`; the expected bytes
        // are in docs/coders.md §6.
        let context4 = try ArithmeticSymbolCodec(model: .context4()).encode(symbols, shape: shape, bits: 8)
        let small4 = try ArithmeticSymbolCodec(model: .context4()).encode([1, 0, 2, 3, 3, 1], shape: smallShape, bits: 2)
        XCTAssertEqual(hex(context4), goldenContext4)
        XCTAssertEqual(hex(small4), goldenContext4Small)
        XCTAssertEqual(try ArithmeticSymbolCodec(model: .context4()).decode(bytesFromHex(goldenContext4), shape: shape, bits: 8), symbols)
        let context = try ArithmeticSymbolCodec(model: .context()).encode(symbols, shape: shape, bits: 8)
        let small = try ArithmeticSymbolCodec(model: .context()).encode([1, 0, 2, 3, 3, 1], shape: smallShape, bits: 2)
        XCTAssertEqual(hex(context), goldenContext)
        XCTAssertEqual(hex(small), goldenContextSmall)
        XCTAssertEqual(try ArithmeticSymbolCodec(model: .context()).decode(bytesFromHex(goldenContext), shape: shape, bits: 8), symbols)
    }

    /// Residuals of every magnitude class at every width: the widest classes send up to six mantissa bits in
    /// one bypass step, which must round-trip next to modelled decisions at extreme probabilities.
    func testContextModelRoundTripsEveryResidualClass() throws {
        var rng = TestRNG(seed: 11)
        for codec in [ArithmeticSymbolCodec(model: .context()), ArithmeticSymbolCodec(model: .context4()), ArithmeticSymbolCodec(model: .context3())] {
        for bits in 1...8 {
            let top = (1 << bits) - 1
            let shape = FeatureShape(channels: 3, height: 9, width: 11)
            // Checkerboard of 1 and the largest value (|residual| up to 2^bits − 2), then random, then constant.
            let checker = (0..<(shape.height * shape.width)).map { UInt8(($0 / shape.width + $0) % 2 == 0 ? 1 : top) }
            let random = (0..<(shape.height * shape.width)).map { _ in UInt8(rng.below(top + 1)) }
            let constant = [UInt8](repeating: UInt8(top), count: shape.height * shape.width)
            let symbols = checker + random + constant
            let payload = try codec.encode(symbols, shape: shape, bits: bits)
            XCTAssertEqual(try codec.decode(payload, shape: shape, bits: bits), symbols, "\(codec.name) bits \(bits)")
        }
        }
    }

    func testFirstContextFormatIsRejectedWithAClearMessage() {
        let shape = FeatureShape(channels: 1, height: 2, width: 3)
        XCTAssertThrowsError(try ArithmeticSymbolCodec(model: .context3()).decode([0x22, 0x9c, 0xc6, 0x38], shape: shape, bits: 2)) {
            guard case .headerMismatch(let why) = $0 as? FeatureCodingError else { return XCTFail("\($0)") }
            XCTAssertTrue(why.contains("first context-model format"), why)
        }
    }

    func testOrder0Entropy() {
        XCTAssertEqual(order0Entropy([]), 0)
        XCTAssertEqual(order0Entropy([UInt8](repeating: 4, count: 100)), 0)
        XCTAssertEqual(order0Entropy((0...255).map { UInt8($0) }), 8, accuracy: 1e-12)
        XCTAssertEqual(order0Entropy([0, 1, 0, 1], alphabet: 2), 1, accuracy: 1e-12)
    }

    /// Not a speed test: checks the compression ordering the context model exists for, on smooth half-zero maps.
    func testContextModelBeatsZstdAndOrder0OnSmoothMaps() throws {
        let shape = FeatureShape(channels: 16, height: 28, width: 28)
        let symbols = smoothFeatures(shape: shape, bits: 8, seed: 1)
        let zstd = try ZstdSymbolCodec(level: 19).encode(symbols, shape: shape, bits: 8).count
        let order0 = try ArithmeticSymbolCodec(model: .order0).encode(symbols, shape: shape, bits: 8).count
        for model in [ArithmeticModel.context(), .context4(), .context3()] {
            let context = try ArithmeticSymbolCodec(model: model).encode(symbols, shape: shape, bits: 8).count
            XCTAssertLessThan(context, zstd, "\(model)")
            XCTAssertLessThan(context, order0, "\(model)")
        }
    }

    func testBenchmarkReportsEveryCodec() {
        let shape = FeatureShape(channels: 2, height: 6, width: 6)
        let symbols = smoothFeatures(shape: shape, bits: 8, seed: 2) + smoothFeatures(shape: shape, bits: 8, seed: 3)
        let r = CoderBenchmark.run(symbols: symbols, shape: shape, bits: 8, minSeconds: 0)
        XCTAssertEqual(r["tensors"] as? Int, 2)
        for name in ["zstd-1", "zstd-19", "arith-order0", "arith-context3", "arith-context4", "arith-context"] {
            let c = r[name] as? [String: Any]
            XCTAssertEqual(c?["roundTrip"] as? Bool, true, name)
            XCTAssertNotNil(c?["vsZstd19"] as? Double, name)
        }
        XCTAssertNotNil(CoderBenchmark.run(symbols: [1, 2, 3], shape: shape, bits: 8)["error"])
        let only = CoderBenchmark.run(symbols: symbols, shape: shape, bits: 8, minSeconds: 0, codecs: [ZstdSymbolCodec(level: 1)])
        XCTAssertNotNil(only["zstd-1"])
        XCTAssertNil(only["arith-context"])
        XCTAssertNil((only["zstd-1"] as? [String: Any])?["vsZstd19"], "no ratio without zstd -19 measured")
    }

    func testInterleavedBenchmarkComparesWithTheFirstCodec() {
        let shape = FeatureShape(channels: 2, height: 6, width: 6)
        let symbols = (1...3).flatMap { smoothFeatures(shape: shape, bits: 8, seed: UInt64($0)) }
        let codecs: [any SymbolCodec] = [ArithmeticSymbolCodec(model: .context4()), ArithmeticSymbolCodec(model: .context()), ZstdSymbolCodec(level: 19)]
        let r = CoderBenchmark.interleaved(symbols: symbols, shape: shape, bits: 8, codecs: codecs, rounds: 3, tensorsPerPass: 2)
        let sequential = CoderBenchmark.run(symbols: symbols, shape: shape, bits: 8, minSeconds: 0, codecs: codecs)
        XCTAssertEqual(r["rounds"] as? Int, 3)
        for codec in codecs {
            let c = r[codec.name] as? [String: Any]
            XCTAssertEqual(c?["roundTrip"] as? Bool, true, codec.name)
            XCTAssertEqual(c?["bytes"] as? Int, (sequential[codec.name] as? [String: Any])?["bytes"] as? Int, codec.name)
            XCTAssertGreaterThanOrEqual(c?["decodeMBps"] as? Double ?? 0, c?["decodeMBpsMedian"] as? Double ?? .infinity, codec.name)
            XCTAssertNotNil(c?["vsZstd19"] as? Double, codec.name)
        }
        let first = r["arith-context4"] as? [String: Any]
        XCTAssertEqual(first?["encodeVsFirst"] as? Double, 1)
        XCTAssertEqual(first?["decodeVsFirst"] as? Double, 1)
        XCTAssertGreaterThan((r["arith-context"] as? [String: Any])?["decodeVsFirst"] as? Double ?? 0, 0)
        XCTAssertNotNil(CoderBenchmark.interleaved(symbols: symbols, shape: shape, bits: 8, codecs: codecs, rounds: 0)["error"])
        XCTAssertNotNil(CoderBenchmark.interleaved(symbols: [1, 2], shape: shape, bits: 8, codecs: codecs, rounds: 2)["error"])
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

private let goldenContext4 = "480a556f048467526c6430b434f5fae35101"
private let goldenContext4Small = "4203913a4b00"
private let goldenContext = "5809556f090f5b495c052e34d6eb0f8f0a"
private let goldenContextSmall = "5202914200"
