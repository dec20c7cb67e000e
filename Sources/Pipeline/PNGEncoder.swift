// A minimal PNG encoder (8-bit grey or RGB, non-interlaced) for the comparison report's reference row
// "send the input image itself": per-row filter chosen by the minimum sum of absolute differences (libpng's
// default heuristic), zlib level 9. Only the size matters here; the files are valid PNGs all the same.

import CZlib
import TensorCore

public enum PNGEncoder {
    /// `pixels`: planar C×H×W (C = 1 or 3), as LabeledImages stores them.
    public static func encode(pixels: [UInt8], channels: Int, height: Int, width: Int) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "PNGEncoder: 1 or 3 channels")
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height { for x in 0..<width { for c in 0..<channels {
            raw[y * stride + x * channels + c] = pixels[c * height * width + y * width + x]
        } } }
        var filtered: [UInt8] = []
        filtered.reserveCapacity(height * (stride + 1))
        let bpp = channels
        for y in 0..<height {
            let row = Array(raw[(y * stride)..<((y + 1) * stride)])
            let up = y > 0 ? Array(raw[((y - 1) * stride)..<(y * stride)]) : [UInt8](repeating: 0, count: stride)
            var best: [UInt8] = [], bestType: UInt8 = 0, bestCost = Int.max
            for type in UInt8(0)...4 {
                var out = [UInt8](repeating: 0, count: stride)
                for i in 0..<stride {
                    let a = i >= bpp ? Int(row[i - bpp]) : 0, b = Int(up[i]), c = i >= bpp ? Int(up[i - bpp]) : 0
                    let predictor: Int
                    switch type {
                    case 0: predictor = 0
                    case 1: predictor = a
                    case 2: predictor = b
                    case 3: predictor = (a + b) / 2
                    default:
                        let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                        predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                    }
                    out[i] = UInt8(truncatingIfNeeded: Int(row[i]) - predictor)
                }
                let cost = out.reduce(0) { $0 + min(Int($1), 256 - Int($1)) }
                if cost < bestCost { bestCost = cost; best = out; bestType = type }
            }
            filtered.append(bestType)
            filtered += best
        }
        var destLen = compressBound(uLong(filtered.count))
        var z = [UInt8](repeating: 0, count: Int(destLen))
        _ = compress2(&z, &destLen, filtered, uLong(filtered.count), 9)
        z.removeSubrange(Int(destLen)...)

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            let t = Array(type.utf8)
            png += be32(UInt32(data.count)) + t + data + be32(CRC32.checksum(t + data))
        }
        chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, channels == 1 ? 0 : 2, 0, 0, 0])
        chunk("IDAT", z)
        chunk("IEND", [])
        return png
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
}
