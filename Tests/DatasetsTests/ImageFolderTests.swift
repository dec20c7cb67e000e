// Image folders: JPEG and PNG decoding to planar grey or RGB, resize and centre crop, the seeded split that
// no other file can move, unreadable images reported by path (skipped or fatal as set), and a pipeline that
// trains on a folder.

import XCTest
import Foundation
import CoInference
import Datasets
import FeatureCoding
import Pipeline
import PipelineSpec
import _TestSupport

final class ImageFolderTests: XCTestCase {
    var root: URL!
    override func setUp() { root = makeTemporaryDirectory("image-folder") }
    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    /// Class `a`: grey JPEGs with a bright left half; class `b`: RGB PNGs, red. Plus one corrupt and one truncated file.
    func makeFolder(perClass: Int = 8) throws -> URL {
        let dir = root.appendingPathComponent("images")
        for c in ["a", "b"] { try FileManager.default.createDirectory(at: dir.appendingPathComponent(c), withIntermediateDirectories: true) }
        for k in 0..<perClass {
            var grey = [UInt8](repeating: 20, count: 24 * 32)
            for y in 0..<24 { for x in 0..<16 { grey[y * 32 + x] = 230 } }
            try Data(try JPEGCodec.encode(grey: grey, width: 32, height: 24, quality: 90)).write(to: dir.appendingPathComponent("a/img\(k).jpg"))
            var rgb = [UInt8](repeating: 0, count: 3 * 20 * 20)
            for p in 0..<400 { rgb[p] = 250 }   // planar: channel 0 = red
            try Data(PNGEncoder.encode(pixels: rgb, channels: 3, height: 20, width: 20)).write(to: dir.appendingPathComponent("b/img\(k).png"))
        }
        try Data((0..<200).map { UInt8(truncatingIfNeeded: $0 * 31) }).write(to: dir.appendingPathComponent("a/corrupt.jpg"))
        let png = PNGEncoder.encode(pixels: [UInt8](repeating: 9, count: 3 * 20 * 20), channels: 3, height: 20, width: 20)
        try Data(png.prefix(30)).write(to: dir.appendingPathComponent("b/truncated.png"))
        try Data("not an image".utf8).write(to: dir.appendingPathComponent("b/notes.txt"))
        return dir
    }

    func testLoadsSplitsAndReportsBadImages() throws {
        let dir = try makeFolder()
        var warnings: [String] = []
        let options = ImageFolder.Options(size: 8, channels: 3, testFraction: 0.3, seed: 1, badImages: .skip)
        let train = try ImageFolder.load(directory: dir.path, split: .train, options: options) { warnings.append($0) }
        let test = try ImageFolder.load(directory: dir.path, split: .test, options: options) { warnings.append($0) }
        XCTAssertEqual(train.count + test.count, 16)
        XCTAssertGreaterThan(test.count, 0)
        XCTAssertEqual(train.classCount, 2)
        XCTAssertEqual([train.channels, train.height, train.width], [3, 8, 8])
        // Both bad files are named (the text file is not an image and is not looked at).
        let text = warnings.joined(separator: "\n")
        XCTAssertTrue(text.contains("corrupt.jpg"), text)
        XCTAssertTrue(text.contains("truncated.png"), text)
        XCTAssertFalse(text.contains("notes.txt"))
        // Class b is red: channel 0 bright, channels 1 and 2 dark; class a is grey, left half bright.
        for i in 0..<train.count {
            let px = Array(train.pixels[(i * 192)..<((i + 1) * 192)])
            if train.labels[i] == 1 {
                XCTAssertTrue(px[0..<64].allSatisfy { $0 > 240 } && px[64..<192].allSatisfy { $0 < 10 })
            } else {
                XCTAssertGreaterThan(Int(px[8 * 4 + 1]), 200)   // row 4, column 1: the bright half
                XCTAssertLessThan(Int(px[8 * 4 + 6]), 60)
                XCTAssertEqual(px[0..<64], px[64..<128])        // grey: R = G
            }
        }
        // With bad_images: fail, the first bad file stops the load, by name.
        var failing = options
        failing.badImages = .fail
        XCTAssertThrowsError(try ImageFolder.load(directory: dir.path, split: .train, options: failing) { _ in }) { error in
            XCTAssertTrue("\(error)".contains("corrupt.jpg") || "\(error)".contains("truncated.png"), "\(error)")
            XCTAssertTrue("\(error)".contains("Fix"), "\(error)")
        }
        // A missing folder names itself.
        XCTAssertThrowsError(try ImageFolder.load(directory: root.appendingPathComponent("nope").path, split: .train, options: options)) {
            XCTAssertTrue("\($0)".contains("nope"))
        }
    }

    func testSplitRuleDependsOnTheFileAloneAndResizeKeepsFlatImagesFlat() throws {
        let names = (0..<200).map { "f\($0).jpg" }
        let before = names.filter { ImageFolder.isTest(className: "c", fileName: $0, seed: 3, testFraction: 0.25) }
        XCTAssertEqual(Double(before.count) / 200, 0.25, accuracy: 0.08)
        let more = names + ["new.jpg"]
        XCTAssertEqual(more.filter { ImageFolder.isTest(className: "c", fileName: $0, seed: 3, testFraction: 0.25) && $0 != "new.jpg" }, before)
        XCTAssertNotEqual(before, names.filter { ImageFolder.isTest(className: "c", fileName: $0, seed: 4, testFraction: 0.25) })
        let flat = ImageFolder.Image(channels: 1, height: 37, width: 91, pixels: [UInt8](repeating: 77, count: 37 * 91))
        XCTAssertEqual(ImageFolder.resizeAndCrop(flat, size: 9), [UInt8](repeating: 77, count: 81))
    }

    func testPipelineTrainsOnAnImageFolder() throws {
        let dir = try makeFolder(perClass: 12)
        let yaml = """
        name: folder
        dataset: {kind: image-folder, path: \(dir.path), image_size: 8, channels: 3, test_fraction: 0.25,
                  normalize: {mean: [0.5, 0.5, 0.5], std: [0.3, 0.3, 0.3]}}
        model: {arch: resnet20, width: 0.25}
        stages:
          train-base: {epochs: 1, batch_size: 8}
        """
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "folder.yaml"), checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try StageRunner.run(StageInstance("train-base"), ctx)
        let r = try XCTUnwrap(StageRunner.result(StageInstance("train-base"), ctx))
        XCTAssertEqual((r["train_images"] as! Int) + (r["test_images"] as! Int), 24)
        XCTAssertEqual(try ctx.datasetKindNames(), ["a", "b"])
        // The settings are checked: image_size is required, and belongs to image folders only.
        XCTAssertThrowsError(try PipelineSpec.parse(yaml: "dataset: {kind: image-folder, path: /x, normalize: {mean: [0.5], std: [0.2]}, channels: 1}\nmodel: {arch: resnet20}\n", fileName: "x.yaml")) {
            XCTAssertTrue("\($0)".contains("image_size"))
        }
        XCTAssertThrowsError(try PipelineSpec.parse(yaml: "dataset: {kind: fashion-mnist, image_size: 28}\nmodel: {arch: resnet20}\n", fileName: "x.yaml")) {
            XCTAssertTrue("\($0)".contains("image-folder only"))
        }
    }
}
