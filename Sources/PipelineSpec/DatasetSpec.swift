// DatasetSpec: the `dataset:` section of a pipeline file — which data set, where it lives, how much of it
// to use, how to normalize and augment it — plus the per-kind defaults and the YAML reader.
// Loading images is the Datasets module's job; this file only describes what to load.

/// Which data set a pipeline uses and how it is prepared.
public struct DatasetSpec: Equatable, Codable, Sendable {
    /// The supported data-set formats.
    public enum Kind: String, Equatable, Codable, Sendable, CaseIterable {
        /// Fashion-MNIST, IDX files (28×28 grey, 10 classes).
        case fashionMNIST = "fashion-mnist"
        /// MNIST, IDX files (28×28 grey, 10 classes).
        case mnist
        /// CIFAR-10, binary version (32×32 RGB, 10 classes).
        case cifar10
        /// CIFAR-100, binary version (32×32 RGB, 100 classes).
        case cifar100
        /// A folder of images, one sub-folder per class.
        case imageFolder = "image-folder"

        /// Where the data set is looked for when `path` is not given; nil when `path` is required.
        public var defaultPath: String? {
            self == .fashionMNIST ? "/usr/share/datasets/fashion-mnist" : nil
        }

        /// Number of image channels, when fixed by the format (nil for image folders).
        public var channels: Int? {
            switch self {
            case .fashionMNIST, .mnist: return 1
            case .cifar10, .cifar100: return 3
            case .imageFolder: return nil
            }
        }

        /// Per-channel mean and standard deviation of the training set; nil when `normalize` is required.
        public var defaultNormalization: Normalization? {
            switch self {
            case .fashionMNIST: return Normalization(mean: [0.2860], std: [0.3530])
            case .mnist: return Normalization(mean: [0.1307], std: [0.3081])
            case .cifar10: return Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
            case .cifar100: return Normalization(mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])
            case .imageFolder: return nil
            }
        }

        /// Default training augmentation. Digits are not flipped (a mirrored digit is another glyph).
        public var defaultAugmentation: Augmentation {
            switch self {
            case .fashionMNIST: return Augmentation(cropPadding: 2, flip: true)
            case .mnist: return Augmentation(cropPadding: 2, flip: false)
            case .cifar10, .cifar100: return Augmentation(cropPadding: 4, flip: true)
            case .imageFolder: return Augmentation(cropPadding: 0, flip: true)
            }
        }
    }

    /// Per-channel normalization: `x' = (x − mean[c]) / std[c]`, with `x` in [0, 1].
    public struct Normalization: Equatable, Codable, Sendable {
        /// Per-channel mean.
        public var mean: [Double]
        /// Per-channel standard deviation; each > 0.
        public var std: [Double]

        /// Creates a normalization.
        public init(mean: [Double], std: [Double]) {
            self.mean = mean
            self.std = std
        }
    }

    /// Training-time augmentation (never applied to test images).
    public struct Augmentation: Equatable, Codable, Sendable {
        /// Zero-pad each side by this many pixels, then crop a random window of the original size; 0 disables.
        public var cropPadding: Int
        /// Mirror left–right with probability 1/2.
        public var flip: Bool

        /// Creates an augmentation setting.
        public init(cropPadding: Int, flip: Bool) {
            self.cropPadding = cropPadding
            self.flip = flip
        }
    }

    /// The data-set format.
    public var kind: Kind
    /// Directory holding the data set files.
    public var path: String
    /// Use a random subset of this many training images, drawn with the pipeline seed; nil means all.
    public var trainSubset: Int?
    /// Use the first this many test images; nil means all.
    public var testSubset: Int?
    /// Input normalization.
    public var normalize: Normalization
    /// Training augmentation.
    public var augment: Augmentation
    /// Image-folder settings (only for `kind: image-folder`; nil otherwise).
    public var imageFolder: ImageFolderSettings?

    /// How an image folder is read.
    public struct ImageFolderSettings: Equatable, Codable, Sendable {
        /// Images are resized (shorter side) and centre-cropped to size × size.
        public var size: Int
        /// 1 (grey) or 3 (RGB).
        public var channels: Int
        /// Share of each class's images in the test set, chosen by a seeded hash of the file name.
        public var testFraction: Double
        /// `skip` (report and leave out) or `fail` (stop) on an unreadable image.
        public var badImages: String
        public init(size: Int, channels: Int = 3, testFraction: Double = 0.2, badImages: String = "skip") {
            self.size = size; self.channels = channels; self.testFraction = testFraction; self.badImages = badImages
        }
    }

    /// Creates a dataset spec; `path`, `normalize` and `augment` default per kind where the kind has defaults.
    public init(kind: Kind, path: String, trainSubset: Int? = nil, testSubset: Int? = nil,
                normalize: Normalization, augment: Augmentation) {
        self.kind = kind
        self.path = path
        self.trainSubset = trainSubset
        self.testSubset = testSubset
        self.normalize = normalize
        self.augment = augment
    }
}

