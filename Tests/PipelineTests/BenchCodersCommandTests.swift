// `aecnn bench-coders` on a file of its own making (and `export-features`' width option): the symbol width comes from the sidecar, a sidecar that
// contradicts the symbols is refused, codecs are reported in the order asked, and the relative speeds are
// against the first of them.

import XCTest
import Foundation
import _TestSupport
@testable import AECNNCommands

final class BenchCodersCommandTests: XCTestCase {
    func write(_ symbols: [UInt8], shape: [Int], bits: Int, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("f\(bits).bin").path
        try Data(symbols).write(to: URL(fileURLWithPath: path))
        let meta: [String: Any] = ["shape": shape, "quantization": ["bits": bits, "lo": 0, "hi": 1]]
        try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: path + ".json"))
        return path
    }

    func testBitsFromTheSidecarAndSpeedsRelativeToTheFirstCodec() throws {
        let dir = makeTemporaryDirectory("bench-coders")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Two 2×6×6 tensors of 3-bit symbols: a ramp with zeros.
        let symbols = (0..<144).map { UInt8(($0 % 6 + $0 / 36) % 8) }
        let path = try write(symbols, shape: [2, 6, 6], bits: 3, in: dir)
        let (best, codecs) = try BenchCoders.parse([path, "--repeats", "2", "--codec", "arith-context", "--codec", "arith-context3", "--codec", "arith-context"]).measure()
        XCTAssertEqual(codecs.map(\.name), ["arith-context", "arith-context3"])
        XCTAssertEqual(best["bits"] as? Int, 3)
        XCTAssertEqual(best["tensors"] as? Int, 2)
        let first = try XCTUnwrap(best["arith-context"] as? [String: Any])
        let second = try XCTUnwrap(best["arith-context3"] as? [String: Any])
        XCTAssertEqual(first["encodeVsFirst"] as? Double, 1)
        XCTAssertEqual(first["decodeVsFirst"] as? Double, 1)
        XCTAssertGreaterThan(second["decodeVsFirst"] as? Double ?? 0, 0)
        XCTAssertEqual(first["roundTrip"] as? Bool, true)
        XCTAssertEqual(second["roundTrip"] as? Bool, true)
        let (inter, _) = try BenchCoders.parse([path, "--rounds", "3", "--codec", "arith-context3", "--codec", "arith-context"]).measure()
        XCTAssertEqual(inter["rounds"] as? Int, 3)
        XCTAssertEqual((inter["arith-context3"] as? [String: Any])?["decodeVsFirst"] as? Double, 1)
        XCTAssertEqual((inter["arith-context"] as? [String: Any])?["bytes"] as? Int, first["bytes"] as? Int)
        // Coded as 3-bit symbols: the payload's header byte names 3 bits, so the sizes differ from an 8-bit reading.
        let eightBit = try write(symbols, shape: [2, 6, 6], bits: 8, in: dir)
        let (best8, _) = try BenchCoders.parse([eightBit, "--repeats", "1", "--codec", "arith-context"]).measure()
        XCTAssertNotEqual((best8["arith-context"] as? [String: Any])?["bytes"] as? Int, first["bytes"] as? Int)
    }

    func testASidecarThatContradictsTheSymbolsIsRefused() throws {
        let dir = makeTemporaryDirectory("bench-coders")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try write([0, 1, 2, 7], shape: [1, 2, 2], bits: 2, in: dir)
        XCTAssertThrowsError(try BenchCoders.parse([path, "--repeats", "1"]).measure()) {
            XCTAssertTrue("\($0)".contains("quantization.bits"), "\($0)")
        }
        let bad = try write([0, 1, 2, 3], shape: [1, 2, 2], bits: 9, in: dir)
        XCTAssertThrowsError(try BenchCoders.parse([bad, "--repeats", "1"]).measure()) {
            XCTAssertTrue("\($0)".contains("1…8"), "\($0)")
        }
    }

    func testExportFeaturesTakesAWidthFrom1To8() throws {
        XCTAssertEqual(try ExportFeatures.parse(["--pipeline", "p.yaml", "--out", "f.bin", "--bits", "4"]).bits, 4)
        XCTAssertEqual(try ExportFeatures.parse(["--pipeline", "p.yaml", "--out", "f.bin"]).bits, 8)
        for bad in ["0", "9"] {
            XCTAssertThrowsError(try ExportFeatures.parse(["--pipeline", "p.yaml", "--out", "f.bin", "--bits", bad]))
        }
    }
}
