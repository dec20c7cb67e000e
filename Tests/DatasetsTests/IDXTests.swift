// IDX reading: values round-trip, plain and gzip agree, and every malformed file is a typed error.

import Datasets
import Foundation
import TensorCore
import XCTest
import _TestSupport

final class IDXTests: XCTestCase {
    func testRoundTripPlainAndGzipAreIdentical() throws {
        let plainDir = makeTemporaryDirectory("idx-plain"), gzDir = makeTemporaryDirectory("idx-gz")
        let written = Fixtures.writeIDXSplit(in: plainDir, split: .train, count: 6, rows: 4, cols: 5, gzip: false)
        Fixtures.writeIDXSplit(in: gzDir, split: .train, count: 6, rows: 4, cols: 5, gzip: true)
        let plain = try MNIST.load(split: .train, directory: plainDir.path)
        let gz = try MNIST.load(split: .train, directory: gzDir.path)
        XCTAssertEqual(plain.count, 6)
        XCTAssertEqual([plain.channels, plain.height, plain.width], [1, 4, 5])
        XCTAssertEqual(plain.pixels, written.pixels)
        XCTAssertEqual(plain.labels, written.labels.map(Int32.init))
        XCTAssertEqual(plain.classCount, 10)
        XCTAssertEqual(gz.pixels, plain.pixels)
        XCTAssertEqual(gz.labels, plain.labels)
        XCTAssertTrue(gz.source.contains(".gz"), gz.source)
    }

