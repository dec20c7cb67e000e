// What every stage of one pipeline run shares: the parsed spec, where outputs go, the data, and how the
// model is built. Data and models are derived from the spec only, so two runs of the same spec see the
// same images in the same order.

import Foundation
import TensorCore
import Datasets
import Models
import PipelineSpec
import Checkpoint

public final class RunContext {
    /// The pipeline, with `seed` set to the seed this context runs.
    public let spec: PipelineSpec
    /// Checkpoints/<pipeline name>/: the pipeline's folder (the merged report of several seeds goes here).
    public let pipelineRoot: URL
    /// Where this seed's stages write: the pipeline's folder, or its `seed-<k>/` when the pipeline lists `seeds`.
    public let root: URL
    /// Where progress lines go (stderr by default); nil silences them.
    public var log: ((String) -> Void)?
    /// The build that runs the stages ("aecnn 0.9.0 (commit …)"), recorded in every result; nil in tests.
    public var buildVersion: String?
    /// The pipeline file's text, embedded in reports when known.
    public var pipelineText: String?

    private var cachedTrain: LabeledImages?
    private var cachedTest: LabeledImages?
    private var cachedTestSetSha256: String?

    /// A context for one of the pipeline's seeds (`seed`, default the first of `seedList`). A seed the
    /// pipeline does not list is refused by the commands before they get here.
    public init(spec: PipelineSpec, checkpointsDirectory: URL, seed: UInt64? = nil, log: ((String) -> Void)? = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }) {
        var spec = spec
        let chosen = seed ?? spec.seedList[0]
        spec.seed = chosen
        self.spec = spec
        self.pipelineRoot = checkpointsDirectory.appendingPathComponent(spec.name, isDirectory: true)
        self.root = spec.seeds == nil ? pipelineRoot : pipelineRoot.appendingPathComponent(Self.seedFolder(chosen), isDirectory: true)
        self.log = log
    }

    /// The folder of one seed's outputs in a pipeline with `seeds`: `seed-<k>`.
    public static func seedFolder(_ seed: UInt64) -> String { "seed-\(seed)" }

    /// A context for every seed of the pipeline, in the order listed.
    public static func all(spec: PipelineSpec, checkpointsDirectory: URL, log: ((String) -> Void)? = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }) -> [RunContext] {
        spec.seedList.map { RunContext(spec: spec, checkpointsDirectory: checkpointsDirectory, seed: $0, log: log) }
    }

    public func stageDirectory(_ stage: String, _ parts: String...) -> URL {
        parts.reduce(root.appendingPathComponent(stage, isDirectory: true)) { $0.appendingPathComponent($1, isDirectory: true) }
    }

    var datasetKind: DatasetKind {
        get throws {
            guard let k = DatasetKind(rawValue: spec.dataset.kind.rawValue) else {
                throw StageError.invalidSettings("dataset.kind \(spec.dataset.kind.rawValue) is not supported by the training stages yet")
            }
            return k
        }
    }

    /// Training images (after `train_subset`: a random subset drawn from its own seeded RNG, so changing the
    /// subset never changes the training RNG's sequence).
    public func trainImages() throws -> LabeledImages {
        if let cachedTrain { return cachedTrain }
        var images = try load(.train)
        guard images.count > 0 else {
            throw StageError.invalidSettings("the training images (\(images.source)) are none: nothing to train on. Fix: point dataset.path at a dataset with images")
        }
        if let n = spec.dataset.trainSubset, n < images.count {
            var rng = RNG(seed: spec.seed ^ 0x5355_4253_4554)   // "SUBSET"
            images = images.subset(count: n, rng: &rng)
        }
        cachedTrain = images
        return images
    }

    /// Test images (after `test_subset`: the first N), of the training images' shape and classes.
    public func testImages() throws -> LabeledImages {
        if let cachedTest { return cachedTest }
        var images = try load(.test)
        guard images.count > 0 else {
            throw StageError.invalidSettings("the test images (\(images.source)) are none: no accuracy can be measured. Fix: point dataset.path at a dataset with test images")
        }
        let train = try trainImages()
        let (a, b) = ([images.channels, images.height, images.width], [train.channels, train.height, train.width])
        guard a == b else {
            throw StageError.invalidSettings("the test images (\(images.source)) are \(a.map(String.init).joined(separator: "×")) but the training images (\(train.source)) are \(b.map(String.init).joined(separator: "×")): a model trained on one size would be measured on another. Fix: give both splits images of one size")
        }
        guard images.classCount == train.classCount else {
            throw StageError.invalidSettings("the test images (\(images.source)) have \(images.classCount) classes but the training images (\(train.source)) \(train.classCount). Fix: give both splits the same classes")
        }
        if let n = spec.dataset.testSubset, n < images.count { images = images.subset(first: n) }
        cachedTest = images
        return images
    }

    func load(_ split: DatasetSplit) throws -> LabeledImages {
        if let f = spec.dataset.imageFolder {
            let options = ImageFolder.Options(size: f.size, channels: f.channels, testFraction: f.testFraction, seed: spec.seed,
                                              badImages: ImageFolder.BadImages(rawValue: f.badImages) ?? .skip)
            return try ImageFolder.load(directory: spec.dataset.path, split: split, options: options) { [log] in log?("warning: " + $0) }
        }
        return try datasetKind.load(split: split, directory: spec.dataset.path)
    }

    public func normalization() throws -> Normalization {
        try Normalization(mean: spec.dataset.normalize.mean.map { Float($0) }, std: spec.dataset.normalize.std.map { Float($0) })
    }

    public func augmentation() throws -> Augmentation {
        try Augmentation(padding: spec.dataset.augment.cropPadding, horizontalFlip: spec.dataset.augment.flip)
    }

    /// A freshly initialised base model (weights from the pipeline seed).
    public func makeBaseModel() throws -> ResNet {
        let train = try trainImages()
        guard let arch = Architecture(rawValue: spec.model.arch.rawValue) else {
            throw StageError.invalidSettings("model.arch \(spec.model.arch.rawValue) is not built by Models")
        }
        let model = ResNet(arch, inputChannels: train.channels, classes: train.classCount, width: spec.model.width, seed: spec.seed)
        try checkSplitsAndRatios(model, inputShape: [train.channels, train.height, train.width])
        return model
    }

    /// Every split is a unit of the model, and every ratio V leaves a whole number of channels (C/V ≥ 1,
    /// C divisible by V) at every split: otherwise pruning would quietly keep a rounded count.
    func checkSplitsAndRatios(_ model: ResNet, inputShape: [Int]) throws {
        guard !spec.splits.isEmpty else { return }
        let report = model.splitReport(inputShape: inputShape)
        for split in spec.splits {
            guard let point = report.first(where: { $0.split == split }) else {
                throw StageError.invalidSettings("splits: '\(split)' is not a split point of \(spec.model.arch.rawValue). Fix: use one of \(report.map(\.split).joined(separator: ", "))")
            }
            let c = point.shape[0]
            for v in spec.ratios where v > c || c % v != 0 {
                throw StageError.invalidSettings("ratios: V=\(v) does not divide the \(c) channels at split '\(split)' (the device would send \(c)/\(v) channels). Fix: use ratios that divide \(c), e.g. \((1...c).filter { c % $0 == 0 && $0 >= 2 && $0 & ($0 - 1) == 0 }.map(String.init).joined(separator: ", "))")
            }
        }
    }

    /// Refuses a training batch whose saved activations would not fit in this machine's memory, with the
    /// estimate and the largest batch that would: 8 saved tensors (conv, batch norm, ReLU outputs and their
    /// gradients) of every unit's output size per image — on ResNet-20 at 28×28 and batch 128 that is 320 MB
    /// of the 622 MB measured — plus the training images, plus four float copies of every parameter (weights,
    /// gradients, optimizer state, the backward pass's temporaries). `extraPerImage` counts the values per
    /// image of layers the base model does not have (the recovery CNN at the split). Checked before anything
    /// is trained.
    public func checkTrainingMemory(batchSize: Int, stage: String, parameters: Int = 0, extraPerImage: Int = 0) throws {
        let train = try trainImages()
        let shape = [train.channels, train.height, train.width]
        let perImage = try makeBaseModel().splitReport(inputShape: shape).reduce(0) { $0 + $1.shape.reduce(1, *) } + extraPerImage
        let perBatch = 8.0 * 4 * Double(perImage)
        // The images, the parameters with their gradients and optimizer state, and the process without them.
        let fixed = Double(train.pixels.count) + 16 * Double(parameters) + 256e6
        let available = 0.8 * Double(ProcessInfo.processInfo.physicalMemory)
        let estimate = Double(batchSize) * perBatch + fixed
        guard estimate > available else { return }
        let largest = Int((available - fixed) / perBatch)
        func gib(_ x: Double) -> String { String(format: "%.1f GiB", x / 1_073_741_824) }
        let params = parameters > 0 ? String(format: " and %.1f M parameters with their gradients and optimizer state", Double(parameters) / 1e6) : ""
        throw StageError.invalidSettings("\(stage): training at batch \(batchSize) on \(shape.map(String.init).joined(separator: "×")) images needs about \(gib(estimate)) (activations of \(perImage) values per image, saved with their gradients\(params)), more than 80 % of this machine's \(gib(Double(ProcessInfo.processInfo.physicalMemory))). Fix: "
            + (largest >= 1 ? "lower stages.<stage>.batch_size to at most \(largest)" : extraPerImage > 0 || parameters > 0 ? "use a smaller model (e.g. aecnn.recovery.hidden) or smaller images (no batch size fits)" : "use smaller images (no batch size fits)"))
    }

    /// SHA-256 of the test set's identity (`TestPredictions.identityBytes`), computed once.
    public func testSetSha256() throws -> String {
        if let cachedTestSetSha256 { return cachedTestSetSha256 }
        let h = SHA256.hexDigest(TestPredictions.identityBytes(of: try testImages()))
        cachedTestSetSha256 = h
        return h
    }

    /// Each test image's predicted class, as a result keeps it.
    public func predictions(_ predicted: [Int]) throws -> TestPredictions {
        let test = try testImages()
        guard predicted.count == test.count else {
            throw StageError.invalidSettings("\(predicted.count) predictions for \(test.count) test images")
        }
        return TestPredictions(predicted: predicted, labels: test.labels, testSetSha256: try testSetSha256())
    }

    /// Human-readable class names of the data set, where it has them.
    public func datasetKindNames() throws -> [String] {
        if spec.dataset.imageFolder != nil { return try ImageFolder.classes(in: spec.dataset.path) }
        switch try datasetKind {
        case .fashionMNIST: return FashionMNIST.classNames
        case .mnist: return (0..<10).map(String.init)
        case .cifar10: return CIFAR10.classNames
        case .cifar100: return []
        }
    }

    /// SHA-256 of the canonical JSON of whatever settings decide a stage's result.
    public static func settingsHash<T: Encodable>(_ value: T) throws -> String {
        SHA256.hexDigest(try canonicalJSON(of: value))
    }
}
