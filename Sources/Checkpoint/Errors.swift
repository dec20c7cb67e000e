// Typed errors of the Checkpoint module. Each names the file concerned, says what is wrong and how to fix it.
// `SafeTensorsError` is about one file's format; `CheckpointError` about a checkpoint bundle (manifest +
// tensors) and about loading tensors into a model that expects other names or shapes.

import Foundation

/// A safetensors file could not be read or written.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public enum Problem: Equatable, Sendable {
        /// Fewer than the 8 bytes of the header length.
        case fileTooShort(size: Int)
        /// The header length field exceeds the 100 MB limit.
        case headerLengthTooLarge(length: UInt64, limit: Int)
        /// The header length field points past the end of the file.
        case headerBeyondEnd(length: UInt64, fileSize: Int)
        /// The header is not valid UTF-8 JSON.
        case headerNotJSON(String)
        /// The header is valid JSON but not an object.
        case headerNotObject
        /// A tensor entry lacks a field or has one of the wrong type.
        case invalidEntry(name: String, reason: String)
        /// `__metadata__` is not an object of strings.
        case invalidMetadata(String)
        /// A dtype this reader does not support.
        case unknownDType(name: String, dtype: String)
        /// shape product × element size ≠ end − begin (`expected` nil when the product overflows).
        case byteLengthMismatch(name: String, dtype: DType, shape: [Int], expected: Int?, found: Int)
        /// `data_offsets` end beyond the data buffer.
        case offsetsOutOfRange(name: String, begin: Int, end: Int, bufferLength: Int)
        /// A tensor starts before the previous one (in offset order) ends.
        case overlap(name: String, begin: Int, previousEnd: Int)
        /// Unused bytes before a tensor (`name`) or at the end of the buffer (`name` nil).
        case hole(name: String?, begin: Int, previousEnd: Int)
        /// Two tensors with the same name.
        case duplicateName(String)
        /// A tensor may not be named `__metadata__` (writer).
        case reservedName
        /// The file could not be opened or read.
        case io(FileIOError)
    }

    /// Path of the file (or the `source` name given to `decode`).
    public let file: String
    public let problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    private static let damaged = "the file is truncated, damaged or not a safetensors file: delete it and rerun the stage that wrote it"

    public var description: String {
        let what: String
        var hint = SafeTensorsError.damaged
        switch problem {
        case .fileTooShort(let size):
            what = "file is \(size) bytes, shorter than the 8-byte header length"
        case .headerLengthTooLarge(let length, let limit):
            what = "header length field says \(length) bytes, above the \(limit)-byte limit"
        case .headerBeyondEnd(let length, let size):
            what = "header length field says \(length) bytes but the file has only \(size) bytes in all"
        case .headerNotJSON(let why):
            what = "header is not valid JSON (\(why))"
        case .headerNotObject:
            what = "header is JSON but not an object"
        case .invalidEntry(let name, let reason):
            what = "tensor \"\(name)\": \(reason)"
        case .invalidMetadata(let why):
            what = "__metadata__ must be an object of string values: \(why)"
        case .unknownDType(let name, let dtype):
            what = "tensor \"\(name)\" has dtype \(dtype); supported: "
                + DType.allCases.map(\.rawValue).joined(separator: ", ")
            hint = "convert the tensor to one of those dtypes before saving"
        case .byteLengthMismatch(let name, let dtype, let shape, let expected, let found):
            let exp = expected.map { "\($0) bytes" } ?? "an overflowing byte count"
            what = "tensor \"\(name)\" (\(dtype.rawValue) \(shape)) needs \(exp) but its data_offsets span \(found)"
        case .offsetsOutOfRange(let name, let begin, let end, let len):
            what = "tensor \"\(name)\" data_offsets [\(begin), \(end)] run past the \(len)-byte data buffer"
        case .overlap(let name, let begin, let prev):
            what = "tensor \"\(name)\" starts at \(begin), inside the previous tensor (which ends at \(prev))"
        case .hole(let name?, let begin, let prev):
            what = "unused bytes \(prev)..<\(begin) before tensor \"\(name)\""
        case .hole(nil, let end, let prev):
            what = "the tensors end at byte \(prev) of the data buffer but it has \(end) bytes"
        case .duplicateName(let name):
            what = "tensor name \"\(name)\" appears twice"
            hint = "give every tensor a unique name (if reading: " + SafeTensorsError.damaged + ")"
        case .reservedName:
            what = "a tensor cannot be named \(SafeTensors.metadataKey)"
            hint = "rename the tensor"
        case .io(let e):
            what = e.description
            hint = "check the path"
        }
        return "safetensors file \(file): \(what). Hint: \(hint)."
    }
}

