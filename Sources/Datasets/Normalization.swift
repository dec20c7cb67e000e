// Per-channel normalisation of 8-bit pixels, applied when a batch is built:
//     value = (Float(pixel) / 255 − mean[c]) / std[c]      (evaluated in Float, in that order)
// Statistics come from settings, from a dataset's reference constants, or from the training pixels.
// It does not augment (Augmentation) or lay out batches (Batching).

import Foundation

/// Per-channel mean and standard deviation of pixels scaled to [0, 1].
public struct Normalization: Sendable, Equatable, Codable {
    /// One mean per channel, on the [0, 1] scale.
    public let mean: [Float]
    /// One standard deviation per channel, on the [0, 1] scale; all positive.
    public let std: [Float]

    /// - Throws: `.invalidArgument` unless `mean` and `std` have the same, non-zero length, every value is finite
    ///   and every std is positive.
    public init(mean: [Float], std: [Float]) throws {
        guard !mean.isEmpty, mean.count == std.count else {
            throw DatasetError.invalidArgument("one mean and one std per channel",
                                               found: "\(mean.count) means and \(std.count) stds",
                                               hint: "give `normalization.mean` and `normalization.std` the same length as the image channels")
        }
        guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw DatasetError.invalidArgument("finite means and positive finite stds", found: "mean \(mean), std \(std)",
                                               hint: "fix `normalization` in the pipeline file")
        }
        self.init(uncheckedMean: mean, std: std)
    }

    init(uncheckedMean mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    private enum CodingKeys: String, CodingKey { case mean, std }

    /// Decodes `{mean: [...], std: [...]}` with the same checks as `init(mean:std:)`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(mean: c.decode([Float].self, forKey: .mean), std: c.decode([Float].self, forKey: .std))
    }

    /// Number of channels this normalisation is for.
    public var channels: Int { mean.count }

    /// Mean 0 and std 1 on every channel: value = pixel / 255.
    public static func unit(channels: Int) -> Normalization {
        Normalization(uncheckedMean: [Float](repeating: 0, count: max(1, channels)),
                      std: [Float](repeating: 1, count: max(1, channels)))
    }

    /// The normalised value of one pixel of channel `c`; the batch builder produces exactly these floats.
    @inlinable
    public func value(pixel: UInt8, channel c: Int) -> Float {
        (Float(pixel) / 255 - mean[c]) / std[c]
    }

    /// Mean and population standard deviation of each channel over every pixel of `images`, scaled to [0, 1].
    /// Exact (byte histograms, Double arithmetic), so it does not depend on pixel order or thread count.
    /// - Throws: `.invalidArgument` if `images` is empty or a channel is constant (std 0).
    public static func computed(from images: LabeledImages) throws -> Normalization {
        let plane = images.height * images.width
        guard images.count > 0 else {
            throw DatasetError.invalidArgument("at least one image to compute statistics from", found: "none",
                                               hint: "give `normalization.mean`/`std` explicitly or use a non-empty training set")
        }
        var histogram = [[Int]](repeating: [Int](repeating: 0, count: 256), count: images.channels)
        images.pixels.withUnsafeBufferPointer { p in
            for c in 0..<images.channels {
                var h = [Int](repeating: 0, count: 256)
                for i in 0..<images.count {
                    let base = (i * images.channels + c) * plane
                    for k in 0..<plane { h[Int(p[base + k])] += 1 }
                }
                histogram[c] = h
            }
        }
        let n = Double(images.count * plane)
        var means: [Float] = [], stds: [Float] = []
        for c in 0..<images.channels {
            var sum = 0.0
            for v in 0..<256 { sum += Double(histogram[c][v]) * Double(v) }
            let mean = sum / n / 255
            var squares = 0.0
            for v in 0..<256 {
                let d = Double(v) / 255 - mean
                squares += Double(histogram[c][v]) * d * d
            }
            means.append(Float(mean))
            stds.append(Float((squares / n).squareRoot()))
        }
        guard stds.allSatisfy({ $0 > 0 }) else {
            throw DatasetError.invalidArgument("pixels that vary within each channel", found: "std \(stds)",
                                               hint: "give `normalization.mean`/`std` explicitly")
        }
        return Normalization(uncheckedMean: means, std: stds)
    }

    /// Throws unless this normalisation has one entry per channel of `images`.
    public func check(for images: LabeledImages) throws {
        guard channels == images.channels else {
            throw DatasetError.invalidArgument("\(images.channels) normalisation channel(s) for \(images.source)",
                                               found: "\(channels) (mean \(mean), std \(std))",
                                               hint: "give `normalization.mean` and `normalization.std` one value per image channel")
        }
    }

    /// `channels × 256` floats: entry `c * 256 + p` is `value(pixel: p, channel: c)`.
    func lookupTable() -> [Float] {
        var table = [Float](repeating: 0, count: channels * 256)
        for c in 0..<channels {
            for p in 0..<256 { table[c * 256 + p] = value(pixel: UInt8(p), channel: c) }
        }
        return table
    }
}

extension Normalization {
    /// CIFAR-10 training-set statistics: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
    public static let cifar10 = Normalization(uncheckedMean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
    /// CIFAR-100 training-set statistics: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
    public static let cifar100 = Normalization(uncheckedMean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])
}
