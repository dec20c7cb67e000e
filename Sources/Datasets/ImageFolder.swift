// Image folders: one sub-folder per class of JPEG or PNG files (the layout Caltech-101 ships in), decoded
// through libjpeg-turbo or libpng, the shorter side resized (bilinear, with area averaging when shrinking) to
// `size`, centre-cropped to size × size, grey or RGB. Classes are the sub-folder names in sorted order.
//
// Train/test split by a seeded rule that does not depend on listing order or on other files: an image is a
// test image when FNV-1a(seed, "class/file name") / 2^64 < test_fraction. Adding an image never moves
// another one between the sets.
//
// A file that cannot be decoded is reported by path; with `.skip` it is left out (and counted), with `.fail`
// the load stops with a DatasetError naming it.

import Foundation
import CTurboJPEG
import CPNG

public enum ImageFolder {
    public enum BadImages: String, Sendable, CaseIterable { case skip, fail }

    public struct Options: Sendable {
        public var size: Int
        public var channels: Int
        public var testFraction: Double
        public var seed: UInt64
        public var badImages: BadImages
        public init(size: Int, channels: Int = 3, testFraction: Double = 0.2, seed: UInt64 = 0, badImages: BadImages = .skip) {
            self.size = size; self.channels = channels; self.testFraction = testFraction; self.seed = seed; self.badImages = badImages
        }
    }

