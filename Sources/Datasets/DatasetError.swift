// The one error type of the Datasets module: every problem a user's file or setting can cause ends here,
// naming the file, what was expected, what was found, and how to fix it.
// Nothing in this module traps on user input; preconditions guard only this module's own invariants.

import Foundation

/// A dataset file or setting that cannot be used, with the fix.
///
/// `description` reads "<path>: expected <expected>, found <found>. Fix: <hint>", so one log line is enough to act on.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for tests and callers that branch on it.
    public enum Kind: String, Sendable, Equatable {
        /// A file or directory does not exist.
        case missingFile
        /// The file exists but cannot be opened or read (permissions, a directory, an I/O error).
        case unreadable
        /// The first four bytes are not the IDX magic for this kind of file.
        case badMagic
        /// A header field is impossible (zero-sized image, sizes that overflow).
        case badHeader
        /// The payload is shorter than the header promises (or the header claims more than the file can hold).
        case truncated
        /// The payload is longer than the header promises.
        case overlong
        /// The gzip stream is damaged or ends early.
        case corruptGzip
        /// An images file and its labels file disagree on the number of examples.
        case countMismatch
        /// A label is not below the class count.
        case labelOutOfRange
        /// A CIFAR file is not a whole, non-zero number of records.
        case badRecordSize
        /// A setting (normalisation, subset, batch indices) does not fit the data.
        case invalidArgument
    }

    public let kind: Kind
    /// The file (or directory) concerned; nil for settings that are not tied to a file.
    public let path: String?
    /// What the file or setting should have held.
    public let expected: String
    /// What it held.
    public let found: String
    /// How to fix it (may be empty).
    public let hint: String

    public init(_ kind: Kind, path: String?, expected: String, found: String, hint: String) {
        self.kind = kind
        self.path = path
        self.expected = expected
        self.found = found
        self.hint = hint
    }

    public var description: String {
        var s = path.map { "\($0): " } ?? ""
        s += "expected \(expected), found \(found)"
        if !hint.isEmpty { s += ". Fix: \(hint)" }
        return s
    }

    static func invalidArgument(_ expected: String, found: String, hint: String) -> DatasetError {
        DatasetError(.invalidArgument, path: nil, expected: expected, found: found, hint: hint)
    }
}