/// A checkpoint bundle could not be saved or loaded, or its tensors do not fit what the caller expects.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// No manifest at `manifest`: the checkpoint was never completed (or never written).
    case missing(name: String, manifest: String)
    /// The manifest exists but the tensor file does not.
    case missingTensorFile(manifest: String, tensorFile: String)
    /// The manifest cannot be parsed or lacks a field.
    case invalidManifest(path: String, reason: String)
    /// The manifest's format version is newer than this program understands.
    case unsupportedVersion(path: String, version: Int, supported: Int)
    /// The tensor file's length or SHA-256 differs from the manifest's.
    case corrupt(path: String, reason: String)
    /// A checkpoint name that is not a plain file name.
    case invalidName(String)
    /// Metadata that cannot be stored (e.g. a non-finite number).
    case invalidMetadata(key: String, reason: String)
    /// An expected tensor is absent.
    case missingTensor(file: String, name: String, expectedShape: [Int]?)
    /// A tensor has another shape than expected.
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    /// A tensor has another dtype than expected.
    case dtypeMismatch(file: String, name: String, expected: DType, found: DType)
    /// The file holds tensors the caller did not expect (when extras are not allowed).
    case unexpectedTensors(file: String, names: [String])
    /// The underlying safetensors file is malformed.
    case format(SafeTensorsError)
    /// A file-system operation failed.
    case io(FileIOError)

    public var description: String {
        switch self {
        case let .missing(name, manifest):
            return "checkpoint \"\(name)\" not found: no manifest at \(manifest). "
                + "Hint: run the stage that produces it (a checkpoint without a manifest was never completed)."
        case let .missingTensorFile(manifest, tensorFile):
            return "checkpoint \(manifest) is incomplete: its tensor file \(tensorFile) is missing. "
                + "Hint: delete the manifest and rerun the stage."
        case let .invalidManifest(path, reason):
            return "checkpoint manifest \(path) is invalid: \(reason). Hint: delete it and rerun the stage."
        case let .unsupportedVersion(path, version, supported):
            return "checkpoint manifest \(path) has format version \(version); this build reads up to \(supported). "
                + "Hint: use a newer aecnn, or rerun the stage to rewrite it."
        case let .corrupt(path, reason):
            return "checkpoint \(path) is corrupt (\(reason)): delete it and rerun the stage."
        case let .invalidName(name):
            return "invalid checkpoint name \"\(name)\". Hint: use a plain file name (no '/', not starting with '.')."
        case let .invalidMetadata(key, reason):
            return "checkpoint metadata \"\(key)\" cannot be stored: \(reason)."
        case let .missingTensor(file, name, shape):
            let exp = shape.map { " (expected shape \($0))" } ?? ""
            return "\(file): tensor \"\(name)\"\(exp) is missing. "
                + "Hint: the checkpoint was written for a different model or stage."
        case let .shapeMismatch(file, name, expected, found):
            return "\(file): tensor \"\(name)\" has shape \(found), expected \(expected). "
                + "Hint: the checkpoint was written for a different model configuration."
        case let .dtypeMismatch(file, name, expected, found):
            return "\(file): tensor \"\(name)\" has dtype \(found.rawValue), expected \(expected.rawValue)."
        case let .unexpectedTensors(file, names):
            let shown = names.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ") + (names.count > 5 ? ", …" : "")
            return "\(file): \(names.count) unexpected tensor(s) \(shown). "
                + "Hint: the checkpoint was written for a different model."
        case let .format(e):
            return e.description
        case let .io(e):
            return e.description
        }
    }
}
