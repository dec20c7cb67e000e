// LabeledImages: the in-memory form every reader produces (raw 8-bit pixels, NCHW per image, Int32 labels),
// with validation and subsets. Pixels stay bytes until a batch is built (see Batching), so the whole of
// Fashion-MNIST's training set is 47 MB, not 188 MB of floats.
// It does not normalise, augment or shuffle.

import Foundation
import TensorCore

/// A set of labelled images held as raw bytes.
///
/// Layout: image `i` occupies `pixels[i * imageSize ..< (i + 1) * imageSize]`, channel-major then row-major
/// (C, H, W), the NCHW order of `Tensor`.
public struct LabeledImages: Sendable {
    /// Number of images.
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    /// `count × channels × height × width` bytes, NCHW.
    public let pixels: [UInt8]
    /// One label per image, each in `0..<classCount`.
    public let labels: [Int32]
    /// Number of classes the labels are drawn from.
    public let classCount: Int
    /// Where the images came from (dataset, split, files, subset), for logs and manifests.
    public let source: String

    /// Bytes per image: `channels × height × width`.
    public var imageSize: Int { channels * height * width }

    /// Validate and wrap images and labels.
    /// - Throws: `DatasetError.Kind.invalidArgument` if a dimension is not positive or the arrays do not match
    ///   the dimensions; `.labelOutOfRange` if a label is negative or not below `classCount`.
    public init(channels: Int, height: Int, width: Int, pixels: [UInt8], labels: [Int32], classCount: Int,
                source: String) throws {
        guard channels > 0, height > 0, width > 0, classCount > 0 else {
            throw DatasetError.invalidArgument("positive channels, height, width and class count",
                                               found: "\(channels)×\(height)×\(width), \(classCount) classes",
                                               hint: "the dataset reader passed impossible dimensions")
        }
        let size = channels * height * width
        guard pixels.count == labels.count * size else {
            throw DatasetError.invalidArgument("\(labels.count) images of \(size) bytes (\(labels.count * size) bytes)",
                                               found: "\(pixels.count) pixel bytes",
                                               hint: "one label per image is needed")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw DatasetError(.labelOutOfRange, path: nil, expected: "labels in 0..<\(classCount)",
                               found: "label \(labels[bad]) at index \(bad) of \(source)",
                               hint: "the labels file does not belong to this dataset")
        }
        self.init(unchecked: channels, height: height, width: width, pixels: pixels, labels: labels,
                  classCount: classCount, source: source)
    }

    init(unchecked channels: Int, height: Int, width: Int, pixels: [UInt8], labels: [Int32], classCount: Int,
         source: String) {
        self.count = labels.count
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
        self.labels = labels
        self.classCount = classCount
        self.source = source
    }

    /// The images at `indices`, in that order (repeats allowed).
    /// - Throws: `.invalidArgument` if an index is outside `0..<count`.
    public func subset(indices: [Int]) throws -> LabeledImages {
        if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw DatasetError.invalidArgument("indices in 0..<\(count)", found: "index \(bad)",
                                               hint: "subset indices must address images of \(source)")
        }
        return gather(indices, source: "\(source), \(indices.count) selected of \(count)")
    }

    /// The first `min(n, count)` images, in their original order (n ≤ 0 gives an empty set). Draws nothing.
    public func subset(first n: Int) -> LabeledImages {
        let k = max(0, min(n, count))
        if k == count { return self }
        let size = imageSize
        return LabeledImages(unchecked: channels, height: height, width: width,
                             pixels: Array(pixels[0..<(k * size)]), labels: Array(labels[0..<k]),
                             classCount: classCount, source: "\(source), first \(k) of \(count)")
    }

    /// `min(n, count)` images chosen uniformly at random without replacement, kept in their ORIGINAL order
    /// (ascending index): a sample, not a shuffle.
    ///
    /// RNG use is fixed whatever `n` is: exactly one `rng.permutation(count)`; the chosen images are the
    /// first `min(n, count)` entries of that permutation, then sorted.
    public func subset(count n: Int, rng: inout RNG) -> LabeledImages {
        let k = max(0, min(n, count))
        let chosen = rng.permutation(count).prefix(k).sorted()
        return gather(chosen, source: "\(source), random \(k) of \(count)")
    }

    private func gather(_ indices: [Int], source: String) -> LabeledImages {
        let size = imageSize
        var newPixels = [UInt8](repeating: 0, count: indices.count * size)
        var newLabels = [Int32](repeating: 0, count: indices.count)
        pixels.withUnsafeBufferPointer { src in
            newPixels.withUnsafeMutableBufferPointer { dst in
                for (j, i) in indices.enumerated() {
                    UnsafeMutableRawPointer(dst.baseAddress! + j * size)
                        .copyMemory(from: src.baseAddress! + i * size, byteCount: size)
                }
            }
        }
        for (j, i) in indices.enumerated() { newLabels[j] = labels[i] }
        return LabeledImages(unchecked: channels, height: height, width: width, pixels: newPixels, labels: newLabels,
                             classCount: classCount, source: source)
    }

    /// How many images carry each label, indexed by class.
    public func classHistogram() -> [Int] {
        var h = [Int](repeating: 0, count: classCount)
        for l in labels { h[Int(l)] += 1 }
        return h
    }
}
