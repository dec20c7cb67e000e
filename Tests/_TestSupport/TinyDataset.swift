// A tiny, learnable image-classification dataset written as plain IDX files (the Fashion-MNIST layout),
// so stage tests never need the Debian dataset. Class k draws a bright bar whose position depends on k,
// plus noise from a seeded RNG.

import Foundation
import TensorCore

public enum TinyDataset {
    /// Write train/t10k IDX files into `directory`; returns the directory.
    @discardableResult
    public static func write(to directory: URL, train: Int = 96, test: Int = 48, side: Int = 12, classes: Int = 4,
                             seed: UInt64 = 7) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var rng = RNG(seed: seed)
        for (prefix, n) in [("train", train), ("t10k", test)] {
            var pixels = [UInt8](repeating: 0, count: n * side * side)
            var labels = [UInt8](repeating: 0, count: n)
            for i in 0..<n {
                let k = i % classes
                labels[i] = UInt8(k)
                for y in 0..<side { for x in 0..<side {
                    let bar = (k % 2 == 0) ? (y / max(1, side / classes) == k) : (x / max(1, side / classes) == k)
                    let v = (bar ? 200 : 30) + rng.int(below: 40)
                    pixels[i * side * side + y * side + x] = UInt8(min(255, v))
                } }
            }
            try idx(magic: 0x0803, dims: [n, side, side], payload: pixels)
                .write(to: directory.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
            try idx(magic: 0x0801, dims: [n], payload: labels)
                .write(to: directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
        }
        return directory
    }

    static func idx(magic: UInt32, dims: [Int], payload: [UInt8]) -> Data {
        var d = Data()
        func be32(_ v: UInt32) { d.append(contentsOf: [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]) }
        be32(magic)
        for x in dims { be32(UInt32(x)) }
        d.append(contentsOf: payload)
        return d
    }

    /// A pipeline file over the tiny dataset.
    public static func pipelineYAML(name: String, dataDirectory: URL, epochs: Int = 2, batch: Int = 16,
                                    threads: Int = 2, extra: String = "") -> String {
        """
        name: \(name)
        seed: 3
        threads: \(threads)
        dataset:
          kind: fashion-mnist
          path: \(dataDirectory.path)
          normalize: {mean: [0.3], std: [0.3]}
          augment: {crop_padding: 1, flip: true}
        model:
          arch: resnet20
          width: 0.25
        stages:
          train-base:
            epochs: \(epochs)
            batch_size: \(batch)
            optimizer: {kind: sgd, lr: 0.05, momentum: 0.9, weight_decay: 5e-4}
            schedule: {kind: cosine}
            eval_batch_size: 32
        \(extra)
        """
    }
}
