// The parts of the tag-4/5 context model, each against a plain reference: the SIMD adaptive-CDF update
// against a scalar loop written from docs/coders.md, the decoder's vector symbol search against a linear
// search, the raw-bit stream and LEB128 lengths, what the raw stream of each tag holds (counted from the
// spec), and the payload's damage detection.

@testable import FeatureCoding
import XCTest

final class ContextModel4Tests: XCTestCase {
    /// The update rule of docs/coders.md §6, one lane at a time.
    func referenceUpdate(_ u: [Int], symbol: Int, shift: Int) -> [Int] {
        let total = (1 << 15) - 8
        return (0..<8).map { j in
            let f = u[j] - (j + 1)
            let g = j < symbol ? f - (f >> shift) : f + ((total - f) >> shift)
            return g + j + 1
        }
    }

    func testCDFUpdateMatchesScalarReference() {
        var rng = TestRNG(seed: 5)
        let shifts = AdaptiveCDF.shiftTable(maxShift: 6)
        XCTAssertEqual(Array(shifts.prefix(8)), [1, 1, 2, 2, 2, 2, 3, 3])
        XCTAssertEqual(shifts.count, 63)
        XCTAssertEqual(shifts.last, 6)
        let m = UnsafeMutablePointer<UInt16>.allocate(capacity: AdaptiveCDF.words)
        defer { m.deallocate() }
        AdaptiveCDF.initialize(m, used: 8, count: 4)
        XCTAssertEqual(Int(m[AdaptiveCDF.countWord]), 4)
        AdaptiveCDF.initialize(m, used: 5, count: 0)
        XCTAssertEqual(m[0], 0)
        XCTAssertEqual(m[8], 1 << 15)
        // Uniform over the first 5 symbols, frequency 1 for the other 3.
        XCTAssertEqual((1...8).map { Int(m[$0]) }, [6553, 13106, 19659, 26212, 32765, 32766, 32767, 32768])
        shifts.withUnsafeBufferPointer { sp in
            for step in 0..<5000 {
                // Mostly skewed symbols (the distribution sharpens), sometimes any symbol.
                let symbol = step % 7 == 0 ? rng.below(8) : min(rng.below(3) * rng.below(4), 7)
                let before = (1...8).map { Int(m[$0]) }
                let n = Int(m[AdaptiveCDF.countWord])
                AdaptiveCDF.update(m, symbol, sp.baseAddress!, UInt16(shifts.count - 1))
                let after = (1...8).map { Int(m[$0]) }
                XCTAssertEqual(after, referenceUpdate(before, symbol: symbol, shift: Int(shifts[n])), "step \(step)")
                XCTAssertEqual(Int(m[AdaptiveCDF.countWord]), min(n + 1, shifts.count - 1))
                // Every symbol keeps a frequency ≥ 1 and the top stays at 2^15.
                XCTAssertEqual(after[7], 1 << 15)
                XCTAssertTrue(zip([0] + after, after).allSatisfy { $0 < $1 }, "step \(step): \(after)")
                if step % 997 == 0 { for j in 10..<AdaptiveCDF.words { XCTAssertEqual(m[j], 0) } }
            }
        }
    }

    /// The decoder's symbol search (a vector compare and a lane sum) against a linear search, over every
    /// target of random distributions: decoding the encoder's interval gives the encoder's symbol.
    func testSymbolSearchMatchesLinearSearch() {
        var rng = TestRNG(seed: 8)
        let m = UnsafeMutablePointer<UInt16>.allocate(capacity: AdaptiveCDF.words)
        defer { m.deallocate() }
        for trial in 0..<200 {
            // A random strictly increasing U_0 < … < U_7 = 2^15.
            var cuts = Set<Int>()
            while cuts.count < 7 { cuts.insert(1 + rng.below((1 << 15) - 1)) }
            let u = cuts.sorted() + [1 << 15]
            m.initialize(repeating: 0, count: AdaptiveCDF.words)
            for j in 0..<8 { m[1 + j] = UInt16(u[j]) }
            for _ in 0..<50 {
                let symbol = rng.below(8)
                var enc = BitEncoder(rc: RangeEncoder())
                _ = enc.codeSymbol(symbol, m)
                let bytes = enc.rc.finish()
                var dec = BitDecoder(rc: RangeDecoder(bytes))
                let got = dec.codeSymbol(0, m)
                XCTAssertEqual(got, symbol, "trial \(trial)")
                XCTAssertNoThrow(try dec.rc.finish())
                // The search itself, at the interval's ends.
                let lo = symbol == 0 ? 0 : u[symbol - 1]
                for t in [lo, u[symbol] - 1] {
                    XCTAssertEqual(u.filter { $0 <= t }.count, symbol)
                }
            }
        }
    }

