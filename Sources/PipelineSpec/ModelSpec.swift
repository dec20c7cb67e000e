// ModelSpec: the `model:` section of a pipeline file — which ResNet and how wide.
// Building the network is the Models module's job; split-point names are checked there too.

/// Which network a pipeline trains.
public struct ModelSpec: Equatable, Codable, Sendable {
    /// The supported architectures.
    public enum Architecture: String, Equatable, Codable, Sendable, CaseIterable {
        /// ResNet-20 for 28–32 px images (He et al., 2016, §4.2): 3 stages of 3 basic blocks.
        case resnet20
        /// ResNet-32: 3 stages of 5 basic blocks.
        case resnet32
        /// ResNet-56: 3 stages of 9 basic blocks.
        case resnet56
        /// ResNet-18 (ImageNet layout): 4 stages of 2 basic blocks.
        case resnet18
        /// ResNet-50 (ImageNet layout): 4 stages of bottleneck blocks.
        case resnet50

        /// True for the CIFAR-style ResNets (20/32/56), the only ones with a width multiplier.
        public var isSmallImage: Bool { self == .resnet20 || self == .resnet32 || self == .resnet56 }
    }

    /// The architecture.
    public var arch: Architecture
    /// Channel-width multiplier of the small-image ResNets (1.0 = 16/32/64 channels); > 0.
    public var width: Double

    /// Trained base weights to import (a safetensors file with the model's tensor names) instead of training
    /// in `train-base`; nil trains from scratch. Relative paths are relative to the working directory.
    public var weights: String?

    /// Creates a model spec.
    public init(arch: Architecture, width: Double = 1.0, weights: String? = nil) {
        self.arch = arch
        self.width = width
        self.weights = weights
    }
}

extension ModelSpec {
    /// Reads the `model:` section.
    public init(yaml value: YAMLValue) throws {
        let map = try value.mapping(knownKeys: ["arch", "width", "weights"])
        let arch = try map.required("arch", hint: "one of " + Architecture.allCases.map(\.rawValue).joined(separator: ", "))
            .oneOf(Architecture.self)
        let width = try map.get("width", default: 1.0) { v in
            // The narrowest layer has 16·width channels: at least one.
            let x = try v.double(); try v.require(x >= 0.0625 && x <= 16, "in 0.0625…16 (16 × width channels in the first stage, at least 1)"); return x
        }
        if !arch.isSmallImage, width != 1, let given = map.optional("width") {
            throw given.error(.invalidValue, "width multipliers apply to resnet20/32/56 only",
                              hint: "remove 'width' or use a small-image ResNet")
        }
        let weights: String? = try map.optional("weights").map { v in
            let path = try v.string(); try v.require(!path.isEmpty, "a path to a .safetensors file"); return path
        }
        self.init(arch: arch, width: width, weights: weights)
    }
}
