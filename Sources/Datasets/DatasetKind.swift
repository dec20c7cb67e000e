// The datasets by the names the pipeline file uses (`dataset.kind`), with their per-kind defaults
// (directory, normalisation, augmentation) as docs/pipeline.md lists them, and one loading entry point.
// It does not parse pipeline files; `image-folder` is not implemented here.

import Foundation

/// A dataset this module can read, named as in the pipeline file's `dataset.kind`.
public enum DatasetKind: String, Sendable, CaseIterable, Codable {
    case fashionMNIST = "fashion-mnist"
    case mnist = "mnist"
    case cifar10 = "cifar10"
    case cifar100 = "cifar100"

    /// Image channels (1 grey, 3 RGB).
    public var channels: Int {
        switch self {
        case .fashionMNIST, .mnist: return 1
        case .cifar10, .cifar100: return 3
        }
    }

    /// The directory used when `dataset.path` is not given, or nil if the path is required.
    public var defaultDirectory: String? { self == .fashionMNIST ? FashionMNIST.defaultDirectory : nil }

    /// Reference training-set statistics.
    public var referenceNormalization: Normalization {
        switch self {
        case .fashionMNIST: return FashionMNIST.normalization
        case .mnist: return MNIST.normalization
        case .cifar10: return .cifar10
        case .cifar100: return .cifar100
        }
    }

    /// Default training augmentation: padding 2 for 28 × 28 images, 4 for 32 × 32; no flip for MNIST
    /// (a mirrored digit is another glyph).
    public var defaultAugmentation: Augmentation {
        switch self {
        case .fashionMNIST: return Augmentation(uncheckedPadding: 2, horizontalFlip: true)
        case .mnist: return Augmentation(uncheckedPadding: 2, horizontalFlip: false)
        case .cifar10, .cifar100: return Augmentation(uncheckedPadding: 4, horizontalFlip: true)
        }
    }

    /// Load a split.
    /// - Parameters:
    ///   - directory: the folder holding the files; nil for `defaultDirectory`.
    ///   - cifar100Labels: which CIFAR-100 label to keep (ignored for the others).
    /// - Throws: `DatasetError`; `.missingFile` if `directory` is nil and the kind has no default.
    public func load(split: DatasetSplit, directory: String? = nil,
                     cifar100Labels: CIFAR100.LabelKind = .fine) throws -> LabeledImages {
        guard let dir = directory ?? defaultDirectory else {
            throw DatasetError(.missingFile, path: nil, expected: "`dataset.path` for dataset kind \(rawValue)",
                               found: "none", hint: "set `dataset.path` in the pipeline file to the folder holding the files")
        }
        switch self {
        case .fashionMNIST: return try FashionMNIST.load(split: split, directory: dir)
        case .mnist: return try MNIST.load(split: split, directory: dir)
        case .cifar10: return try CIFAR10.load(split: split, directory: dir)
        case .cifar100: return try CIFAR100.load(split: split, directory: dir, labels: cifar100Labels)
        }
    }
}
