// PNG files of 8-bit grey or RGB images for the comparison report's reference row "send the input image
// itself", written by libpng's simplified API (`png_image_write_to_memory`): libpng's default filter
// selection and zlib settings, non-interlaced, and the sRGB chunk libpng adds for 8-bit images. Only the
// size matters to the report; the files are ordinary PNGs that any reader opens. It does not write other
// bit depths, palettes, alpha or metadata.

import CPNG

public enum PNGEncoder {
    /// A PNG file of one image.
    /// - Parameters:
    ///   - pixels: planar C×H×W bytes (C = 1 or 3), as LabeledImages stores them.
    ///   - channels: 1 (grey) or 3 (RGB).
    ///   - height, width: at least 1.
    public static func encode(pixels: [UInt8], channels: Int, height: Int, width: Int) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "PNGEncoder: 1 or 3 channels")
        precondition(height > 0 && width > 0 && pixels.count == channels * height * width,
                     "PNGEncoder: \(pixels.count) bytes for a \(channels)×\(height)×\(width) image")
        let interleaved = channels == 1 ? pixels : interleave(pixels, channels: channels, count: height * width)
        // Room for incompressible rows (a filter byte each, zlib's stored-block overhead) and the chunks.
        return write(interleaved, channels: channels, height: height, width: width,
                     capacity: height * (width * channels + 1) * 101 / 100 + 1024)
    }

    /// Writes interleaved H×W×C bytes into a buffer of `capacity` bytes; when that is short, libpng says
    /// how much it needs and a second call writes into that.
    static func write(_ interleaved: [UInt8], channels: Int, height: Int, width: Int, capacity: Int) -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        var capacity = capacity
        for _ in 0..<2 {
            var out = [UInt8](repeating: 0, count: capacity)
            var size = png_alloc_size_t(capacity)
            let ok = out.withUnsafeMutableBytes { dst in
                interleaved.withUnsafeBytes { src in
                    png_image_write_to_memory(&image, dst.baseAddress, &size, 0, src.baseAddress, 0, nil)
                }
            }
            if ok != 0 {
                out.removeSubrange(Int(size)...)
                return out
            }
            guard Int(size) > capacity else { break }
            capacity = Int(size)
            image.opaque = nil
            image.warning_or_error = 0
        }
        let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        preconditionFailure("PNGEncoder: libpng could not write a \(channels)×\(height)×\(width) image: \(message)")
    }

    /// Planar C×H×W to interleaved H×W×C.
    static func interleave(_ planar: [UInt8], channels: Int, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: planar.count)
        planar.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels { for p in 0..<count { dst[p * channels + c] = src[c * count + p] } }
            }
        }
        return out
    }
}
