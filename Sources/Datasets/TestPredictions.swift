// Each test image's predicted class for one measured accuracy, so that two methods measured on the same test
// images can be compared image by image (paired statistics) long after the models are gone.
//
// Stored compactly: the test set's identity (a SHA-256 of its pixels and labels, and its size) and only the
// images the model got wrong, as (index, predicted class) pairs — every other image was predicted as its
// label. In JSON the pairs are one base64 string of unsigned LEB128 numbers: the gap from the previous wrong
// index (the first from −1, so a gap ≥ 1), then the predicted class. On 10,000 images at 93 % accuracy that
// is about 2 kB.

import Foundation

public struct TestPredictions: Codable, Equatable, Sendable {
    /// SHA-256 (hex) of the test set's pixels and labels (`identity(of:)`): two predictions pair only when equal.
    public var testSetSha256: String
    /// Test images predicted.
    public var count: Int
    /// The misclassified images in increasing order, with the class predicted for each.
    public var wrong: [Wrong]

    public struct Wrong: Equatable, Sendable {
        public var index: Int
        public var predicted: Int
        public init(index: Int, predicted: Int) { self.index = index; self.predicted = predicted }
    }

    /// From each image's predicted class and label, in test-set order.
    public init(predicted: [Int], labels: [Int32], testSetSha256: String) {
        precondition(predicted.count == labels.count, "one prediction per test image")
        self.testSetSha256 = testSetSha256
        count = predicted.count
        wrong = zip(predicted, labels).enumerated().compactMap { k, pl in pl.0 == Int(pl.1) ? nil : Wrong(index: k, predicted: pl.0) }
    }

    public init(testSetSha256: String, count: Int, wrong: [Wrong]) {
        self.testSetSha256 = testSetSha256; self.count = count; self.wrong = wrong
    }

    /// Accuracy: the fraction of images not in `wrong`.
    public var accuracy: Double { count == 0 ? 0 : Double(count - wrong.count) / Double(count) }

    /// Whether each image was classified right.
    public var correct: [Bool] {
        var c = [Bool](repeating: true, count: count)
        for w in wrong { c[w.index] = false }
        return c
    }

    /// Each image's predicted class, given the test set's labels.
    public func classes(labels: [Int32]) -> [Int] {
        var c = labels.map(Int.init)
        for w in wrong { c[w.index] = w.predicted }
        return c
    }

    /// The identity of a test set: its size, image shape and class count, then its pixels and labels, as the
    /// bytes that `hash` (a SHA-256, supplied by the caller) digests.
    public static func identityBytes(of images: LabeledImages) -> [UInt8] {
        var bytes = Array("aecnn test set v1 \(images.count) \(images.channels)x\(images.height)x\(images.width) \(images.classCount)\n".utf8)
        bytes += images.pixels
        for l in images.labels { withUnsafeBytes(of: l.littleEndian) { bytes += $0 } }
        return bytes
    }

    // MARK: JSON

    enum CodingKeys: String, CodingKey { case testSetSha256, count, wrong }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(testSetSha256, forKey: .testSetSha256)
        try c.encode(count, forKey: .count)
        var bytes: [UInt8] = []
        func leb(_ v: Int) { var v = UInt64(v); repeat { let b = UInt8(v & 0x7f); v >>= 7; bytes.append(v == 0 ? b : b | 0x80) } while v != 0 }
        var previous = -1
        for w in wrong { leb(w.index - previous); leb(w.predicted); previous = w.index }
        try c.encode(Data(bytes).base64EncodedString(), forKey: .wrong)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        testSetSha256 = try c.decode(String.self, forKey: .testSetSha256)
        count = try c.decode(Int.self, forKey: .count)
        func fail(_ why: String) -> DecodingError { .dataCorruptedError(forKey: .wrong, in: c, debugDescription: why) }
        guard testSetSha256.count == 64, testSetSha256.allSatisfy({ $0.isHexDigit }) else {
            throw DecodingError.dataCorruptedError(forKey: .testSetSha256, in: c, debugDescription: "not a SHA-256 in hex")
        }
        guard (0...100_000_000).contains(count) else { throw DecodingError.dataCorruptedError(forKey: .count, in: c, debugDescription: "count \(count) out of range") }
        guard let data = Data(base64Encoded: try c.decode(String.self, forKey: .wrong)) else { throw fail("not base64") }
        let bytes = [UInt8](data)
        var k = 0
        func leb() throws -> Int {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard k < bytes.count, shift < 63 else { throw fail("a number is cut short or too long") }
                let b = bytes[k]; k += 1
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            guard v <= UInt64(Int32.max) else { throw fail("a number is out of range") }
            return Int(v)
        }
        var out: [Wrong] = [], previous = -1
        while k < bytes.count {
            let gap = try leb(), predicted = try leb()
            guard gap >= 1, previous + gap < count else { throw fail("an image index is out of order or beyond the \(count) images") }
            previous += gap
            out.append(Wrong(index: previous, predicted: predicted))
        }
        wrong = out
    }
}