    func testTestSplitFileNames() throws {
        let dir = makeTemporaryDirectory("idx-test")
        let written = Fixtures.writeIDXSplit(in: dir, split: .test, count: 3, gzip: true)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("t10k-images-idx3-ubyte.gz").path))
        let test = try FashionMNIST.load(split: .test, directory: dir.path)
        XCTAssertEqual(test.pixels, written.pixels)
        // The train split is absent: its error names the file looked for.
        let e = assertDatasetError(.missingFile) { try FashionMNIST.load(split: .train, directory: dir.path) }
        XCTAssertTrue(e?.description.contains(dir.appendingPathComponent("train-images-idx3-ubyte").path) ?? false)
    }

    func testReadIDXArrayDirectly() throws {
        let dir = makeTemporaryDirectory("idx-array")
        let path = dir.appendingPathComponent("a").path
        Fixtures.write(Fixtures.idxBytes(magic: 0x801, dims: [0], payload: []), to: path, gzip: false)
        XCTAssertEqual(try IDXArray.read(path: path, rank: 1), IDXArray(dims: [0], bytes: []))
        XCTAssertEqual(IDXArray.magic(rank: 3), 0x0000_0803)
    }

    func testWrongMagic() {
        for gzip in [false, true] {
            let dir = makeTemporaryDirectory("idx-magic")
            Fixtures.writeIDXSplit(in: dir, split: .train, count: 2, gzip: gzip)
            // A labels file written where the images file belongs.
            let labels = Fixtures.idxBytes(magic: 0x801, dims: [2], payload: [0, 1])
            let imagesPath = dir.appendingPathComponent("train-images-idx3-ubyte" + (gzip ? ".gz" : "")).path
            Fixtures.write(labels, to: imagesPath, gzip: gzip)
            let e = assertDatasetError(.badMagic) { try MNIST.load(split: .train, directory: dir.path) }
            XCTAssertEqual(e?.path, imagesPath)
            XCTAssertTrue(e?.description.contains("0x00000803") ?? false, e?.description ?? "")
            XCTAssertTrue(e?.description.contains("0x00000801") ?? false, e?.description ?? "")
        }
    }

    func testTruncatedPayload() {
        for gzip in [false, true] {
            let dir = makeTemporaryDirectory("idx-trunc")
            let path = dir.appendingPathComponent("x").path
            Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [3, 2, 2], payload: Array(repeating: 9, count: 11)),
                           to: path, gzip: gzip)
            let e = assertDatasetError(.truncated) { try IDXArray.read(path: path, rank: 3) }
            XCTAssertTrue(e?.description.contains("12 payload bytes") ?? false, e?.description ?? "")
            // A header cut short.
            Fixtures.write([0, 0, 8, 3, 0, 0], to: path, gzip: gzip)
            assertDatasetError(.truncated) { try IDXArray.read(path: path, rank: 3) }
        }
    }

    func testOverlongPayload() {
        for gzip in [false, true] {
            let dir = makeTemporaryDirectory("idx-long")
            let path = dir.appendingPathComponent("x").path
            Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [3, 2, 2], payload: Array(repeating: 9, count: 13)),
                           to: path, gzip: gzip)
            assertDatasetError(.overlong) { try IDXArray.read(path: path, rank: 3) }
        }
    }

    func testTruncatedGzipStreamIsAnErrorNotACrash() throws {
        let dir = makeTemporaryDirectory("idx-gzcut")
        let path = dir.appendingPathComponent("x.gz").path
        let payload = Fixtures.bytes(5000, seed: 3)  // incompressible, so the cut lands inside the payload
        Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [50, 10, 10], payload: payload), to: path, gzip: true)
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        for keep in [full.count / 2, full.count - 8, full.count - 4, full.count - 1] {   // - 8: no trailer at all
            try full.prefix(keep).write(to: URL(fileURLWithPath: path))
            let e = assertDatasetError(.corruptGzip) { try IDXArray.read(path: path, rank: 3) }
            XCTAssertEqual(e?.path, path)
        }
        // A flipped byte in the compressed data: damaged stream or bad checksum, never a crash.
        var damaged = full
        damaged[full.count / 2] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: path))
        assertDatasetError(.corruptGzip) { try IDXArray.read(path: path, rank: 3) }
    }

    /// The gzip trailer (CRC-32 and length of the data) is checked whatever the file's size. Here the data
    /// ends exactly where the payload read ends, as in every real IDX file: without its trailer, with part of
    /// it, or with a wrong CRC-32 or length, the file is `corruptGzip`, naming it.
    func testGzipTrailerIsCheckedWhenTheDataEndsWithARead() throws {
        let dir = makeTemporaryDirectory("idx-gztrailer")
        let path = dir.appendingPathComponent("t10k-images-idx3-ubyte.gz").path
        let payload = Fixtures.bytes(1000 * 28 * 28, seed: 8)
        Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [1000, 28, 28], payload: payload), to: path, gzip: true)
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(try IDXArray.read(path: path, rank: 3).bytes, payload)
        var wrongCRC = full, wrongLength = full
        wrongCRC[full.count - 8] ^= 0x01
        wrongLength[full.count - 4] ^= 0x01
        for (what, damaged) in [("no trailer", full.prefix(full.count - 8)), ("4 of its 8 bytes", full.prefix(full.count - 4)),
                                ("7 of its 8 bytes", full.prefix(full.count - 1)), ("a wrong CRC-32", wrongCRC),
                                ("a wrong length", wrongLength)] {
            try damaged.write(to: URL(fileURLWithPath: path))
            let e = assertDatasetError(.corruptGzip) { try IDXArray.read(path: path, rank: 3) }
            XCTAssertEqual(e?.path, path, what)
            XCTAssertTrue(e?.description.hasPrefix(path) ?? false, what)
        }
    }

    /// A gzip file of several members (`cat a.gz b.gz`) reads as their concatenation, each member's trailer
    /// checked; bytes after the last member that do not start another are ignored, as zlib's gzread does.
    func testGzipMembersAreConcatenated() throws {
        let dir = makeTemporaryDirectory("idx-gzmembers")
        let file = Fixtures.idxBytes(magic: 0x803, dims: [30, 10, 10], payload: Fixtures.bytes(3000, seed: 9))
        let a = dir.appendingPathComponent("a.gz").path, b = dir.appendingPathComponent("b.gz").path
        Fixtures.write(Array(file[..<1000]), to: a, gzip: true)
        Fixtures.write(Array(file[1000...]), to: b, gzip: true)
        let first = try Data(contentsOf: URL(fileURLWithPath: a)), second = try Data(contentsOf: URL(fileURLWithPath: b))
        let path = dir.appendingPathComponent("x.gz").path
        try (first + second + Data([0, 0, 0])).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try IDXArray.read(path: path, rank: 3).bytes, Array(file[16...]))
        try (first + second.prefix(second.count - 8)).write(to: URL(fileURLWithPath: path))
        assertDatasetError(.corruptGzip) { try IDXArray.read(path: path, rank: 3) }
    }

    /// A dataset file reached through a symbolic link is read as its target (its size is the target's).
    func testSymlinkedFilesAreReadThroughTheirTarget() throws {
        let dir = makeTemporaryDirectory("idx-symlink")
        let payload = Fixtures.bytes(2000, seed: 5)
        for gzip in [false, true] {
            let target = dir.appendingPathComponent(gzip ? "real.gz" : "real").path
            Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [20, 10, 10], payload: payload), to: target, gzip: gzip)
            let link = dir.appendingPathComponent(gzip ? "link.gz" : "link").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            let a = try IDXArray.read(path: link, rank: 3)
            XCTAssertEqual(a.dims, [20, 10, 10])
            XCTAssertEqual(a.bytes, payload)
        }
    }

    func testCountMismatchBetweenImagesAndLabels() {
        let dir = makeTemporaryDirectory("idx-count")
        Fixtures.writeIDXSplit(in: dir, split: .train, count: 4, gzip: false)
        let labelsPath = dir.appendingPathComponent("train-labels-idx1-ubyte").path
        Fixtures.write(Fixtures.idxBytes(magic: 0x801, dims: [3], payload: [1, 2, 3]), to: labelsPath, gzip: false)
        let e = assertDatasetError(.countMismatch) { try MNIST.load(split: .train, directory: dir.path) }
        XCTAssertEqual(e?.path, labelsPath)
        XCTAssertTrue(e?.description.contains("4 labels") ?? false, e?.description ?? "")
    }

    func testLabelOutOfRange() {
        let dir = makeTemporaryDirectory("idx-label")
        Fixtures.writeIDXSplit(in: dir, split: .train, count: 3, gzip: true)
        let labelsPath = dir.appendingPathComponent("train-labels-idx1-ubyte.gz").path
        Fixtures.write(Fixtures.idxBytes(magic: 0x801, dims: [3], payload: [1, 10, 3]), to: labelsPath, gzip: true)
        let e = assertDatasetError(.labelOutOfRange) { try FashionMNIST.load(split: .train, directory: dir.path) }
        XCTAssertTrue(e?.description.contains("label 10 at index 1") ?? false, e?.description ?? "")
    }

    func testHugeHeaderDimsDoNotAllocate() {
        let before = ProcessMemory.peakResidentBytes
        for gzip in [false, true] {
            let dir = makeTemporaryDirectory("idx-huge")
            let path = dir.appendingPathComponent("x").path
            // 4·10^9 images of 28×28 (≈ 3·10^12 bytes): representable, but the file cannot hold them.
            Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [UInt32.max, 28, 28], payload: [1, 2, 3]),
                           to: path, gzip: gzip)
            assertDatasetError(.truncated) { try IDXArray.read(path: path, rank: 3) }
            // A product that overflows Int.
            Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [UInt32.max, UInt32.max, UInt32.max], payload: []),
                           to: path, gzip: gzip)
            assertDatasetError(.badHeader) { try IDXArray.read(path: path, rank: 3) }
            // A zero-sized image.
            Fixtures.write(Fixtures.idxBytes(magic: 0x803, dims: [5, 0, 28], payload: []), to: path, gzip: gzip)
            assertDatasetError(.badHeader) { try IDXArray.read(path: path, rank: 3) }
        }
        XCTAssertLessThan(ProcessMemory.peakResidentBytes - before, 256 << 20)
    }

    func testMissingFilesNameThePathAndTheFix() {
        let dir = makeTemporaryDirectory("idx-missing")
        let e = assertDatasetError(.missingFile) { try FashionMNIST.load(split: .train, directory: dir.path) }
        let message = e?.description ?? ""
        XCTAssertTrue(message.contains(dir.path + "/train-images-idx3-ubyte.gz"), message)
        XCTAssertTrue(message.contains("apt-get install dataset-fashion-mnist"), message)
        XCTAssertTrue(message.contains("dataset.path"), message)

        let absent = dir.appendingPathComponent("nowhere").path
        let e2 = assertDatasetError(.missingFile) { try FashionMNIST.load(split: .test, directory: absent) }
        XCTAssertEqual(e2?.path, absent)

        let e3 = assertDatasetError(.missingFile) { try IDXArray.read(path: absent, rank: 1, missingHint: "fix it") }
        XCTAssertTrue(e3?.description.contains(absent) ?? false)
        XCTAssertTrue(e3?.description.hasSuffix("fix it") ?? false)
    }

    func testDirectoryInsteadOfFileIsUnreadable() {
        let dir = makeTemporaryDirectory("idx-dir")
        assertDatasetError(.unreadable) { try IDXArray.read(path: dir.path, rank: 1) }
    }
}