    static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// The classes (sorted sub-folder names) of `directory`.
    public static func classes(in directory: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw DatasetError(.missingFile, path: directory, expected: "a folder with one sub-folder of images per class", found: "no such folder",
                               hint: "set `dataset.path` to the image folder (e.g. the 101_ObjectCategories folder of Caltech-101)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { name in
            var d: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &d) && d.boolValue
        }.sorted()
        guard !names.isEmpty else {
            throw DatasetError(.missingFile, path: directory, expected: "one sub-folder per class", found: "no sub-folders",
                               hint: "put each class's images in a sub-folder named after the class")
        }
        return names
    }

    /// Whether an image belongs to the test set.
    public static func isTest(className: String, fileName: String, seed: UInt64, testFraction: Double) -> Bool {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for b in Array("\(className)/\(fileName)".utf8) { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 }
        h ^= h >> 33; h = h &* 0xff51_afd7_ed55_8ccd; h ^= h >> 33
        return Double(h >> 11) / 9_007_199_254_740_992.0 < testFraction
    }

    /// Loads one split. `warn` receives one line per skipped file.
    public static func load(directory: String, split: DatasetSplit, options: Options,
                            warn: (String) -> Void = { FileHandle.standardError.write(Data(("warning: " + $0 + "\n").utf8)) }) throws -> LabeledImages {
        guard options.size >= 1, options.size <= 4096, options.channels == 1 || options.channels == 3 else {
            throw DatasetError.invalidArgument("size 1…4096 and 1 or 3 channels", found: "size \(options.size), \(options.channels) channels",
                                               hint: "set dataset.image_size and dataset.channels")
        }
        let classes = try classes(in: directory)
        var pixels: [UInt8] = [], labels: [Int32] = []
        var skipped = 0
        for (label, name) in classes.enumerated() {
            let folder = directory + "/" + name
            let files = try FileManager.default.contentsOfDirectory(atPath: folder)
                .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            for file in files where isTest(className: name, fileName: file, seed: options.seed, testFraction: options.testFraction) == (split == .test) {
                let path = folder + "/" + file
                do {
                    let image = try decode(path: path, channels: options.channels)
                    pixels += resizeAndCrop(image, size: options.size)
                    labels.append(Int32(label))
                } catch let error as DatasetError {
                    if options.badImages == .fail { throw error }
                    skipped += 1
                    warn("skipped \(error)")
                }
            }
        }
        guard !labels.isEmpty else {
            throw DatasetError(.missingFile, path: directory, expected: "at least one readable \(split.rawValue) image", found: "none",
                               hint: "check the folder's images (.jpg, .jpeg, .png) and dataset.test_fraction")
        }
        if skipped > 0 { warn("\(skipped) unreadable image(s) skipped in \(directory) (\(split.rawValue) set)") }
        return try LabeledImages(channels: options.channels, height: options.size, width: options.size, pixels: pixels, labels: labels,
                                 classCount: classes.count, source: "\(directory) (\(split.rawValue))")
    }

    /// A decoded image: planar C × H × W.
    public struct Image {
        public var channels: Int; public var height: Int; public var width: Int; public var pixels: [UInt8]
        public init(channels: Int, height: Int, width: Int, pixels: [UInt8]) {
            self.channels = channels; self.height = height; self.width = width; self.pixels = pixels
        }
    }

    static func bad(_ path: String, _ why: String) -> DatasetError {
        DatasetError(.unreadable, path: path, expected: "a readable JPEG or PNG image", found: why,
                     hint: "replace or remove the file, or set dataset.bad_images: skip")
    }

    /// Largest image file read (a 224² JPEG is tens of kB; a 20-megapixel photo under 20 MB).
    public static let maxImageFileBytes = 256 << 20

    /// Decodes a JPEG or PNG file (by content, not by name) to `channels` planes.
    public static func decode(path: String, channels: Int) throws -> Image {
        // Kind and size from stat before the read: a FIFO would block it, a huge file would be loaded whole.
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard attributes?[.type] as? FileAttributeType == .typeRegular else { throw bad(path, "not a regular file (a FIFO, a device, a folder or missing)") }
        if let size = (attributes?[.size] as? NSNumber)?.intValue, size > maxImageFileBytes { throw bad(path, "a file of \(size) bytes, more than an image's \(maxImageFileBytes)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw bad(path, "a file that cannot be read") }
        return try decode(bytes: [UInt8](data), name: path, channels: channels)
    }

    /// Decodes JPEG or PNG bytes; `name` labels errors.
    public static func decode(bytes: [UInt8], name path: String, channels: Int) throws -> Image {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 { return try decodeJPEG(bytes, path: path, channels: channels) }
        if bytes.count >= 8 && bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return try decodePNG(bytes, path: path, channels: channels)
        }
        throw bad(path, "neither a JPEG nor a PNG signature")
    }

    static func decodeJPEG(_ bytes: [UInt8], path: String, channels: Int) throws -> Image {
        guard let handle = tjInitDecompress() else { throw bad(path, "libjpeg-turbo could not start") }
        defer { tjDestroy(handle) }
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, space: Int32 = 0
        guard bytes.withUnsafeBufferPointer({ tjDecompressHeader3(handle, $0.baseAddress, UInt(bytes.count), &w, &h, &sub, &space) }) == 0,
              w > 0, h > 0, Int(w) * Int(h) <= 1 << 28 else {
            throw bad(path, "a damaged JPEG header")
        }
        var out = [UInt8](repeating: 0, count: Int(w) * Int(h) * channels)
        let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
        let status = bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { tjDecompress2(handle, src.baseAddress, UInt(bytes.count), $0.baseAddress, w, 0, h, Int32(format.rawValue), 0) }
        }
        // A warning (e.g. a few missing bytes at the end) still yields an image; an error does not.
        if status != 0 && tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
            throw bad(path, "a damaged JPEG (\(String(cString: tjGetErrorStr2(handle))))")
        }
        return Image(channels: channels, height: Int(h), width: Int(w), pixels: planar(out, channels: channels, count: Int(w) * Int(h)))
    }

    static func decodePNG(_ bytes: [UInt8], path: String, channels: Int) throws -> Image {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let ok = bytes.withUnsafeBufferPointer { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard ok != 0, image.width > 0, image.height > 0, Int(image.width) * Int(image.height) <= 1 << 28 else {
            png_image_free(&image)
            throw bad(path, "a damaged PNG header")
        }
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        let w = Int(image.width), h = Int(image.height)
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let done = bytes.withUnsafeBufferPointer { _ in
            out.withUnsafeMutableBufferPointer { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        }
        guard done != 0 else {
            png_image_free(&image)
            throw bad(path, "a damaged PNG")
        }
        return Image(channels: channels, height: h, width: w, pixels: planar(out, channels: channels, count: w * h))
    }

    static func planar(_ interleaved: [UInt8], channels: Int, count: Int) -> [UInt8] {
        if channels == 1 { return interleaved }
        var out = [UInt8](repeating: 0, count: interleaved.count)
        for p in 0..<count { for c in 0..<channels { out[c * count + p] = interleaved[p * channels + c] } }
        return out
    }

    /// Shorter side to `size` (bilinear; box-averaged first when shrinking by 2× or more), centre crop.
    public static func resizeAndCrop(_ image: Image, size: Int) -> [UInt8] {
        var img = image
        // Halve while the shorter side stays ≥ 2·size: box filter against aliasing.
        while min(img.height, img.width) >= 2 * size {
            let h = img.height / 2, w = img.width / 2
            var px = [UInt8](repeating: 0, count: img.channels * h * w)
            for c in 0..<img.channels { for y in 0..<h { for x in 0..<w {
                let base = c * img.height * img.width
                let s = Int(img.pixels[base + 2 * y * img.width + 2 * x]) + Int(img.pixels[base + 2 * y * img.width + 2 * x + 1])
                    + Int(img.pixels[base + (2 * y + 1) * img.width + 2 * x]) + Int(img.pixels[base + (2 * y + 1) * img.width + 2 * x + 1])
                px[c * h * w + y * w + x] = UInt8((s + 2) / 4)
            } } }
            img = Image(channels: img.channels, height: h, width: w, pixels: px)
        }
        let scale = Double(size) / Double(min(img.height, img.width))
        let rh = max(size, Int((Double(img.height) * scale).rounded())), rw = max(size, Int((Double(img.width) * scale).rounded()))
        let top = (rh - size) / 2, left = (rw - size) / 2
        var out = [UInt8](repeating: 0, count: img.channels * size * size)
        for c in 0..<img.channels {
            let base = c * img.height * img.width
            for y in 0..<size {
                let sy = min(max((Double(y + top) + 0.5) / scale - 0.5, 0), Double(img.height - 1))
                let y0 = Int(sy), y1 = min(y0 + 1, img.height - 1), fy = sy - Double(y0)
                for x in 0..<size {
                    let sx = min(max((Double(x + left) + 0.5) / scale - 0.5, 0), Double(img.width - 1))
                    let x0 = Int(sx), x1 = min(x0 + 1, img.width - 1), fx = sx - Double(x0)
                    func p(_ yy: Int, _ xx: Int) -> Double { Double(img.pixels[base + yy * img.width + xx]) }
                    let v = (p(y0, x0) * (1 - fx) + p(y0, x1) * fx) * (1 - fy) + (p(y1, x0) * (1 - fx) + p(y1, x1) * fx) * fy
                    out[c * size * size + y * size + x] = UInt8(min(255, max(0, v.rounded())))
                }
            }
        }
        return out
    }
}
