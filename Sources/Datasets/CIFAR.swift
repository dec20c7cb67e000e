// CIFAR-10 and CIFAR-100 in their "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html): files of
// fixed-size records, each label byte(s) followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each
// 32 × 32 row-major), which is already the CHW layout of LabeledImages.
//   CIFAR-10:  data_batch_1.bin … data_batch_5.bin (train), test_batch.bin (test); record = 1 + 3072 bytes.
//   CIFAR-100: train.bin, test.bin; record = 2 (coarse, fine) + 3072 bytes.
// Files may also be gzip'd (`.bin.gz`). Does not read the Python-pickle or MATLAB versions.

import Foundation

/// CIFAR-10 (Krizhevsky 2009): 50 000 training and 10 000 test colour images, 3 × 32 × 32, 10 classes.
public enum CIFAR10 {
    public static let classCount = 10
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck"]
    /// Reference statistics of the training pixels (see `Normalization.cifar10`).
    public static let normalization = Normalization.cifar10
    /// The folder the official archive extracts to; looked for inside the given directory too.
    public static let archiveFolder = "cifar-10-batches-bin"

    static let missingHint = "download the CIFAR-10 binary version (cifar-10-binary.tar.gz), extract it, and set `dataset.path` in the pipeline file to the folder holding data_batch_1.bin"

    /// The record files of a split, in the order their records are concatenated.
    public static func fileNames(split: DatasetSplit) -> [String] {
        split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    }

    /// Load one split from `directory` (or from `directory/cifar-10-batches-bin`).
    /// - Throws: `DatasetError` for a missing file, a file that is not a whole non-zero number of 3073-byte
    ///   records, a label ≥ 10, or a damaged gzip stream.
    public static func load(split: DatasetSplit, directory: String) throws -> LabeledImages {
        let names = fileNames(split: split)
        let dir = CIFARBinary.resolve(directory, archiveFolder: archiveFolder, probe: names[0])
        let paths = try names.map { try DatasetFiles.locate($0, in: dir, dataset: "CIFAR-10", hint: missingHint) }
        return try CIFARBinary.read(paths: paths, labelBytes: 1, labelLimits: [classCount], labelIndex: 0,
                                    classCount: classCount, source: "CIFAR-10 \(split.rawValue) (\(dir))")
    }
}

/// CIFAR-100 (Krizhevsky 2009): 50 000 training and 10 000 test colour images, 3 × 32 × 32, with a fine
/// label (100 classes) and a coarse one (20 superclasses).
public enum CIFAR100 {
    /// Which of the two labels of each record to keep.
    public enum LabelKind: String, Sendable, CaseIterable, Codable {
        /// 100 classes (the second label byte).
        case fine
        /// 20 superclasses (the first label byte).
        case coarse

        public var classCount: Int { self == .fine ? 100 : 20 }
    }

    public static let fineClassCount = 100
    public static let coarseClassCount = 20
    /// Reference statistics of the training pixels (see `Normalization.cifar100`).
    public static let normalization = Normalization.cifar100
    /// The folder the official archive extracts to; looked for inside the given directory too.
    public static let archiveFolder = "cifar-100-binary"

    static let missingHint = "download the CIFAR-100 binary version (cifar-100-binary.tar.gz), extract it, and set `dataset.path` in the pipeline file to the folder holding train.bin"

    /// The record file of a split.
    public static func fileName(split: DatasetSplit) -> String { split == .train ? "train.bin" : "test.bin" }

    /// Load one split from `directory` (or from `directory/cifar-100-binary`), keeping `labels` labels.
    /// - Throws: `DatasetError` for a missing file, a file that is not a whole non-zero number of 3074-byte
    ///   records, a coarse label ≥ 20 or fine label ≥ 100, or a damaged gzip stream.
    public static func load(split: DatasetSplit, directory: String, labels: LabelKind = .fine) throws -> LabeledImages {
        let name = fileName(split: split)
        let dir = CIFARBinary.resolve(directory, archiveFolder: archiveFolder, probe: name)
        let path = try DatasetFiles.locate(name, in: dir, dataset: "CIFAR-100", hint: missingHint)
        return try CIFARBinary.read(paths: [path], labelBytes: 2, labelLimits: [coarseClassCount, fineClassCount],
                                    labelIndex: labels == .coarse ? 0 : 1, classCount: labels.classCount,
                                    source: "CIFAR-100 \(split.rawValue), \(labels.rawValue) labels (\(dir))")
    }
}

/// The record reader shared by CIFAR-10 and CIFAR-100.
enum CIFARBinary {
    static let channels = 3, side = 32
    static let imageBytes = 3 * 32 * 32

    /// `directory`, or its archive subfolder when only that holds the probe file.
    static func resolve(_ directory: String, archiveFolder: String, probe: String) -> String {
        let fm = FileManager.default
        let direct = (directory as NSString).appendingPathComponent(probe)
        if fm.fileExists(atPath: direct) || fm.fileExists(atPath: direct + ".gz") { return directory }
        let nested = (directory as NSString).appendingPathComponent(archiveFolder)
        let probeNested = (nested as NSString).appendingPathComponent(probe)
        if fm.fileExists(atPath: probeNested) || fm.fileExists(atPath: probeNested + ".gz") { return nested }
        return directory
    }

    /// Concatenate the records of `paths`.
    /// - Parameters:
    ///   - labelBytes: label bytes before each image.
    ///   - labelLimits: each label byte must be below its limit.
    ///   - labelIndex: which label byte becomes the label.
    static func read(paths: [String], labelBytes: Int, labelLimits: [Int], labelIndex: Int, classCount: Int,
                     source: String) throws -> LabeledImages {
        let recordBytes = labelBytes + imageBytes
        var pixels: [UInt8] = []
        var labels: [Int32] = []
        for path in paths {
            let reader = try ZlibReader(path: path, missingHint: "")
            let bytes = try reader.readToEnd()
            guard !bytes.isEmpty, bytes.count % recordBytes == 0 else {
                throw DatasetError(.badRecordSize, path: path,
                                   expected: "a whole, non-zero number of \(recordBytes)-byte records (\(labelBytes) label byte(s) + \(imageBytes) pixels)",
                                   found: "\(bytes.count) bytes (\(bytes.count / recordBytes) records and \(bytes.count % recordBytes) bytes over)",
                                   hint: bytes.count % (recordBytes == 3073 ? 3074 : 3073) == 0 && !bytes.isEmpty
                                       ? "this looks like the other CIFAR: CIFAR-10 records have 1 label byte, CIFAR-100 records 2"
                                       : "the file is truncated or is not the CIFAR binary version: download it again")
            }
            let records = bytes.count / recordBytes
            pixels.reserveCapacity(pixels.count + records * imageBytes)
            labels.reserveCapacity(labels.count + records)
            for r in 0..<records {
                let base = r * recordBytes
                for k in 0..<labelBytes where Int(bytes[base + k]) >= labelLimits[k] {
                    throw DatasetError(.labelOutOfRange, path: path, expected: "label byte \(k) below \(labelLimits[k])",
                                       found: "\(bytes[base + k]) in record \(r)",
                                       hint: "the file is not a CIFAR binary file of this kind (CIFAR-10 vs CIFAR-100)")
                }
                labels.append(Int32(bytes[base + labelIndex]))
                pixels.append(contentsOf: bytes[(base + labelBytes)..<(base + recordBytes)])
            }
        }
        return LabeledImages(unchecked: channels, height: side, width: side, pixels: pixels, labels: labels,
                             classCount: classCount, source: source)
    }
}
