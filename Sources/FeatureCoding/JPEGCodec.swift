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
        try compress(grey, width: width, height: height, channels: 1, quality: quality)
    }

    /// Encodes an image of 1 (grey, 4:0:0) or 3 (RGB, 4:2:0 chroma, as cameras and browsers send) planar
    /// channels (`channels × height × width` bytes) at `quality` 1…100.
    public static func encode(planar: [UInt8], channels: Int, width: Int, height: Int, quality: Int) throws -> [UInt8] {
        guard channels == 1 || channels == 3 else { throw JPEGError.invalid("\(channels) channels: JPEG takes 1 (grey) or 3 (RGB)") }
        let plane = width * height
        guard width > 0, height > 0, planar.count == channels * plane else { throw JPEGError.invalid("\(planar.count) bytes for \(channels)×\(width)×\(height)") }
        guard channels == 3 else { return try compress(planar, width: width, height: height, channels: 1, quality: quality) }
        var rgb = [UInt8](repeating: 0, count: 3 * plane)
        for i in 0..<plane { for c in 0..<3 { rgb[3 * i + c] = planar[c * plane + i] } }
        return try compress(rgb, width: width, height: height, channels: 3, quality: quality)
    }

    /// libjpeg-turbo on interleaved pixels: grey 4:0:0 or RGB 4:2:0, accurate DCT.
    static func compress(_ pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int) throws -> [UInt8] {
        guard (1...100).contains(quality) else { throw JPEGError.invalid("quality \(quality) is not in 1…100") }
        guard width > 0, height > 0, pixels.count == channels * width * height else { throw JPEGError.invalid("\(pixels.count) bytes for \(channels)×\(width)×\(height)") }
        let (format, subsampling) = channels == 3 ? (TJPF_RGB, TJSAMP_420) : (TJPF_GRAY, TJSAMP_GRAY)
        guard let handle = tjInitCompress() else { throw JPEGError.library("cannot create a compressor") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer { src in
            tjCompress2(handle, src.baseAddress, Int32(width), 0, Int32(height), Int32(format.rawValue), &out, &size,
                        Int32(subsampling.rawValue), Int32(quality), TJFLAG_ACCURATEDCT)
        }
        defer { if let out { tjFree(out) } }
        guard status == 0, let out else { throw JPEGError.library(String(cString: tjGetErrorStr2(handle))) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    /// Decodes a JPEG of the expected size to `channels` (1 or 3) planar channels.
    public static func decode(_ jpeg: [UInt8], channels: Int, width: Int, height: Int) throws -> [UInt8] {
        guard channels == 3 else { return try decode(jpeg, width: width, height: height) }
        let rgb = try decompress(jpeg, width: width, height: height, channels: 3)
        let plane = width * height
        var planar = [UInt8](repeating: 0, count: 3 * plane)
        for i in 0..<plane { for c in 0..<3 { planar[c * plane + i] = rgb[3 * i + c] } }
        return planar
    }

    /// libjpeg-turbo to interleaved grey or RGB pixels of the expected size.
    static func decompress(_ jpeg: [UInt8], width: Int, height: Int, channels: Int) throws -> [UInt8] {
        guard let handle = tjInitDecompress() else { throw JPEGError.library("cannot create a decompressor") }
        defer { tjDestroy(handle) }
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, space: Int32 = 0
        let header = jpeg.withUnsafeBufferPointer { tjDecompressHeader3(handle, $0.baseAddress, UInt(jpeg.count), &w, &h, &sub, &space) }
        guard header == 0 else { throw JPEGError.library(String(cString: tjGetErrorStr2(handle))) }
        guard Int(w) == width, Int(h) == height else { throw JPEGError.invalid("image is \(w)×\(h), expected \(width)×\(height)") }
        var out = [UInt8](repeating: 0, count: channels * width * height)
        let format = channels == 3 ? TJPF_RGB : TJPF_GRAY
        let status = jpeg.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(jpeg.count), dst.baseAddress, w, 0, h, Int32(format.rawValue), TJFLAG_ACCURATEDCT)
            }
        }
        guard status == 0 else { throw JPEGError.library(String(cString: tjGetErrorStr2(handle))) }
        return out
    }

    /// The bytes of `jpeg` as an abbreviated stream (ITU-T T.81 B.5; libjpeg's `jpeg_write_tables` /
    /// `jpeg_suppress_tables`): the same image with its quantisation and Huffman tables (DQT, DHT), its APPn
    /// and COM segments left out, which sender and receiver share once, out of band. What remains: SOI, the
    /// frame header (SOFn), any DRI, the scan headers (SOS) with their entropy-coded data, and EOI.
    /// - Throws: `JPEGError.invalid` when the markers before the first scan cannot be parsed.
    public static func tablesOutOfBandSize(_ jpeg: [UInt8]) throws -> Int {
        guard jpeg.count >= 4, jpeg[0] == 0xFF, jpeg[1] == 0xD8 else { throw JPEGError.invalid("no SOI marker") }
        var k = 2, removed = 0
        while k + 4 <= jpeg.count {
            guard jpeg[k] == 0xFF else { throw JPEGError.invalid("expected a marker at byte \(k)") }
            let marker = jpeg[k + 1]
            if marker == 0xFF { k += 1; continue }   // fill byte
            let length = Int(jpeg[k + 2]) << 8 | Int(jpeg[k + 3])
            guard length >= 2, k + 2 + length <= jpeg.count else { throw JPEGError.invalid("segment at byte \(k) runs past the end") }
            if marker == 0xDA { return jpeg.count - removed }   // SOS: the scan and everything after it stay
            if marker == 0xDB || marker == 0xC4 || (0xE0...0xEF).contains(marker) || marker == 0xFE { removed += 2 + length }
            k += 2 + length
        }
        throw JPEGError.invalid("no scan (SOS) in the stream")
    }

    /// Decodes a greyscale JPEG of the expected size.
    public static func decode(_ jpeg: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        try decompress(jpeg, width: width, height: height, channels: 1)
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
