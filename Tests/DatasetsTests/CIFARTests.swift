// CIFAR-10/100 binary records: values, label choice, folder layout, and malformed files.

import Datasets
import Foundation
import TensorCore
import XCTest
import _TestSupport

final class CIFARTests: XCTestCase {
    /// Records of `labelBytes` labels + 3072 pixels; returns (file bytes, pixels, label rows).
    private func records(_ n: Int, labels: [[UInt8]], seed: UInt64) -> (file: [UInt8], pixels: [UInt8]) {
        var file: [UInt8] = [], pixels: [UInt8] = []
        for r in 0..<n {
            let image = Fixtures.bytes(3072, seed: seed &+ UInt64(r))
            file += labels[r] + image
            pixels += image
        }
        return (file, pixels)
    }

    func testCIFAR10TrainConcatenatesFiveBatchesInOrder() throws {
        let dir = makeTemporaryDirectory("cifar10")
        var expectedPixels: [UInt8] = [], expectedLabels: [Int32] = []
        for (k, name) in CIFAR10.fileNames(split: .train).enumerated() {
            let labels: [[UInt8]] = [[UInt8(k)], [UInt8(9 - k)]]
            let r = records(2, labels: labels, seed: UInt64(10 * k))
            Fixtures.write(r.file, to: dir.appendingPathComponent(name).path, gzip: k == 2)  // one gzip'd file
            if k == 2 { try FileManager.default.moveItem(atPath: dir.appendingPathComponent(name).path,
                                                          toPath: dir.appendingPathComponent(name + ".gz").path) }
            expectedPixels += r.pixels
            expectedLabels += labels.map { Int32($0[0]) }
        }
        let train = try CIFAR10.load(split: .train, directory: dir.path)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual([train.channels, train.height, train.width], [3, 32, 32])
        XCTAssertEqual(train.classCount, 10)
        XCTAssertEqual(train.labels, expectedLabels)
        XCTAssertEqual(train.pixels, expectedPixels)
        // The test split is missing: the message names test_batch.bin and how to get it.
        let e = assertDatasetError(.missingFile) { try CIFAR10.load(split: .test, directory: dir.path) }
        XCTAssertTrue(e?.description.contains("test_batch.bin") ?? false)
        XCTAssertTrue(e?.description.contains("dataset.path") ?? false)
    }

    func testCIFAR10FindsTheArchiveFolder() throws {
        let dir = makeTemporaryDirectory("cifar10-nested")
        let nested = dir.appendingPathComponent(CIFAR10.archiveFolder)
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        let r = records(3, labels: [[0], [5], [9]], seed: 99)
        Fixtures.write(r.file, to: nested.appendingPathComponent("test_batch.bin").path, gzip: false)
        let test = try CIFAR10.load(split: .test, directory: dir.path)
        XCTAssertEqual(test.labels, [0, 5, 9])
        XCTAssertEqual(test.pixels, r.pixels)
    }

    func testCIFAR100FineAndCoarse() throws {
        let dir = makeTemporaryDirectory("cifar100")
        let labels: [[UInt8]] = [[19, 99], [0, 0], [7, 42]]
        let r = records(3, labels: labels, seed: 5)
        Fixtures.write(r.file, to: dir.appendingPathComponent("train.bin").path, gzip: false)
        let fine = try CIFAR100.load(split: .train, directory: dir.path)
        let coarse = try CIFAR100.load(split: .train, directory: dir.path, labels: .coarse)
        XCTAssertEqual(fine.labels, [99, 0, 42])
        XCTAssertEqual(fine.classCount, 100)
        XCTAssertEqual(coarse.labels, [19, 0, 7])
        XCTAssertEqual(coarse.classCount, 20)
        XCTAssertEqual(fine.pixels, r.pixels)
        XCTAssertEqual(coarse.pixels, r.pixels)
    }

    func testBadRecordSizes() throws {
        let dir = makeTemporaryDirectory("cifar-bad")
        let path = dir.appendingPathComponent("test_batch.bin").path
        let r = records(2, labels: [[1], [2]], seed: 1)
        // Truncated by one byte, plain and gzip'd.
        for gzip in [false, true] {
            Fixtures.write(Array(r.file.dropLast()), to: path, gzip: gzip)
            let e = assertDatasetError(.badRecordSize) { try CIFAR10.load(split: .test, directory: dir.path) }
            XCTAssertTrue(e?.description.contains("3073-byte records") ?? false, e?.description ?? "")
        }
        // Empty.
        Fixtures.write([], to: path, gzip: false)
        assertDatasetError(.badRecordSize) { try CIFAR10.load(split: .test, directory: dir.path) }
        // CIFAR-100 records given to the CIFAR-10 reader: the hint says so.
        let r100 = records(2, labels: [[1, 1], [2, 2]], seed: 2)
        Fixtures.write(r100.file, to: path, gzip: false)
        let e = assertDatasetError(.badRecordSize) { try CIFAR10.load(split: .test, directory: dir.path) }
        XCTAssertTrue(e?.hint.contains("CIFAR-100 records 2") ?? false, e?.hint ?? "")
    }

    func testCIFARLabelOutOfRangeAndTruncatedGzip() throws {
        let dir = makeTemporaryDirectory("cifar-label")
        let path = dir.appendingPathComponent("test.bin").path
        let r = records(2, labels: [[3, 50], [20, 1]], seed: 4)  // coarse 20 is out of range
        Fixtures.write(r.file, to: path, gzip: false)
        let e = assertDatasetError(.labelOutOfRange) { try CIFAR100.load(split: .test, directory: dir.path) }
        XCTAssertTrue(e?.description.contains("record 1") ?? false, e?.description ?? "")

        let gzPath = path + ".gz"
        try FileManager.default.removeItem(atPath: path)
        let ok = records(2, labels: [[3, 50], [2, 1]], seed: 4)
        Fixtures.write(ok.file, to: gzPath, gzip: true)
        XCTAssertEqual(try CIFAR100.load(split: .test, directory: dir.path).labels, [50, 1])
        let full = try Data(contentsOf: URL(fileURLWithPath: gzPath))
        try full.prefix(full.count - 10).write(to: URL(fileURLWithPath: gzPath))
        assertDatasetError(.corruptGzip) { try CIFAR100.load(split: .test, directory: dir.path) }
    }
}
