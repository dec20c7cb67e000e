// Robustness of every decoder on hostile input: at least 100,000 mutated or random payloads per decoder
// (zstd, arithmetic order-0, both arithmetic context models). Each decode must throw a FeatureCodingError or return
// exactly C·H·W symbols below 2^bits — never crash, hang, or over-allocate. Shapes are tiny so the debug
// build runs this in a few seconds.

import FeatureCoding
import XCTest

final class FuzzTests: XCTestCase {
    func fuzz(_ codec: any SymbolCodec, iterations: Int = 100_000) throws {
        var rng = TestRNG(seed: 99)
        let shapes = [FeatureShape(channels: 2, height: 3, width: 4), FeatureShape(channels: 1, height: 1, width: 1),
                      FeatureShape(channels: 1, height: 5, width: 3)]
        var seeds: [(payload: [UInt8], shape: FeatureShape, bits: Int)] = []
        for (i, shape) in shapes.enumerated() {
            for bits in [1, 3, 8] {
                let n = shape.elementCount!
                let data = i == 0 ? smoothFeatures(shape: shape, bits: bits, seed: UInt64(bits)) : rng.bytes(n, below: 1 << bits)
                seeds.append((try codec.encode(data, shape: shape, bits: bits), shape, bits))
            }
        }
        var thrown = 0
        for it in 0..<iterations {
            let s = seeds[it % seeds.count]
            var input: [UInt8]
            switch rng.below(4) {
            case 0: // random bytes, random length
                input = rng.bytes(rng.below(40))
            case 1: // valid header byte (if any), random rest
                input = Array(s.payload.prefix(1)) + rng.bytes(rng.below(30))
            default: // mutate a valid payload: flips, byte sets, cuts, insertions
                input = s.payload
                for _ in 0...rng.below(3) {
                    switch rng.below(4) {
                    case 0 where !input.isEmpty: input[rng.below(input.count)] ^= UInt8(1 << rng.below(8))
                    case 1 where !input.isEmpty: input[rng.below(input.count)] = UInt8(rng.below(256))
                    case 2 where !input.isEmpty: input.removeSubrange(rng.below(input.count)...)
                    default: input.insert(UInt8(rng.below(256)), at: rng.below(input.count + 1))
                    }
                }
            }
            do {
                let out = try codec.decode(input, shape: s.shape, bits: s.bits)
                XCTAssertEqual(out.count, s.shape.elementCount!)
                if let bad = out.first(where: { Int($0) >= 1 << s.bits }) {
                    XCTFail("\(codec.name): decoded symbol \(bad) exceeds \(s.bits) bits")
                    return
                }
            } catch is FeatureCodingError {
                thrown += 1
            }
        }
        // Most damaged payloads must be rejected rather than decoded to garbage.
        XCTAssertGreaterThan(thrown, iterations / 2, "\(codec.name) rejected only \(thrown) of \(iterations)")
    }

    func testZstdDecoder() throws { try fuzz(ZstdSymbolCodec(level: 3)) }
    func testArithmeticOrder0Decoder() throws { try fuzz(ArithmeticSymbolCodec(model: .order0)) }
    func testArithmeticContextDecoder() throws { try fuzz(ArithmeticSymbolCodec(model: .context())) }
    func testArithmeticContext4Decoder() throws { try fuzz(ArithmeticSymbolCodec(model: .context4())) }
    func testArithmeticContext3Decoder() throws { try fuzz(ArithmeticSymbolCodec(model: .context3())) }
}
