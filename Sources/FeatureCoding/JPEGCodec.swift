// 8-bit greyscale JPEG through libjpeg-turbo (BottleNet's codec for its tiled feature image), plus the
// tiling of c' channel planes into one near-square image: width 2^ceil(log2(c')/2) tiles, height
// 2^floor(log2(c')/2) tiles, channel k at row k / width, column k % width; unused tiles are 0.

import CTurboJPEG

public enum JPEGError: Error, CustomStringConvertible, Equatable {
    case library(String)
    case invalid(String)
    public var description: String {
        switch self {
        case .library(let m): return "libjpeg-turbo: \(m)"
        case .invalid(let m): return "JPEG: \(m)"
        }
    }
}

public enum JPEGCodec {
    /// Encodes a greyscale image (`height × width` bytes, row-major) at `quality` 1…100, 4:0:0.
    public static func encode(grey: [UInt8], width: Int, height: Int, quality: Int) throws -> [UInt8] {
        guard (1...100).contains(quality) else { throw JPEGError.invalid("quality \(quality) is not in 1…100") }
        guard width > 0, height > 0, grey.count == width * height else { throw JPEGError.invalid("\(grey.count) bytes for \(width)×\(height)") }
        guard let handle = tjInitCompress() else { throw JPEGError.library("cannot create a compressor") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = grey.withUnsafeBufferPointer { src in
            tjCompress2(handle, src.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_GRAY.rawValue), &out, &size,
                        Int32(TJSAMP_GRAY.rawValue), Int32(quality), TJFLAG_ACCURATEDCT)
        }
        defer { if let out { tjFree(out) } }
        guard status == 0, let out else { throw JPEGError.library(String(cString: tjGetErrorStr2(handle))) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    /// Decodes a greyscale JPEG of the expected size.
    public static func decode(_ jpeg: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        guard let handle = tjInitDecompress() else { throw JPEGError.library("cannot create a decompressor") }
        defer { tjDestroy(handle) }
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, space: Int32 = 0
        let header = jpeg.withUnsafeBufferPointer { tjDecompressHeader3(handle, $0.baseAddress, UInt(jpeg.count), &w, &h, &sub, &space) }
        guard header == 0 else { throw JPEGError.library(String(cString: tjGetErrorStr2(handle))) }
        guard Int(w) == width, Int(h) == height else { throw JPEGError.invalid("image is \(w)×\(h), expected \(width)×\(height)") }
        var out = [UInt8](repeating: 0, count: width * height)
        let status = jpeg.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(jpeg.count), dst.baseAddress, w, 0, h, Int32(TJPF_GRAY.rawValue), TJFLAG_ACCURATEDCT)
            }
        }
        guard status == 0 else { throw JPEGError.library(String(cString: tjGetErrorStr2(handle))) }
        return out
    }

    /// Tile grid (columns, rows) for `count` planes.
    public static func grid(_ count: Int) -> (columns: Int, rows: Int) {
        let l = count <= 1 ? 0.0 : log2(Double(count))
        var columns = 1 << Int((l / 2).rounded(.up)), rows = 1 << Int((l / 2).rounded(.down))
        while columns * rows < count { rows *= 2 }   // non-powers of two
        if count <= 1 { columns = 1; rows = 1 }
        return (columns, rows)
    }

    /// `count` planes of `h × w` (channel-major) → one image; returns it with its width and height.
    public static func tile(_ planes: [UInt8], count: Int, height h: Int, width w: Int) -> (image: [UInt8], width: Int, height: Int) {
        let (cols, rows) = grid(count)
        let W = cols * w, H = rows * h
        var img = [UInt8](repeating: 0, count: W * H)
        for k in 0..<count {
            let r = k / cols, c = k % cols
            for y in 0..<h { for x in 0..<w { img[(r * h + y) * W + c * w + x] = planes[k * h * w + y * w + x] } }
        }
        return (img, W, H)
    }

    /// The inverse of `tile`.
    public static func untile(_ image: [UInt8], count: Int, height h: Int, width w: Int) -> [UInt8] {
        let (cols, _) = grid(count)
        let W = cols * w
        var planes = [UInt8](repeating: 0, count: count * h * w)
        for k in 0..<count {
            let r = k / cols, c = k % cols
            for y in 0..<h { for x in 0..<w { planes[k * h * w + y * w + x] = image[(r * h + y) * W + c * w + x] } }
        }
        return planes
    }
}

import Foundation
