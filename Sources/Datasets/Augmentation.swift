// Training-time augmentation: random crop with zero padding, then horizontal flip (as torchvision's
// RandomCrop(padding: P) followed by RandomHorizontalFlip(p: 0.5)).
// The RNG draws are fixed so a resumed run draws identically: per image, in batch order,
//     offsetY = rng.int(below: 2P + 1), offsetX = rng.int(below: 2P + 1), flip = rng.uniform() < 0.5
// always all three, whatever P and `horizontalFlip` are. Pixels are written by Batching; this file only draws.

import TensorCore

/// Random crop with zero padding and horizontal flip, applied when a batch is built.
///
/// The image is padded by `padding` pixels of value 0 on every side (in pixel space, so after normalisation a
/// padded pixel is `(0 − mean[c]) / std[c]`), a window of the original size is taken at (offsetY, offsetX)
/// of the padded image, and, if `horizontalFlip` is on and the draw says so, mirrored left to right:
///     out[c][y][x] = src[c][y + offsetY − P][x' + offsetX − P],  x' = flip ? W − 1 − x : x
/// with `src` read as 0 outside the image. offsetY = offsetX = P and no flip is the identity.
public struct Augmentation: Sendable, Equatable, Codable {
    /// Zero padding P on each side, in pixels; crop offsets range over 0...2P.
    public let padding: Int
    /// Whether to mirror left–right with probability 0.5.
    public let horizontalFlip: Bool

    /// Largest padding accepted.
    public static let maxPadding = 1 << 16

    /// - Throws: `.invalidArgument` unless `0 ≤ padding ≤ maxPadding`.
    public init(padding: Int, horizontalFlip: Bool) throws {
        guard (0...Augmentation.maxPadding).contains(padding) else {
            throw DatasetError.invalidArgument("crop padding in 0...\(Augmentation.maxPadding)", found: "\(padding)",
                                               hint: "fix `augmentation.padding` in the pipeline file (4 is usual for CIFAR, 2 for 28×28 images)")
        }
        self.init(uncheckedPadding: padding, horizontalFlip: horizontalFlip)
    }

    init(uncheckedPadding padding: Int, horizontalFlip: Bool) {
        self.padding = padding
        self.horizontalFlip = horizontalFlip
    }

    private enum CodingKeys: String, CodingKey { case padding, horizontalFlip }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(padding: c.decode(Int.self, forKey: .padding),
                      horizontalFlip: c.decode(Bool.self, forKey: .horizontalFlip))
    }

    /// The random choices for one image.
    public struct Draw: Sendable, Equatable {
        /// Row of the padded image where the crop starts, in 0...2P.
        public var offsetY: Int
        /// Column of the padded image where the crop starts, in 0...2P.
        public var offsetX: Int
        /// Mirror left–right (already false when `horizontalFlip` is off).
        public var flip: Bool

        public init(offsetY: Int, offsetX: Int, flip: Bool) {
            self.offsetY = offsetY
            self.offsetX = offsetX
            self.flip = flip
        }
    }

    /// The identity draw: centred crop, no flip.
    public var identity: Draw { Draw(offsetY: padding, offsetX: padding, flip: false) }

    /// Draw one image's choices: `rng.int(below: 2P+1)` for offsetY, then for offsetX, then `rng.uniform() < 0.5`
    /// for the flip. All three are drawn even when P = 0 or flipping is off, so RNG use depends only on the
    /// number of images.
    public func draw(rng: inout RNG) -> Draw {
        let span = 2 * padding + 1
        let y = rng.int(below: span)
        let x = rng.int(below: span)
        let f = rng.uniform() < 0.5
        return Draw(offsetY: y, offsetX: x, flip: horizontalFlip && f)
    }
}
