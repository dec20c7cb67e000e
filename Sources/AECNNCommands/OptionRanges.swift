// Numeric command-line options are checked against a documented range where they are parsed: a value outside
// it (0 images, a port above 65535, a NaN or zero link rate that would divide by zero or wait forever) is a
// usage error naming the option, the value and the range, never a crash or a hang.

import ArgumentParser

enum OptionRange {
    static func check(_ option: String, _ value: Int, _ range: ClosedRange<Int>, _ note: String = "") throws {
        guard range.contains(value) else {
            throw ValidationError("--\(option) \(value) is out of range. Fix: use \(range.lowerBound)…\(range.upperBound)\(note)")
        }
    }

    static func check(_ option: String, _ value: Double, _ range: ClosedRange<Double>, _ note: String = "") throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError("--\(option) \(value) is out of range. Fix: use a number in \(range.lowerBound)…\(range.upperBound)\(note)")
        }
    }

    /// Most images any command reads from a test set at once.
    static let images = 1...1_000_000
    /// Emulated link rates, Mbit/s (1 kbit/s … 1 Tbit/s) and round-trip times, ms (up to a minute).
    static let mbps = 0.001...1_000_000.0
    static let rttMs = 0.0...60_000.0
}
