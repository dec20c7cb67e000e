// `aecnn export-features`: the split tensor of the trained base model for the first N test images, uniformly
// quantised to 8 bits over [0, max] (max over all exported images: one fixed range, as a calibrated
// quantiser would use), written as raw bytes (image-major, then C×H×W) with a JSON sidecar describing it.
// For analysing features with other tools, and for measuring coders on real data.

import ArgumentParser
import Foundation
import TensorCore
import Autograd
import Datasets
import Pipeline
import Checkpoint

struct ExportFeatures: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export-features",
        abstract: "Write the base model's split-point features of test images as 8-bit symbols (raw) plus a JSON description.")

    @OptionGroup var options: PipelineOptions
    @Option(help: "Split point.") var split = "stem"
    @Option(help: "Number of test images (from the first).") var count = 1000
    @Option(help: "Output file (raw UInt8); a .json sidecar is written next to it.") var out: String

    func run() throws {
        let ctx = try options.context()
        Parallel.threads = ctx.spec.threads
        let model = try TrainBaseStage.loadModel(ctx)
        model.setTraining(false)
        let test = try ctx.testImages().subset(first: count)
        var unused = RNG(seed: 0)
        var features: [Tensor] = []
        for r in Batching.batchRanges(count: test.count, batchSize: 250) {
            let (x, _) = try Batching.makeBatch(test, indices: r, normalization: try ctx.normalization(), augmentation: nil, rng: &unused)
            features.append(try GradMode.withoutGrad { try model.forwardDevice(Variable(x), split: split).value })
        }
        var maxValue: Float = 0
        for f in features { for i in 0..<f.count { maxValue = max(maxValue, f[i]) } }
        let scale = maxValue > 0 ? 255 / maxValue : 0
        var bytes = [UInt8]()
        bytes.reserveCapacity(features.reduce(0) { $0 + $1.count })
        for f in features { for i in 0..<f.count { bytes.append(UInt8(min(255, max(0, (f[i] * scale).rounded())))) } }
        try AtomicFile.write(bytes, to: URL(fileURLWithPath: out))
        let shape = Array(features[0].shape.dropFirst())
        let meta: [String: Any] = ["pipeline": ctx.spec.name, "split": split, "images": test.count, "shape": shape,
                                   "dtype": "uint8", "layout": "image-major, then C×H×W",
                                   "quantization": ["bits": 8, "lo": 0, "hi": Double(maxValue)]]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted]),
                             to: URL(fileURLWithPath: out + ".json"))
        print("wrote \(bytes.count) bytes (\(test.count) × \(shape)) to \(out); range [0, \(maxValue)]")
    }
}