extension DatasetSpec {
    /// Reads the `dataset:` section.
    public init(yaml value: YAMLValue) throws {
        let map = try value.mapping(knownKeys: ["kind", "path", "train_subset", "test_subset", "normalize", "augment",
                                                "image_size", "channels", "test_fraction", "bad_images"])
        let kind = try map.required("kind", hint: "one of " + Kind.allCases.map(\.rawValue).joined(separator: ", "))
            .oneOf(Kind.self)
        let path: String
        if let given = map.optional("path") {
            path = try given.nonEmptyString()
        } else if let fallback = kind.defaultPath {
            path = fallback
        } else {
            throw value.error(.missingField, "missing required field 'path'",
                              hint: "dataset kind '\(kind.rawValue)' has no default location")
        }
        func subset(_ v: YAMLValue) throws -> Int? {
            if case .scalar = v.node, (try? v.string()) == "all" { return nil }
            return try v.int(atLeast: 1)
        }
        let trainSubset = try map.get("train_subset", default: nil, subset)
        let testSubset = try map.get("test_subset", default: nil, subset)

        let normalize: Normalization
        if let given = map.optional("normalize") {
            normalize = try Normalization(yaml: given, channels: kind.channels, kindName: kind.rawValue)
        } else if let fallback = kind.defaultNormalization {
            normalize = fallback
        } else {
            throw value.error(.missingField, "missing required field 'normalize'",
                              hint: "dataset kind '\(kind.rawValue)' has no default statistics; give {mean: [...], std: [...]}")
        }

        let base = kind.defaultAugmentation
        var augment = base
        if let given = map.optional("augment") {
            let a = try given.mapping(knownKeys: ["crop_padding", "flip"])
            augment = Augmentation(cropPadding: try a.get("crop_padding", default: base.cropPadding) { try $0.int(atLeast: 0) },
                                   flip: try a.get("flip", default: base.flip) { try $0.bool() })
        }
        var folder: ImageFolderSettings?
        if kind == .imageFolder {
            let size = try map.required("image_size", hint: "e.g. image_size: 64 (images are resized and centre-cropped to it)").int(atLeast: 1)
            let channels = try map.get("channels", default: 3) { v in let c = try v.int(); try v.require(c == 1 || c == 3, "1 or 3"); return c }
            let fraction = try map.get("test_fraction", default: 0.2) { v in let f = try v.double(); try v.require(f > 0 && f < 1, "in (0, 1)"); return f }
            let bad = try map.get("bad_images", default: "skip") { v in let b = try v.string(); try v.require(b == "skip" || b == "fail", "skip or fail"); return b }
            folder = ImageFolderSettings(size: size, channels: channels, testFraction: fraction, badImages: bad)
            if normalize.mean.count != channels {
                throw value.error(.invalidValue, "normalize has \(normalize.mean.count) channels but channels is \(channels)", hint: "give one mean and std per channel")
            }
        } else {
            for key in ["image_size", "channels", "test_fraction", "bad_images"] {
                if let given = map.optional(key) {
                    throw given.error(.invalidValue, "'\(key)' applies to kind image-folder only", hint: "remove it")
                }
            }
        }
        self.init(kind: kind, path: path, trainSubset: trainSubset, testSubset: testSubset,
                  normalize: normalize, augment: augment)
        self.imageFolder = folder
    }
}

extension DatasetSpec.Normalization {
    /// Reads `normalize: {mean: [...], std: [...]}`; both lists are required and have one entry per channel.
    init(yaml value: YAMLValue, channels: Int?, kindName: String) throws {
        let map = try value.mapping(knownKeys: ["mean", "std"])
        let meanList = try map.required("mean")
        let stdList = try map.required("std")
        let mean = try meanList.list().map { try $0.double() }
        let std = try stdList.list().map { item -> Double in
            let x = try item.double(); try item.require(x > 0, "> 0"); return x
        }
        let expected = channels ?? mean.count
        if channels == nil, expected != 1 && expected != 3 {
            throw meanList.error(.invalidValue, "expected 1 or 3 values (one per channel), found \(mean.count)")
        }
        for (list, values) in [(meanList, mean), (stdList, std)] where values.count != expected {
            let reason = channels != nil ? "\(kindName) images have \(expected) channel\(expected == 1 ? "" : "s")"
                                         : "'mean' has \(expected)"
            throw list.error(.invalidValue, "expected \(expected) value\(expected == 1 ? "" : "s"), found \(values.count)",
                             hint: reason)
        }
        self.init(mean: mean, std: std)
    }
}