    func testRawBitsRoundTripAndEndChecks() throws {
        var rng = TestRNG(seed: 3)
        let fields = (0..<1000).map { _ -> (Int, Int) in let c = rng.below(9); return (rng.below(1 << c), c) }
        var w = RawBitWriter(maxFields: fields.count)
        for (v, c) in fields { _ = w.field(v | (rng.below(4) << c), count: c) } // bits above `count` are ignored
        let bytes = w.finish()
        XCTAssertEqual(bytes.count, (fields.reduce(0) { $0 + $1.1 } + 7) / 8)
        var r = RawBitReader(bytes[...], maxFields: fields.count)
        for (i, (v, c)) in fields.enumerated() { XCTAssertEqual(r.field(0, count: c), v, "field \(i)") }
        XCTAssertNoThrow(try r.finish())
        // LSB first: fields 1 (1 bit), 2 (2 bits), 5 (3 bits) → 0b101_10_1 = 0x2d.
        var w2 = RawBitWriter(maxFields: 3)
        _ = w2.field(1, count: 1); _ = w2.field(2, count: 2); _ = w2.field(5, count: 3)
        XCTAssertEqual(w2.finish(), [0x2d])
        // Reading past the end, leaving bytes unread, or set padding bits: errors, never a crash.
        var short = RawBitReader(bytes.dropLast(), maxFields: fields.count)
        for (_, c) in fields { _ = short.field(0, count: c) }
        XCTAssertThrowsError(try short.finish()) { guard case .truncated = $0 as? FeatureCodingError else { return XCTFail("\($0)") } }
        var long = RawBitReader((bytes + [0])[...], maxFields: fields.count)
        for (_, c) in fields { _ = long.field(0, count: c) }
        XCTAssertThrowsError(try long.finish()) { guard case .corrupt = $0 as? FeatureCodingError else { return XCTFail("\($0)") } }
        var padded = RawBitReader([0xff][...], maxFields: 1)
        XCTAssertEqual(padded.field(0, count: 3), 7)
        XCTAssertThrowsError(try padded.finish()) { guard case .corrupt = $0 as? FeatureCodingError else { return XCTFail("\($0)") } }
        // A reader asked for more fields than the stream holds reads zeros from its padding.
        var empty = RawBitReader([][...], maxFields: 100)
        for _ in 0..<100 { XCTAssertEqual(empty.field(0, count: 8), 0) }
        XCTAssertThrowsError(try empty.finish())
    }

    func testLEB128() throws {
        for v in [0, 1, 127, 128, 300, 16383, 16384, (1 << 28) - 1] {
            var out: [UInt8] = [9]
            appendLEB128(v, to: &out)
            let (back, end) = try readLEB128(out, at: 1)
            XCTAssertEqual(back, v)
            XCTAssertEqual(end, out.count)
        }
        var b: [UInt8] = []
        appendLEB128(300, to: &b)
        XCTAssertEqual(b, [0xac, 0x02])
        XCTAssertThrowsError(try readLEB128([0x80], at: 0)) { guard case .truncated = $0 as? FeatureCodingError else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try readLEB128([0x80, 0x00], at: 0)) { guard case .corrupt = $0 as? FeatureCodingError else { return XCTFail("\($0)") } }
        XCTAssertThrowsError(try readLEB128([0x80, 0x80, 0x80, 0x80, 0x01], at: 0)) { guard case .corrupt = $0 as? FeatureCodingError else { return XCTFail("\($0)") } }
    }

