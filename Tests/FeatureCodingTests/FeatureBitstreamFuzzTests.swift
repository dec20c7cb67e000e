// Robustness of the frame decoder on hostile input: 120,000 random, mutated and "resealed" inputs (mutated,
// then given a correct length field and CRC so that damage reaches the field and payload checks instead of
// stopping at the CRC). Each decode must throw a FeatureBitstreamError or return a well-formed frame —
// never crash, hang or over-allocate. Frames are tiny so the debug build runs this in a few seconds.

import FeatureCoding
import XCTest

final class FeatureBitstreamFuzzTests: XCTestCase {
    func testDecoderOnHostileInput() throws {
        var rng = TestRNG(seed: 2024)
        var seeds: [[UInt8]] = []
        let shapes: [(FeatureShape, [Int]?)] = [(FeatureShape(channels: 1, height: 1, width: 1), nil),
                                                (FeatureShape(channels: 3, height: 2, width: 2), [0, 2]),
                                                (FeatureShape(channels: 2, height: 1, width: 3), nil)]
        for (i, (shape, channels)) in shapes.enumerated() {
            let k = channels?.count ?? shape.channels
            let values = testFeatures(FeatureShape(channels: k, height: shape.height, width: shape.width), seed: UInt64(i))
            let fixed = QuantizationRanges.fixedPerChannel(Array(repeating: QuantizerRange(lo: 0, hi: 4), count: shape.channels))
            for policy in [QuantizationRanges.perTensor, .perChannel, fixed] {
                for codec in frameCodecs {
                    seeds.append(try FeatureBitstream.encode(values: values, shape: shape, channels: channels, modelID: "m@\(i)",
                                                             splitPoint: "s", quantizer: try Quantizer(bits: [1, 4, 8][i], ranges: policy), codec: codec))
                }
            }
        }
        // Small limits keep any accepted allocation small even when a resealed header claims a large tensor.
        let limits = FeatureBitstreamLimits(maxBytes: 4096, maxElements: 4096, maxModelIDBytes: 64, maxSplitPointBytes: 64)
        let iterations = 120_000
        var decoded = 0, resealedDecoded = 0
        for it in 0..<iterations {
            let seed = seeds[it % seeds.count]
            var input: [UInt8]
            let kind = rng.below(8)
            switch kind {
            case 0: // random bytes
                input = rng.bytes(rng.below(64))
            case 1: // valid magic and version, random rest
                input = Array(seed.prefix(5)) + rng.bytes(rng.below(60))
            default: // mutate a valid frame: bit flips, byte sets, cuts, insertions
                input = seed
                for _ in 0...rng.below(3) {
                    switch rng.below(4) {
                    case 0: input[rng.below(input.count)] ^= UInt8(1 << rng.below(8))
                    case 1: input[rng.below(input.count)] = UInt8(rng.below(256))
                    case 2: input.removeSubrange(rng.below(input.count)..<input.count)
                    default: input.insert(UInt8(rng.below(256)), at: rng.below(input.count + 1))
                    }
                    if input.isEmpty { input = [0] }
                }
                if kind >= 5, input.count >= 13 { input = resealed(input) }
            }
            do {
                let frame = try FeatureBitstream.decode(input, limits: limits)
                decoded += 1
                if kind >= 5 { resealedDecoded += 1 }
                let h = frame.header
                XCTAssertEqual(frame.symbols.count, h.carriedShape.elementCount)
                XCTAssertTrue(frame.symbols.allSatisfy { Int($0) >> h.bits == 0 })
                XCTAssertTrue(h.channels.allSatisfy { $0 < h.shape.channels })
                XCTAssertTrue(zip(h.channels, h.channels.dropFirst()).allSatisfy { $0 < $1 })
            } catch is FeatureBitstreamError {
            } catch {
                XCTFail("untyped error \(error)")
                return
            }
        }
        // Unresealed damage must essentially always be caught (CRC); resealed damage often decodes.
        XCTAssertLessThan(decoded - resealedDecoded, iterations / 1000, "too many damaged frames accepted")
        print("fuzz: \(decoded) of \(iterations) decoded (\(resealedDecoded) resealed)")
    }
}