final class DatasetKindTests: XCTestCase {
    func testKindsLoadAndCarryTheirDefaults() throws {
        XCTAssertEqual(DatasetKind(rawValue: "fashion-mnist"), .fashionMNIST)
        XCTAssertEqual(DatasetKind.allCases.map(\.rawValue), ["fashion-mnist", "mnist", "cifar10", "cifar100"])
        XCTAssertEqual(DatasetKind.fashionMNIST.referenceNormalization, FashionMNIST.normalization)
        XCTAssertEqual(DatasetKind.cifar100.channels, 3)
        XCTAssertEqual(DatasetKind.mnist.defaultAugmentation, try Augmentation(padding: 2, horizontalFlip: false))
        XCTAssertEqual(DatasetKind.fashionMNIST.defaultDirectory, "/usr/share/datasets/fashion-mnist")
        let e = assertDatasetError(.missingFile) { try DatasetKind.cifar10.load(split: .train) }
        XCTAssertTrue(e?.description.contains("dataset.path") ?? false)

        let dir = makeTemporaryDirectory("kind")
        let written = Fixtures.writeIDXSplit(in: dir, split: .test, count: 2, gzip: false)
        let test = try DatasetKind.mnist.load(split: .test, directory: dir.path)
        XCTAssertEqual(test.pixels, written.pixels)
        XCTAssertEqual(test.channels, DatasetKind.mnist.channels)
    }
}
