// The shape of one quantised feature tensor as the coders see it: channels × height × width symbols in
// channel-major order (symbol index = (c · height + y) · width + x). No tensor type is involved; the
// adapter between tensors and symbols lives one level up.

/// Dimensions of a feature map, channel-major (`C × H × W`, the `CHW` part of `NCHW`).
public struct FeatureShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int

    /// - Parameters: channels `C`, height `H`, width `W`; each ≥ 0.
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// `C · H · W`, or nil when a dimension is negative or the product overflows.
    public var elementCount: Int? {
        guard channels >= 0, height >= 0, width >= 0 else { return nil }
        let (hw, o1) = height.multipliedReportingOverflow(by: width)
        let (n, o2) = hw.multipliedReportingOverflow(by: channels)
        return (o1 || o2) ? nil : n
    }

    public var description: String { "\(channels)×\(height)×\(width)" }

    /// The element count, or a typed error for a negative or overflowing shape.
    func validatedCount() throws -> Int {
        guard let n = elementCount else {
            throw FeatureCodingError.invalidShape(channels: channels, height: height, width: width)
        }
        return n
    }
}
