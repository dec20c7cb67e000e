// Test fixtures: tiny IDX and CIFAR files written to a temporary folder, plain or gzip'd (through zlib),
// and a naive reference for normalisation and augmentation to compare the batch builder with.

import CZlib
import Datasets
import Foundation
import TensorCore
import XCTest

enum Fixtures {
    /// Big-endian IDX bytes: magic, dims, payload.
    static func idxBytes(magic: UInt32, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for v in [magic] + dims { out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        return out + payload
    }

    /// Write `bytes` to `path`, gzip'd with zlib when `gzip` is true.
    static func write(_ bytes: [UInt8], to path: String, gzip: Bool) {
        if !gzip {
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)), path)
            return
        }
        guard let f = gzopen(path, "wb") else { XCTFail("gzopen \(path)"); return }
        if !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
            XCTAssertEqual(Int(n), bytes.count)
        }
        XCTAssertEqual(gzclose(f), Z_OK)
    }

    /// Deterministic pseudo-random bytes.
    static func bytes(_ n: Int, seed: UInt64, below limit: Int = 256) -> [UInt8] {
        var rng = RNG(seed: seed)
        if limit == 256 {
            var out = [UInt8](repeating: 0, count: n)
            for i in 0..<n { out[i] = UInt8(truncatingIfNeeded: rng.next() >> 56) }
            return out
        }
        return (0..<n).map { _ in UInt8(rng.int(below: limit)) }
    }

    /// Write an MNIST-style split (images and labels) into `dir`; returns (pixels, labels) written.
    @discardableResult
    static func writeIDXSplit(in dir: URL, split: DatasetSplit, count: Int, rows: Int = 4, cols: Int = 5, gzip: Bool,
                              seed: UInt64 = 1) -> (pixels: [UInt8], labels: [UInt8]) {
        let names = IDXImageSet.fileNames(split: split)
        let pixels = bytes(count * rows * cols, seed: seed)
        let labels = bytes(count, seed: seed + 100, below: 10)
        let suffix = gzip ? ".gz" : ""
        write(idxBytes(magic: 0x803, dims: [UInt32(count), UInt32(rows), UInt32(cols)], payload: pixels),
              to: dir.appendingPathComponent(names.images + suffix).path, gzip: gzip)
        write(idxBytes(magic: 0x801, dims: [UInt32(count)], payload: labels),
              to: dir.appendingPathComponent(names.labels + suffix).path, gzip: gzip)
        return (pixels, labels)
    }

    /// A small in-memory image set with random pixels.
    static func images(count: Int, channels: Int, height: Int, width: Int, seed: UInt64 = 7) throws -> LabeledImages {
        try LabeledImages(channels: channels, height: height, width: width,
                          pixels: bytes(count * channels * height * width, seed: seed),
                          labels: (0..<count).map { Int32($0 % 3) }, classCount: 3, source: "fixture")
    }

    /// Naive reference of one augmented, normalised image: pad with pixel 0, crop at the draw, then mirror.
    static func reference(_ images: LabeledImages, index: Int, normalization: Normalization, padding: Int,
                          draw: Augmentation.Draw) -> [Float] {
        let (c, h, w) = (images.channels, images.height, images.width)
        // Padded image in pixel space.
        let ph = h + 2 * padding, pw = w + 2 * padding
        var padded = [UInt8](repeating: 0, count: c * ph * pw)
        for ch in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    padded[(ch * ph + y + padding) * pw + x + padding] =
                        images.pixels[index * images.imageSize + (ch * h + y) * w + x]
                }
            }
        }
        var out = [Float](repeating: .nan, count: c * h * w)
        for ch in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    let cropped = padded[(ch * ph + y + draw.offsetY) * pw + x + draw.offsetX]
                    let outX = draw.flip ? w - 1 - x : x
                    out[(ch * h + y) * w + outX] = (Float(cropped) / 255 - normalization.mean[ch]) / normalization.std[ch]
                }
            }
        }
        return out
    }
}

/// Run `body`, expecting a DatasetError of `kind`; returns it for further checks.
@discardableResult
func assertDatasetError<T>(_ kind: DatasetError.Kind, file: StaticString = #filePath, line: UInt = #line,
                           _ body: () throws -> T) -> DatasetError? {
    do {
        _ = try body()
        XCTFail("expected DatasetError.\(kind), got success", file: file, line: line)
    } catch let e as DatasetError {
        XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
        return e
    } catch {
        XCTFail("expected DatasetError.\(kind), got \(error)", file: file, line: line)
    }
    return nil
}
