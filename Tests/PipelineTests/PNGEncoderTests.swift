// PNGEncoder (libpng's writer) read back by the dataset reader (libpng's simplified reader, through
// ImageFolder.decode): identical pixels for grey and RGB images of odd sizes, flat and random, and a
// buffer too small at first still gives the whole file.

import XCTest
import Foundation
@testable import CoInference
import Datasets


final class PNGEncoderTests: XCTestCase {
    func roundTrip(_ pixels: [UInt8], channels: Int, height: Int, width: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let png = PNGEncoder.encode(pixels: pixels, channels: channels, height: height, width: width)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], file: file, line: line)
        let image = try ImageFolder.decode(bytes: png, name: "round-trip.png", channels: channels)
        XCTAssertEqual([image.channels, image.height, image.width], [channels, height, width], file: file, line: line)
        XCTAssertEqual(image.pixels, pixels, "\(channels)×\(height)×\(width)", file: file, line: line)
    }

    func testGreyAndRGBRoundTripToIdenticalPixels() throws {
        var rng = SystemRandomNumberGenerator()
        for channels in [1, 3] {
            for (h, w) in [(1, 1), (1, 7), (5, 1), (7, 5), (28, 28), (17, 33), (64, 64)] {
                let n = channels * h * w
                try roundTrip((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }, channels: channels, height: h, width: w)
                try roundTrip([UInt8](repeating: 200, count: n), channels: channels, height: h, width: w)
                // Planes that differ, so a channel mix-up shows.
                try roundTrip((0..<n).map { UInt8(truncatingIfNeeded: ($0 / (h * w)) * 90 + ($0 % w) * 3 + ($0 / w) % h) }, channels: channels, height: h, width: w)
            }
        }
    }

    func testAShortBufferIsRetriedWithTheSizeLibpngAsksFor() throws {
        var rng = SystemRandomNumberGenerator()
        let (h, w) = (20, 30)
        let rgb = (0..<(3 * h * w)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let full = PNGEncoder.encode(pixels: rgb, channels: 3, height: h, width: w)
        let retried = PNGEncoder.write(PNGEncoder.interleave(rgb, channels: 3, count: h * w), channels: 3, height: h, width: w, capacity: 16)
        XCTAssertEqual(retried, full)
        XCTAssertEqual(try ImageFolder.decode(bytes: retried, name: "retried.png", channels: 3).pixels, rgb)
    }

    func testFlatImagesCompress() {
        let flat = PNGEncoder.encode(pixels: [UInt8](repeating: 7, count: 3 * 32 * 32), channels: 3, height: 32, width: 32)
        XCTAssertLessThan(flat.count, 200)
    }
}
