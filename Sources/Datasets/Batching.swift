// Turning LabeledImages into training batches: the epoch order, batch boundaries, and the batch tensor
// (normalised, optionally augmented) written straight into Tensor.data through a 256-entry table per channel.
// It does not decide batch size or drop the last partial batch: the caller does both.

import TensorCore

/// Epoch order and batch construction.
public enum Batching {
    /// The order in which an epoch visits `0..<count`: `rng.permutation(count)` when shuffling (the RNG's only
    /// use), `0, 1, …, count − 1` otherwise (no draws).
    public static func epochOrder(count: Int, shuffle: Bool, rng: inout RNG) -> [Int] {
        let n = max(0, count)
        return shuffle ? rng.permutation(n) : Array(0..<n)
    }

    /// Consecutive ranges of `batchSize` positions covering `0..<count`; the last one is shorter when
    /// `batchSize` does not divide `count` (it is kept). Empty when `count ≤ 0` or `batchSize ≤ 0`.
    public static func batchRanges(count: Int, batchSize: Int) -> [Range<Int>] {
        guard count > 0, batchSize > 0 else { return [] }
        return stride(from: 0, to: count, by: batchSize).map { $0..<min($0 + batchSize, count) }
    }

    /// Build the batch of the images at `indices`, in that order.
    ///
    /// Each pixel becomes `normalization.value(pixel:channel:)`, i.e. `(Float(p) / 255 − mean[c]) / std[c]`.
    /// With `augmentation`, each image is cropped and flipped as `Augmentation` describes, and the RNG is
    /// advanced by exactly `augmentation.draw(rng:)` once per image in batch order (three draws each), before
    /// any pixel is written; without it the RNG is not used. On error nothing is drawn.
    ///
    /// - Parameters:
    ///   - images: the source images.
    ///   - indices: positions in `images` (repeats allowed, any count including 0).
    ///   - normalization: one mean/std per channel of `images`.
    ///   - augmentation: crop/flip settings, or nil for none (evaluation).
    ///   - rng: the caller's generator, advanced only when augmenting.
    /// - Returns: `x` of shape [B, C, H, W] (NCHW, B = `indices.count`) and the B labels.
    /// - Throws: `.invalidArgument` if an index is out of range or the normalisation has the wrong channel count.
    @inlinable
    public static func makeBatch(_ images: LabeledImages, indices: some Collection<Int>, normalization: Normalization,
                                 augmentation: Augmentation?, rng: inout RNG) throws -> (x: Tensor, labels: [Int32]) {
        try makeBatch(images, indexList: Array(indices), normalization: normalization, augmentation: augmentation,
                      rng: &rng)
    }

    @usableFromInline
    static func makeBatch(_ images: LabeledImages, indexList idx: [Int], normalization: Normalization,
                          augmentation: Augmentation?, rng: inout RNG) throws -> (x: Tensor, labels: [Int32]) {
        try normalization.check(for: images)
        if let bad = idx.first(where: { $0 < 0 || $0 >= images.count }) {
            throw DatasetError.invalidArgument("batch indices in 0..<\(images.count)", found: "index \(bad)",
                                               hint: "batch indices must come from epochOrder(count: \(images.count), …)")
        }
        let draws: [Augmentation.Draw]? = augmentation.map { aug in idx.map { _ in aug.draw(rng: &rng) } }
        let (c, h, w) = (images.channels, images.height, images.width)
        let x = Tensor(uninitialized: [idx.count, c, h, w])
        let table = normalization.lookupTable()
        let out = x.data
        let padding = augmentation?.padding ?? 0
        images.pixels.withUnsafeBufferPointer { src in
            table.withUnsafeBufferPointer { lut in
                Parallel.forChunks(idx.count, minChunk: 64) { _, range in
                    for b in range {
                        let image = src.baseAddress! + idx[b] * images.imageSize
                        let dst = out + b * images.imageSize
                        if let d = draws?[b], d.offsetY != padding || d.offsetX != padding || d.flip {
                            writeAugmented(image, into: dst, channels: c, height: h, width: w, lut: lut.baseAddress!,
                                           padding: padding, draw: d)
                        } else {
                            writePlain(image, into: dst, channels: c, plane: h * w, lut: lut.baseAddress!)
                        }
                    }
                }
            }
        }
        return (x, idx.map { images.labels[$0] })
    }

    /// Normalise one image as is.
    static func writePlain(_ src: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<Float>, channels: Int,
                           plane: Int, lut: UnsafePointer<Float>) {
        for ch in 0..<channels {
            let s = src + ch * plane, d = dst + ch * plane, t = lut + ch * 256
            for k in 0..<plane { d[k] = t[Int(s[k])] }
        }
    }

    /// Normalise one image through its crop window and optional mirror; outside the image the pixel is 0.
    static func writeAugmented(_ src: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<Float>, channels: Int,
                               height: Int, width: Int, lut: UnsafePointer<Float>, padding: Int,
                               draw: Augmentation.Draw) {
        let plane = height * width
        let dy = draw.offsetY - padding, dx = draw.offsetX - padding
        // Output columns x whose source column x + dx lies inside the image (before mirroring).
        let xLo = max(0, -dx), xHi = min(width, width - dx)
        for ch in 0..<channels {
            let t = lut + ch * 256
            let zero = t[0]
            for y in 0..<height {
                let d = dst + ch * plane + y * width
                let sy = y + dy
                if sy < 0 || sy >= height || xLo >= xHi {
                    d.update(repeating: zero, count: width)
                    continue
                }
                if xLo > 0 || xHi < width { d.update(repeating: zero, count: width) }
                let s = src + ch * plane + sy * width
                if draw.flip {
                    for x in xLo..<xHi { d[width - 1 - x] = t[Int(s[x + dx])] }
                } else {
                    for x in xLo..<xHi { d[x] = t[Int(s[x + dx])] }
                }
            }
        }
    }
}
