// MNIST and Fashion-MNIST: the four IDX files of a directory turned into LabeledImages (1 × 28 × 28, 10 classes).
// Files looked for: {train,t10k}-{images-idx3,labels-idx1}-ubyte, each plain or with `.gz` (plain preferred).
// Does not download anything: Fashion-MNIST comes from the Debian package `dataset-fashion-mnist`.

import Foundation

/// Which half of a dataset.
public enum DatasetSplit: String, Sendable, CaseIterable, Codable {
    case train
    case test
}

/// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60 000 training and 10 000 test images of clothing, 28 × 28 grey.
public enum FashionMNIST {
    /// Where the Debian package `dataset-fashion-mnist` installs the gzip'd IDX files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classCount = 10
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// Reference per-channel statistics of the training pixels (scaled to [0, 1]): mean 0.2860, std 0.3530.
    public static let normalization = Normalization(uncheckedMean: [0.2860], std: [0.3530])

    static let missingHint = "install it with `apt-get install dataset-fashion-mnist` or set `dataset.path` in the pipeline file"

    /// Load one split from `directory` (default: the Debian package's folder).
    /// - Throws: `DatasetError` naming the file, for a missing file, a bad IDX file, image and label counts that
    ///   differ, or a label ≥ 10.
    public static func load(split: DatasetSplit, directory: String = defaultDirectory) throws -> LabeledImages {
        try IDXImageSet.load(name: "Fashion-MNIST", directory: directory, split: split, classCount: classCount,
                             missingHint: missingHint)
    }
}

/// MNIST (LeCun et al. 1998): 60 000 training and 10 000 test handwritten digits, 28 × 28 grey.
public enum MNIST {
    public static let classCount = 10
    /// Reference per-channel statistics of the training pixels (scaled to [0, 1]): mean 0.1307, std 0.3081.
    public static let normalization = Normalization(uncheckedMean: [0.1307], std: [0.3081])

    static let missingHint = "put the four MNIST IDX files (plain or .gz) in that folder or set `dataset.path` in the pipeline file"

    /// Load one split from `directory`.
    /// - Throws: `DatasetError` as `FashionMNIST.load` does.
    public static func load(split: DatasetSplit, directory: String) throws -> LabeledImages {
        try IDXImageSet.load(name: "MNIST", directory: directory, split: split, classCount: classCount,
                             missingHint: missingHint)
    }
}

/// A pair of IDX files (images of rank 3, labels of rank 1) in the MNIST naming scheme.
public enum IDXImageSet {
    /// The base file names (without `.gz`) for a split: (images, labels).
    public static func fileNames(split: DatasetSplit) -> (images: String, labels: String) {
        let prefix = split == .train ? "train" : "t10k"
        return ("\(prefix)-images-idx3-ubyte", "\(prefix)-labels-idx1-ubyte")
    }

    /// Load a split of an MNIST-style dataset (one channel) from `directory`.
    /// - Parameters:
    ///   - name: the dataset's name, for `source` and messages.
    ///   - classCount: labels must be below it.
    ///   - missingHint: the fix offered when the directory or a file is missing.
    public static func load(name: String, directory: String, split: DatasetSplit, classCount: Int,
                            missingHint: String) throws -> LabeledImages {
        let names = fileNames(split: split)
        let imagesPath = try DatasetFiles.locate(names.images, in: directory, dataset: name, hint: missingHint)
        let labelsPath = try DatasetFiles.locate(names.labels, in: directory, dataset: name, hint: missingHint)
        let images = try IDXArray.read(path: imagesPath, rank: 3, missingHint: missingHint)
        let labels = try IDXArray.read(path: labelsPath, rank: 1, missingHint: missingHint)
        if images.dims[0] != labels.dims[0] {
            throw DatasetError(.countMismatch, path: labelsPath,
                               expected: "\(images.dims[0]) labels, one per image of \(imagesPath)",
                               found: "\(labels.dims[0]) labels",
                               hint: "the images and labels files come from different splits or downloads")
        }
        var out = [Int32](repeating: 0, count: labels.bytes.count)
        for (i, b) in labels.bytes.enumerated() {
            if Int(b) >= classCount {
                throw DatasetError(.labelOutOfRange, path: labelsPath, expected: "labels in 0..<\(classCount)",
                                   found: "label \(b) at index \(i)",
                                   hint: "the labels file does not belong to \(name)")
            }
            out[i] = Int32(b)
        }
        return LabeledImages(unchecked: 1, height: images.dims[1], width: images.dims[2], pixels: images.bytes,
                             labels: out, classCount: classCount, source: "\(name) \(split.rawValue) (\(imagesPath))")
    }
}

/// Finding a dataset's files.
enum DatasetFiles {
    /// `directory/name` if it exists, else `directory/name.gz`; a `.missingFile` error naming both otherwise.
    static func locate(_ name: String, in directory: String, dataset: String, hint: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError(.missingFile, path: directory, expected: "a folder holding the \(dataset) files",
                               found: "no such folder", hint: hint)
        }
        let plain = (directory as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: plain) { return plain }
        let gz = plain + ".gz"
        if FileManager.default.fileExists(atPath: gz) { return gz }
        throw DatasetError(.missingFile, path: gz, expected: "\(gz) or \(plain)", found: "neither", hint: hint)
    }
}
