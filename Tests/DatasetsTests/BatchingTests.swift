// Normalisation, augmentation and batch construction, compared with a naive reference; RNG use as documented.

import Datasets
import Foundation
import TensorCore
import XCTest
import _TestSupport

final class BatchingTests: XCTestCase {
    // MARK: normalisation

    func testNormalizationValues() throws {
        let n = FashionMNIST.normalization
        XCTAssertEqual(n.mean, [0.2860])
        XCTAssertEqual(n.std, [0.3530])
        XCTAssertEqual(n.value(pixel: 0, channel: 0), (0 - 0.2860) / 0.3530)
        XCTAssertEqual(n.value(pixel: 255, channel: 0), (1 - 0.2860) / 0.3530)
        XCTAssertEqual(n.value(pixel: 51, channel: 0), (Float(51) / 255 - 0.2860) / 0.3530)
        XCTAssertEqual(Normalization.unit(channels: 3).value(pixel: 255, channel: 2), 1)

        // A batch of a 1×1×4 image is exactly the formula, pixel by pixel.
        let images = try LabeledImages(channels: 1, height: 1, width: 4, pixels: [0, 51, 128, 255], labels: [2],
                                       classCount: 3, source: "hand")
        var rng = RNG(seed: 1)
        let (x, labels) = try Batching.makeBatch(images, indices: [0], normalization: n, augmentation: nil, rng: &rng)
        XCTAssertEqual(x.shape, [1, 1, 1, 4])
        XCTAssertEqual(x.array, [0, 51, 128, 255].map { (Float($0) / 255 - 0.2860) / 0.3530 })
        XCTAssertEqual(labels, [2])
        XCTAssertEqual(rng, RNG(seed: 1), "no augmentation draws nothing")
    }

