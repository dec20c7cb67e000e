// Where a payload ends: over a few hundred small payloads of every codec (random and structured maps of every
// width, shapes of 1 to 60 elements), every strict prefix and every one-byte extension. Payloads that fix
// their own length (zstd's frame, the tag-4/5 stream length and raw-bit count) reject every one; the tag-1
// and tag-3 range-coded streams end where the symbol count ends them, so there a prefix or an extension can
// be the payload of another tensor, and the decoder must accept exactly those (docs/coders.md §3).

import FeatureCoding
import XCTest

final class PayloadBoundaryTests: XCTestCase {
    /// 240 maps: for every width and shape, two random, one smooth, one constant and one of zeros and maxima.
    static let inputs: [(symbols: [UInt8], shape: FeatureShape, bits: Int)] = {
        var rng = TestRNG(seed: 31)
        var inputs: [(symbols: [UInt8], shape: FeatureShape, bits: Int)] = []
        let shapes = [FeatureShape(channels: 1, height: 1, width: 1), FeatureShape(channels: 1, height: 1, width: 3),
                      FeatureShape(channels: 1, height: 2, width: 3), FeatureShape(channels: 2, height: 2, width: 2),
                      FeatureShape(channels: 2, height: 3, width: 4), FeatureShape(channels: 3, height: 4, width: 5)]
        for bits in 1...8 {
            let top = (1 << bits) - 1
            for shape in shapes {
                let n = shape.elementCount!
                for _ in 0..<2 { inputs.append((rng.bytes(n, below: top + 1), shape, bits)) }
                inputs.append((smoothFeatures(shape: shape, bits: bits, seed: rng.next()), shape, bits))
                inputs.append(([UInt8](repeating: UInt8(rng.below(top + 1)), count: n), shape, bits))
                inputs.append(((0..<n).map { _ in rng.below(2) == 0 ? 0 : UInt8(top) }, shape, bits))
            }
        }
        return inputs
    }()

    /// Decodes every strict prefix and one-byte extension of every input's payload. With `delimited`, each must
    /// be rejected; without, each must be rejected unless it is exactly the payload of what it decodes to.
    /// Returns how many were accepted (always 0 with `delimited`).
    @discardableResult
    func checkBoundaries(_ codec: any SymbolCodec, delimited: Bool) throws -> Int {
        var wrong: [String] = []
        var accepted = 0, checked = 0
        for (symbols, shape, bits) in Self.inputs {
            let payload = try codec.encode(symbols, shape: shape, bits: bits)
            for variant in 0..<(payload.count + 256) {
                let bytes = variant < payload.count ? Array(payload[..<variant]) : payload + [UInt8(variant - payload.count)]
                checked += 1
                guard let out = try? codec.decode(bytes, shape: shape, bits: bits) else { continue }
                accepted += 1
                if delimited || (try? codec.encode(out, shape: shape, bits: bits)) != bytes {
                    wrong.append("\(shape), \(bits) bits: \(hex(bytes)), a \(variant < payload.count ? "prefix" : "extension") of \(hex(payload)), decodes to \(out)")
                }
            }
        }
        XCTAssertTrue(wrong.isEmpty, "\(codec.name) accepted \(wrong.count) of \(checked) prefixes and extensions that are no payload:\n" + wrong.prefix(10).joined(separator: "\n"))
        return accepted
    }

    func testZstd() throws { try checkBoundaries(ZstdSymbolCodec(level: 19), delimited: true) }
    func testArithmeticContext() throws { try checkBoundaries(ArithmeticSymbolCodec(model: .context()), delimited: true) }
    func testArithmeticContext4() throws { try checkBoundaries(ArithmeticSymbolCodec(model: .context4()), delimited: true) }
    func testArithmeticOrder0() throws { try checkBoundaries(ArithmeticSymbolCodec(model: .order0), delimited: false) }
    func testArithmeticContext3() throws { try checkBoundaries(ArithmeticSymbolCodec(model: .context3()), delimited: false) }

    /// Why tags 1 and 3 cannot reject every prefix and extension: these are payloads of two tensors each.
    func testUndelimitedPayloadsCanExtendEachOther() throws {
        let order0 = ArithmeticSymbolCodec(model: .order0), context3 = ArithmeticSymbolCodec(model: .context3())
        let row = FeatureShape(channels: 1, height: 1, width: 3), map = FeatureShape(channels: 1, height: 2, width: 3)
        XCTAssertEqual(hex(try order0.encode([3, 0, 3], shape: row, bits: 2)), "12c2")
        XCTAssertEqual(hex(try order0.encode([3, 1, 0], shape: row, bits: 2)), "12c24a")
        XCTAssertEqual(hex(try context3.encode([0, 0, 0, 0, 0, 2], shape: map, bits: 2)), "323d")
        XCTAssertEqual(hex(try context3.encode([0, 0, 0, 0, 0, 3], shape: map, bits: 2)), "323dad")
    }
}
