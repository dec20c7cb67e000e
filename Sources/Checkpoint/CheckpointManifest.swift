// CheckpointManifest: the small JSON file written after a checkpoint's tensors, acting as its commit marker.
// It records the format version, what the checkpoint is (kind), who wrote it, the tensor file's name, byte
// length and SHA-256, and free-form string/number/bool metadata. It is written pretty-printed with keys sorted,
// so the same checkpoint always yields the same manifest bytes (no timestamps). Schema: docs/checkpoints.md.

import Foundation

/// A metadata value a manifest can hold.
public enum ManifestValue: Equatable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral {
    case string(String)
    case int(Int)
    /// Must be finite (JSON has no NaN or infinity).
    case double(Double)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int? { if case .int(let i) = self { return i } else { return nil } }
    /// The number as a Double (ints included).
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    /// The JSON text of the value.
    public var description: String {
        switch self {
        case .string(let s): return JSONWriter.quoted(s)
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? "\(d)" : "null"
        case .bool(let b): return b ? "true" : "false"
        }
    }
}

/// The manifest of a checkpoint bundle (`NAME.manifest.json`).
public struct CheckpointManifest: Equatable, Sendable {
    /// Value of the `format` field.
    public static let formatName = "aecnn-checkpoint"
    /// The version this build writes and the newest it reads.
    public static let currentVersion = 1

    public var formatVersion: Int
    /// What the checkpoint holds, e.g. "model-weights", "train-state".
    public var kind: String
    /// Program and version that wrote it.
    public var createdBy: String
    /// File name (same directory) of the safetensors file.
    public var tensorFile: String
    /// Length of the safetensors file in bytes.
    public var byteLength: Int
    /// Lower-case hex SHA-256 of the safetensors file.
    public var sha256: String
    /// Number of tensors in the safetensors file.
    public var tensorCount: Int
    /// Free-form metadata (epoch, loss, settings hash...).
    public var metadata: [String: ManifestValue]

    public init(formatVersion: Int = CheckpointManifest.currentVersion, kind: String, createdBy: String,
                tensorFile: String, byteLength: Int, sha256: String, tensorCount: Int,
                metadata: [String: ManifestValue] = [:]) {
        self.formatVersion = formatVersion
        self.kind = kind
        self.createdBy = createdBy
        self.tensorFile = tensorFile
        self.byteLength = byteLength
        self.sha256 = sha256
        self.tensorCount = tensorCount
        self.metadata = metadata
    }

    /// Pretty-printed JSON with sorted keys and a final newline.
    /// - Throws: `CheckpointError.invalidMetadata` for a non-finite double.
    public func encode() throws -> [UInt8] {
        for (k, v) in metadata {
            if case .double(let d) = v, !d.isFinite {
                throw CheckpointError.invalidMetadata(key: k, reason: "\(d) is not a finite number (JSON has no NaN/inf)")
            }
        }
        let meta = metadata.isEmpty ? "{}" : "{\n" + metadata.keys.sorted()
            .map { "    \(JSONWriter.quoted($0)): \(metadata[$0]!)" }.joined(separator: ",\n") + "\n  }"
        let fields: [(String, String)] = [
            ("byte_length", String(byteLength)),
            ("created_by", JSONWriter.quoted(createdBy)),
            ("format", JSONWriter.quoted(CheckpointManifest.formatName)),
            ("format_version", String(formatVersion)),
            ("kind", JSONWriter.quoted(kind)),
            ("metadata", meta),
            ("sha256", JSONWriter.quoted(sha256)),
            ("tensor_count", String(tensorCount)),
            ("tensor_file", JSONWriter.quoted(tensorFile)),
        ]
        let body = fields.map { "  \(JSONWriter.quoted($0.0)): \($0.1)" }.joined(separator: ",\n")
        return Array(("{\n" + body + "\n}\n").utf8)
    }

    /// Parse and validate a manifest. Unknown fields are ignored.
    /// - Parameter path: used in error messages.
    /// - Throws: `CheckpointError.invalidManifest` or `.unsupportedVersion`.
    public static func decode(_ bytes: [UInt8], path: String) throws -> CheckpointManifest {
        func bad(_ reason: String) -> CheckpointError { .invalidManifest(path: path, reason: reason) }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch let e as JSONParseError { throw bad(e.description) }
        guard json.objectMembers != nil else { throw bad("not a JSON object") }
        guard json["format"]?.stringValue == formatName else { throw bad("\"format\" is not \"\(formatName)\"") }
        guard let version = json["format_version"]?.intValue else { throw bad("missing integer \"format_version\"") }
        guard version <= currentVersion else {
            throw CheckpointError.unsupportedVersion(path: path, version: version, supported: currentVersion)
        }
        func string(_ key: String) throws -> String {
            guard let s = json[key]?.stringValue else { throw bad("missing string \"\(key)\"") }
            return s
        }
        func count(_ key: String) throws -> Int {
            guard let n = json[key]?.intValue, n >= 0 else { throw bad("missing non-negative integer \"\(key)\"") }
            return n
        }
        let tensorFile = try string("tensor_file")
        guard !tensorFile.isEmpty, !tensorFile.contains("/"), tensorFile != ".", tensorFile != ".." else {
            throw bad("\"tensor_file\" must be a file name in the manifest's directory")
        }
        let sha = try string("sha256")
        guard sha.utf8.count == 64, sha.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw bad("\"sha256\" must be 64 lower-case hex digits")
        }
        var metadata: [String: ManifestValue] = [:]
        if let m = json["metadata"] {
            guard let members = m.objectMembers else { throw bad("\"metadata\" is not an object") }
            for (k, v) in members {
                let value: ManifestValue
                switch v {
                case .string(let s): value = .string(s)
                case .bool(let b): value = .bool(b)
                case .number:
                    if let i = v.intValue { value = .int(i) } else if let d = v.doubleValue, d.isFinite { value = .double(d) } else {
                        throw bad("metadata \"\(k)\" is not a representable number")
                    }
                default: throw bad("metadata \"\(k)\" must be a string, number or boolean")
                }
                metadata[k] = value
            }
        }
        return CheckpointManifest(formatVersion: version, kind: try string("kind"), createdBy: try string("created_by"),
                                  tensorFile: tensorFile, byteLength: try count("byte_length"), sha256: sha,
                                  tensorCount: try count("tensor_count"), metadata: metadata)
    }
}