    /// The raw stream's length, counted from docs/coders.md §6 without the model: per symbol that is neither
    /// a flat hit nor a zero, `max(k − 1, 0)` mantissa bits, one class-8 flag bit when the class symbol is 7
    /// at 8 bits, and (tag 5 only) one sign bit when both signs are possible. Also: a map with no coded sign
    /// gives the two tags the same payload but for the tag.
    func testRawStreamHoldsMantissasAndTag5Signs() throws {
        var rng = TestRNG(seed: 9)
        for bits in [8, 5, 2] {
            let shape = FeatureShape(channels: 3, height: 11, width: 13)
            let top = (1 << bits) - 1
            // Smooth maps with noise: flat runs, zeros, both signs, implied signs at both ends of the range.
            let symbols = smoothFeatures(shape: shape, bits: bits, seed: UInt64(bits)).map { v -> UInt8 in
                rng.below(4) == 0 ? UInt8(rng.below(top + 1)) : v
            }
            let H = shape.height, W = shape.width
            func at(_ c: Int, _ y: Int, _ x: Int) -> Int {
                c < 0 || y < 0 || x < 0 || x >= W ? 0 : Int(symbols[(c * H + y) * W + x])
            }
            var mantissa = 0, signs = 0
            for c in 0..<shape.channels { for y in 0..<H { for x in 0..<W {
                let v = at(c, y, x), a = at(c, y, x - 1), b = at(c, y - 1, x), cc = at(c, y - 1, x - 1), d = at(c, y - 1, x + 1)
                if (a == b && b == cc && cc == d && v == a) || v == 0 { continue }
                let med = a + b - cc < min(a, b) ? min(a, b) : (a + b - cc > max(a, b) ? max(a, b) : a + b - cc)
                let p = max(med, 1), m = abs(v - p)
                let k = m == 0 ? 0 : Int.bitWidth - m.leadingZeroBitCount
                mantissa += max(k - 1, 0) + (min(k, 7) == 7 && bits == 8 ? 1 : 0)
                if m > 0 && p - m >= 1 && p + m <= top { signs += 1 }
            } } }
            XCTAssertGreaterThan(signs, 10, "bits \(bits): the map must code signs")
            for (model, rawBits) in [(ArithmeticModel.context4(), mantissa), (.context(), mantissa + signs)] {
                let payload = try ArithmeticSymbolCodec(model: model).encode(symbols, shape: shape, bits: bits)
                let (coded, start) = try readLEB128(payload, at: 1)
                XCTAssertEqual(payload.count - start - coded, (rawBits + 7) / 8, "\(model) bits \(bits)")
            }
        }
        // 1-bit maps: every nonzero symbol is predicted exactly (p ≥ 1), so no sign is ever coded.
        let shape = FeatureShape(channels: 2, height: 7, width: 9)
        let ones = (0..<shape.elementCount!).map { _ in UInt8(rng.below(2)) }
        let p4 = try ArithmeticSymbolCodec(model: .context4()).encode(ones, shape: shape, bits: 1)
        let p5 = try ArithmeticSymbolCodec(model: .context()).encode(ones, shape: shape, bits: 1)
        XCTAssertEqual([p4[0] >> 4, p5[0] >> 4], [4, 5])
        XCTAssertEqual(p4.dropFirst(), p5.dropFirst())
    }

    /// Damage to each part of a tag-4 or tag-5 payload is reported, with the part named where it can be.
    func testDamagedPayloadsAreRejected() throws {
        for codec in [ArithmeticSymbolCodec(model: .context()), ArithmeticSymbolCodec(model: .context4())] {
        let shape = FeatureShape(channels: 4, height: 9, width: 9)
        let symbols = smoothFeatures(shape: shape, bits: 8, seed: 4)
        let p = try codec.encode(symbols, shape: shape, bits: 8)
        let (coded, start) = try readLEB128(p, at: 1)
        XCTAssertGreaterThan(p.count, start + coded, "the smooth map has raw mantissa bits")
        func rejects(_ bytes: [UInt8], _ what: String) {
            XCTAssertThrowsError(try codec.decode(bytes, shape: shape, bits: 8), "\(codec.name): \(what)") {
                XCTAssertTrue($0 is FeatureCodingError, "\(codec.name): \(what): \($0)")
            }
        }
        rejects(Array(p.prefix(1)), "no length")
        rejects(Array(p.prefix(start + coded - 1)), "range stream cut")
        rejects(Array(p.dropLast()), "raw bits cut")
        rejects(p + [0], "a trailing byte")
        var longer = p
        longer[1] = longer[1] &+ 1 // the range stream claims one more byte
        rejects(longer, "length + 1")
        var other = p
        other[0] = (p[0] >> 4 == 4 ? 5 : 4) << 4 | 8
        rejects(other, "the other tag")
        var tag3 = p
        tag3[0] = 3 << 4 | 8
        rejects(tag3, "tag 3")
        XCTAssertEqual(try codec.decode(p, shape: shape, bits: 8), symbols)
        }
    }
}
