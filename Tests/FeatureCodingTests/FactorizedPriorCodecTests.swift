// The learned entropy bottleneck's codec: fixed per-channel tables with an escape symbol.

import XCTest
@testable import FeatureCoding

final class FactorizedPriorCodecTests: XCTestCase {
    func tables() throws -> [FactorizedPriorTable] {
        [try FactorizedPriorTable(offset: -3, frequencies: try FactorizedPriorTable.quantize([0.05, 0.1, 0.2, 0.3, 0.2, 0.1, 0.05, 1e-9])),
         try FactorizedPriorTable(offset: 0, frequencies: try FactorizedPriorTable.quantize([0.9, 0.0999, 1e-6]))]
    }

    func testQuantizeGivesEverySymbolAFrequencyAndTheExactTotal() throws {
        for p in [[1.0, 0], [1e-12, 1e-12, 1], [0.5, 0.5], (0..<1024).map { 1 / Double($0 + 1) }] {
            let f = try FactorizedPriorTable.quantize(p)
            XCTAssertEqual(f.reduce(0, +), 1 << 16)
            XCTAssertTrue(f.allSatisfy { $0 >= 1 })
        }
        XCTAssertEqual(try FactorizedPriorTable.quantize([0.25, 0.75]), [16384, 49152])
        XCTAssertThrowsError(try FactorizedPriorTable.quantize([0.5]))
        XCTAssertThrowsError(try FactorizedPriorTable.quantize([.nan, 1]))
        XCTAssertThrowsError(try FactorizedPriorTable(offset: 0, frequencies: [1, 2]))
    }

    func testRoundTripIncludingEscapes() throws {
        let codec = FactorizedPriorCodec(tables: try tables())
        let shape = FeatureShape(channels: 2, height: 3, width: 4)
        let symbols: [Int32] = [0, 1, -1, 3, -3, 4, -4, 100, -70000, Int32.max, Int32.min + 1, 2,
                                0, 0, 1, 2, 3, -1, 0, 0, 1, 0, 1_000_000, 0]
        let bytes = try codec.encode(symbols, shape: shape)
        XCTAssertEqual(try codec.decode(bytes, shape: shape), symbols)
        XCTAssertThrowsError(try codec.encode(Array(symbols.dropLast()), shape: shape))
        XCTAssertThrowsError(try codec.encode(symbols, shape: FeatureShape(channels: 3, height: 2, width: 4)))
    }

    /// Cut or extended streams are always rejected; flipped bytes never crash the decoder and are nearly
    /// always rejected (frames add a CRC on top).
    func testDecoderRejectsDamagedInput() throws {
        let codec = FactorizedPriorCodec(tables: try tables())
        let shape = FeatureShape(channels: 2, height: 16, width: 16)
        var r = UInt64(12345)
        let symbols: [Int32] = (0..<512).map { _ in r = r &* 6364136223846793005 &+ 1; return Int32(Int(r >> 60) - 6) }
        let bytes = try codec.encode(symbols, shape: shape)
        XCTAssertEqual(try codec.decode(bytes, shape: shape), symbols)
        XCTAssertThrowsError(try codec.decode(Array(bytes.dropLast()), shape: shape))
        XCTAssertThrowsError(try codec.decode(bytes + [0], shape: shape))
        XCTAssertThrowsError(try codec.decode([], shape: shape))
        var rejected = 0
        for i in 0..<bytes.count {
            var d = bytes
            d[i] ^= 0x5A
            if (try? codec.decode(d, shape: shape)) == nil { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, bytes.count * 9 / 10)
    }
}