    func testComputedNormalization() throws {
        // Channel 0 holds 0 and 255 equally: mean 0.5, std 0.5. Channel 1 holds 51 and 153: mean 0.4, std 0.2.
        let images = try LabeledImages(channels: 2, height: 1, width: 2, pixels: [0, 255, 51, 153, 255, 0, 153, 51],
                                       labels: [0, 1], classCount: 2, source: "hand")
        let n = try Normalization.computed(from: images)
        XCTAssertEqual(n.mean[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(n.std[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(n.mean[1], 0.4, accuracy: 1e-6)
        XCTAssertEqual(n.std[1], 0.2, accuracy: 1e-6)
        let constant = try LabeledImages(channels: 1, height: 1, width: 2, pixels: [7, 7], labels: [0],
                                         classCount: 1, source: "flat")
        assertDatasetError(.invalidArgument) { try Normalization.computed(from: constant) }
    }

    func testInvalidNormalizationSettings() throws {
        assertDatasetError(.invalidArgument) { try Normalization(mean: [0.5, 0.5], std: [0.2]) }
        assertDatasetError(.invalidArgument) { try Normalization(mean: [0.5], std: [0]) }
        assertDatasetError(.invalidArgument) { try Normalization(mean: [.nan], std: [1]) }
        assertDatasetError(.invalidArgument) { try Normalization(mean: [], std: []) }
        let decoded = try JSONDecoder().decode(Normalization.self, from: Data(#"{"mean":[0.1],"std":[0.2]}"#.utf8))
        XCTAssertEqual(decoded, try Normalization(mean: [0.1], std: [0.2]))
        XCTAssertThrowsError(try JSONDecoder().decode(Normalization.self, from: Data(#"{"mean":[0.1],"std":[-1]}"#.utf8)))
        // Three channels of statistics for a one-channel dataset.
        let images = try Fixtures.images(count: 2, channels: 1, height: 3, width: 3)
        var rng = RNG(seed: 2)
        let e = assertDatasetError(.invalidArgument) {
            try Batching.makeBatch(images, indices: [0], normalization: .cifar10, augmentation: nil, rng: &rng)
        }
        XCTAssertTrue(e?.hint.contains("normalization.mean") ?? false)
        assertDatasetError(.invalidArgument) {
            try Batching.makeBatch(images, indices: [2], normalization: .unit(channels: 1), augmentation: nil, rng: &rng)
        }
        XCTAssertEqual(rng, RNG(seed: 2))
        assertDatasetError(.invalidArgument) { try Augmentation(padding: -1, horizontalFlip: false) }
    }

    // MARK: augmentation

    func testPaddingZeroWithoutFlipIsTheNormalisedImage() throws {
        let images = try Fixtures.images(count: 5, channels: 3, height: 4, width: 6)
        let norm = try Normalization(mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2])
        let aug = try Augmentation(padding: 0, horizontalFlip: false)
        var rng = RNG(seed: 3), plainRNG = RNG(seed: 3)
        let indices = [4, 0, 2, 2]
        let augmented = try Batching.makeBatch(images, indices: indices, normalization: norm, augmentation: aug, rng: &rng)
        let plain = try Batching.makeBatch(images, indices: indices, normalization: norm, augmentation: nil, rng: &plainRNG)
        XCTAssertTrue(augmented.x.bitwiseEqual(plain.x))
        XCTAssertEqual(augmented.labels, indices.map { images.labels[$0] })
        for (b, i) in indices.enumerated() {
            for k in 0..<images.imageSize {
                let c = k / (images.height * images.width)
                XCTAssertEqual(plain.x[b * images.imageSize + k],
                               norm.value(pixel: images.pixels[i * images.imageSize + k], channel: c))
            }
        }
    }

    func testCropAndFlipOnAHandMadeImage() throws {
        // One 1×3×3 image holding 10…90; P = 1; unit normalisation times 255 gives the pixel back.
        let pixels: [UInt8] = [10, 20, 30, 40, 50, 60, 70, 80, 90]
        let images = try LabeledImages(channels: 1, height: 3, width: 3, pixels: pixels, labels: [0], classCount: 1,
                                       source: "hand")
        let aug = try Augmentation(padding: 1, horizontalFlip: true)
        // Find a seed whose first draw is offsetY 0, offsetX 2, flip: the window is padded rows 0–2, columns 2–4.
        let wanted = Augmentation.Draw(offsetY: 0, offsetX: 2, flip: true)
        var seed: UInt64 = 0
        while true {
            var probe = RNG(seed: seed)
            if aug.draw(rng: &probe) == wanted { break }
            seed += 1
        }
        var rng = RNG(seed: seed)
        let x = try Batching.makeBatch(images, indices: [0], normalization: .unit(channels: 1), augmentation: aug,
                                       rng: &rng).x
        // Unflipped crop: [[0, 0, 0], [20, 30, 0], [50, 60, 0]]; mirrored left–right:
        let expected: [Float] = [0, 0, 0, 0, 30, 20, 0, 60, 50]
        XCTAssertEqual(x.array.map { ($0 * 255).rounded() }, expected)
    }

    func testAugmentationMatchesNaiveReference() throws {
        let images = try Fixtures.images(count: 9, channels: 2, height: 5, width: 7)
        let norm = try Normalization(mean: [0.3, 0.6], std: [0.2, 0.4])
        for padding in [0, 1, 2, 4, 9] {
            for flip in [false, true] {
                let aug = try Augmentation(padding: padding, horizontalFlip: flip)
                var rng = RNG(seed: UInt64(100 + padding))
                var replay = rng
                let indices = [3, 1, 8, 0, 0, 5, 7, 2, 6, 4, 1]
                let batch = try Batching.makeBatch(images, indices: indices, normalization: norm, augmentation: aug,
                                                   rng: &rng)
                for (b, i) in indices.enumerated() {
                    let draw = aug.draw(rng: &replay)
                    XCTAssertTrue((0...(2 * padding)).contains(draw.offsetY) && (0...(2 * padding)).contains(draw.offsetX))
                    if !flip { XCTAssertFalse(draw.flip) }
                    let expected = Fixtures.reference(images, index: i, normalization: norm, padding: padding, draw: draw)
                    let got = Array(batch.x.array[(b * images.imageSize)..<((b + 1) * images.imageSize)])
                    XCTAssertEqual(got, expected, "P=\(padding) flip=\(flip) image \(b): \(draw)")
                }
                XCTAssertEqual(rng, replay)
            }
        }
    }

    func testRNGDrawOrderIsTheDocumentedSequence() throws {
        let images = try Fixtures.images(count: 20, channels: 1, height: 6, width: 6)
        let aug = try Augmentation(padding: 3, horizontalFlip: true)
        var rng = RNG(seed: 42)
        var manual = RNG(seed: 42)
        let first = try Batching.makeBatch(images, indices: 0..<20, normalization: .unit(channels: 1),
                                           augmentation: aug, rng: &rng)
        var flips = 0
        for _ in 0..<20 {
            _ = manual.int(below: 7)
            _ = manual.int(below: 7)
            if manual.uniform() < 0.5 { flips += 1 }
        }
        XCTAssertEqual(rng, manual, "three draws per image: int(below: 2P+1), int(below: 2P+1), uniform()")
        XCTAssertTrue(flips > 0 && flips < 20)
        // Flipping off still draws all three.
        var noFlip = RNG(seed: 42)
        _ = try Batching.makeBatch(images, indices: 0..<20, normalization: .unit(channels: 1),
                                   augmentation: try Augmentation(padding: 3, horizontalFlip: false), rng: &noFlip)
        XCTAssertEqual(noFlip, manual)
        // Same seed → identical batch; the next batch differs.
        var again = RNG(seed: 42)
        let second = try Batching.makeBatch(images, indices: 0..<20, normalization: .unit(channels: 1),
                                            augmentation: aug, rng: &again)
        XCTAssertTrue(first.x.bitwiseEqual(second.x))
        let third = try Batching.makeBatch(images, indices: 0..<20, normalization: .unit(channels: 1),
                                           augmentation: aug, rng: &again)
        XCTAssertFalse(first.x.bitwiseEqual(third.x))
    }

    func testLargeBatchSplitAcrossThreadsIsIdentical() throws {
        let images = try Fixtures.images(count: 300, channels: 1, height: 28, width: 28)
        let aug = try Augmentation(padding: 2, horizontalFlip: true)
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var results: [Tensor] = []
        for threads in [1, 2] {
            Parallel.threads = threads
            var rng = RNG(seed: 9)
            results.append(try Batching.makeBatch(images, indices: Array(0..<300), normalization: FashionMNIST.normalization,
                                                  augmentation: aug, rng: &rng).x)
        }
        XCTAssertTrue(results[0].bitwiseEqual(results[1]))
    }

    // MARK: batching and subsets

    func testEpochOrderAndBatchRanges() {
        var rng = RNG(seed: 5)
        XCTAssertEqual(Batching.epochOrder(count: 4, shuffle: false, rng: &rng), [0, 1, 2, 3])
        XCTAssertEqual(rng, RNG(seed: 5))
        var copy = rng
        let order = Batching.epochOrder(count: 10, shuffle: true, rng: &rng)
        XCTAssertEqual(order, copy.permutation(10))
        XCTAssertEqual(rng, copy)
        XCTAssertEqual(order.sorted(), Array(0..<10))
        XCTAssertEqual(Batching.batchRanges(count: 10, batchSize: 4), [0..<4, 4..<8, 8..<10])
        XCTAssertEqual(Batching.batchRanges(count: 8, batchSize: 4), [0..<4, 4..<8])
        XCTAssertEqual(Batching.batchRanges(count: 0, batchSize: 4), [])
    }

    func testEmptyBatch() throws {
        let images = try Fixtures.images(count: 2, channels: 1, height: 2, width: 2)
        var rng = RNG(seed: 1)
        let batch = try Batching.makeBatch(images, indices: [Int](), normalization: .unit(channels: 1),
                                           augmentation: try Augmentation(padding: 1, horizontalFlip: true), rng: &rng)
        XCTAssertEqual(batch.x.shape, [0, 1, 2, 2])
        XCTAssertEqual(batch.labels, [])
        XCTAssertEqual(rng, RNG(seed: 1))
    }

    func testSubsets() throws {
        let images = try Fixtures.images(count: 10, channels: 2, height: 2, width: 3)
        let first = images.subset(first: 4)
        XCTAssertEqual(first.count, 4)
        XCTAssertEqual(first.labels, Array(images.labels[0..<4]))
        XCTAssertEqual(first.pixels, Array(images.pixels[0..<(4 * images.imageSize)]))
        XCTAssertEqual(images.subset(first: 50).count, 10)
        XCTAssertEqual(images.subset(first: -1).count, 0)

        var rng = RNG(seed: 11)
        var replay = rng
        let random = images.subset(count: 4, rng: &rng)
        let chosen = replay.permutation(10).prefix(4).sorted()
        XCTAssertEqual(rng, replay, "exactly one permutation(count) is drawn")
        XCTAssertEqual(random.count, 4)
        XCTAssertEqual(random.labels, chosen.map { images.labels[$0] })
        for (j, i) in chosen.enumerated() {
            XCTAssertEqual(Array(random.pixels[(j * images.imageSize)..<((j + 1) * images.imageSize)]),
                           Array(images.pixels[(i * images.imageSize)..<((i + 1) * images.imageSize)]))
        }
        XCTAssertTrue(random.source.contains("random 4 of 10"), random.source)
        var again = RNG(seed: 11)
        XCTAssertEqual(images.subset(count: 4, rng: &again).pixels, random.pixels)

        let picked = try images.subset(indices: [9, 9, 0])
        XCTAssertEqual(picked.labels, [images.labels[9], images.labels[9], images.labels[0]])
        assertDatasetError(.invalidArgument) { try images.subset(indices: [10]) }
        XCTAssertEqual(images.classHistogram(), [4, 3, 3])
    }

    func testLabeledImagesValidation() {
        assertDatasetError(.invalidArgument) {
            try LabeledImages(channels: 1, height: 2, width: 2, pixels: [1, 2, 3], labels: [0], classCount: 2, source: "x")
        }
        assertDatasetError(.labelOutOfRange) {
            try LabeledImages(channels: 1, height: 1, width: 1, pixels: [1], labels: [2], classCount: 2, source: "x")
        }
        assertDatasetError(.invalidArgument) {
            try LabeledImages(channels: 0, height: 1, width: 1, pixels: [], labels: [], classCount: 2, source: "x")
        }
    }
}
