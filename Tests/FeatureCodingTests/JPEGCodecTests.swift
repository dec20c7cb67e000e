// JPEG through libjpeg-turbo: grey and RGB round trips, and the size of a JPEG with its tables shared out of
// band (an abbreviated stream), checked by taking the stream apart: the segments counted as tables, put back
// in front of the abbreviated stream, give a file that decodes to the same pixels.

import XCTest
import FeatureCoding

final class JPEGCodecTests: XCTestCase {
    /// A smooth test image of `channels` planes.
    func image(channels: Int, width: Int, height: Int) -> [UInt8] {
        var out: [UInt8] = []
        for c in 0..<channels { for y in 0..<height { for x in 0..<width {
            out.append(UInt8(x * 3 + y * 2 + c * 40))   // smooth, no wrap-around edges
        } } }
        return out
    }

    func testGreyAndRGBRoundTrip() throws {
        for channels in [1, 3] {
            let pixels = image(channels: channels, width: 32, height: 24)
            let jpeg = try JPEGCodec.encode(planar: pixels, channels: channels, width: 32, height: 24, quality: 95)
            let back = try JPEGCodec.decode(jpeg, channels: channels, width: 32, height: 24)
            XCTAssertEqual(back.count, pixels.count)
            let meanError = zip(back, pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(pixels.count)
            XCTAssertLessThan(meanError, 6, "\(channels) channels")
        }
        XCTAssertThrowsError(try JPEGCodec.encode(planar: [0, 0], channels: 2, width: 1, height: 1, quality: 50))
    }

    /// Splits a JPEG into (table and application segments, the rest) at the marker level, independently of
    /// `tablesOutOfBandSize`.
    func split(_ jpeg: [UInt8]) -> (tables: [UInt8], rest: [UInt8]) {
        var tables: [UInt8] = [], rest: [UInt8] = [0xFF, 0xD8]
        var k = 2
        while k < jpeg.count {
            let marker = jpeg[k + 1]
            if marker == 0xDA { rest += jpeg[k...]; break }
            let length = Int(jpeg[k + 2]) * 256 + Int(jpeg[k + 3])
            let segment = jpeg[k..<(k + 2 + length)]
            if [0xDB, 0xC4, 0xFE].contains(marker) || (0xE0...0xEF).contains(marker) { tables += segment } else { rest += segment }
            k += 2 + length
        }
        return (tables, rest)
    }

    func testTablesOutOfBandSizeIsTheAbbreviatedStream() throws {
        for (channels, quality) in [(1, 20), (1, 90), (3, 20), (3, 75)] {
            let pixels = image(channels: channels, width: 28, height: 28)
            let jpeg = try JPEGCodec.encode(planar: pixels, channels: channels, width: 28, height: 28, quality: quality)
            let size = try JPEGCodec.tablesOutOfBandSize(jpeg)
            let (tables, rest) = split(jpeg)
            XCTAssertEqual(size, rest.count)
            XCTAssertEqual(size + tables.count, jpeg.count)
            // Tables sent once out of band: the receiver puts them back in front of the abbreviated stream.
            let rebuilt = [0xFF, 0xD8] + tables + Array(rest.dropFirst(2))
            XCTAssertEqual(try JPEGCodec.decode(rebuilt, channels: channels, width: 28, height: 28),
                           try JPEGCodec.decode(jpeg, channels: channels, width: 28, height: 28))
            // libjpeg-turbo's tables (two DQT and four DHT for colour) are most of a small file's overhead.
            XCTAssertGreaterThan(tables.count, channels == 1 ? 200 : 400, "q\(quality)")
        }
        XCTAssertThrowsError(try JPEGCodec.tablesOutOfBandSize([0xFF, 0xD8, 0xFF, 0xDB, 0x00]))
        XCTAssertThrowsError(try JPEGCodec.tablesOutOfBandSize([0x00, 0x01, 0x02, 0x03]))
    }
}
