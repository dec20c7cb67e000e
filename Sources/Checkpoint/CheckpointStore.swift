// CheckpointStore: named checkpoint bundles in one directory, each `NAME.safetensors` + `NAME.manifest.json`.
// Save writes the tensors first and the manifest last (each atomically), so a manifest exists only for a
// complete checkpoint; load verifies the manifest, the file length and the SHA-256 before parsing. It does not
// pick "the newest" checkpoint or manage retention: the Pipeline module decides which names to use.

import Foundation
import Glibc
import TensorCore

/// A loaded, verified checkpoint.
public struct LoadedCheckpoint: Sendable {
    public let name: String
    /// Path of the safetensors file (used in error messages).
    public let tensorFile: URL
    public let manifest: CheckpointManifest
    public let contents: SafeTensors

    /// The F32 tensor named `name`. - Throws: `CheckpointError`.
    public func tensor(_ name: String) throws -> Tensor { try contents.tensor(name, file: tensorFile.path) }

    /// See `SafeTensors.check(_:allowExtra:file:)`.
    public func check(_ expected: [TensorSpec], allowExtra: Bool = false) throws {
        try contents.check(expected, allowExtra: allowExtra, file: tensorFile.path)
    }

    /// See `SafeTensors.load(into:allowExtra:file:)`.
    public func load(into parameters: [(name: String, tensor: Tensor)], allowExtra: Bool = false) throws {
        try contents.load(into: parameters, allowExtra: allowExtra, file: tensorFile.path)
    }
}

/// The expected name, dtype and shape of one tensor.
public struct TensorSpec: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var dtype: DType

    public init(_ name: String, shape: [Int], dtype: DType = .f32) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
    }
}

extension SafeTensors {
    /// Check that every expected tensor is present with its dtype and shape, and (unless `allowExtra`) that
    /// there are no others. Loading weights of a different model is an error naming the first bad tensor.
    /// - Parameter file: the path to name in errors.
    /// - Throws: `CheckpointError.missingTensor`, `.dtypeMismatch`, `.shapeMismatch`, `.unexpectedTensors`.
    public func check(_ expected: [TensorSpec], allowExtra: Bool = false, file: String = "<memory>") throws {
        let byName = Dictionary(tensors.map { ($0.name, $0.payload) }, uniquingKeysWith: { a, _ in a })
        for spec in expected {
            guard let p = byName[spec.name] else {
                throw CheckpointError.missingTensor(file: file, name: spec.name, expectedShape: spec.shape)
            }
            guard p.dtype == spec.dtype else {
                throw CheckpointError.dtypeMismatch(file: file, name: spec.name, expected: spec.dtype, found: p.dtype)
            }
            guard p.shape == spec.shape else {
                throw CheckpointError.shapeMismatch(file: file, name: spec.name, expected: spec.shape, found: p.shape)
            }
        }
        if !allowExtra {
            let wanted = Set(expected.map(\.name))
            let extra = names.filter { !wanted.contains($0) }
            if !extra.isEmpty { throw CheckpointError.unexpectedTensors(file: file, names: extra) }
        }
    }

    /// Copy stored F32 tensors into existing tensors (e.g. a model's parameters), all or nothing: every name
    /// and shape is checked before the first copy.
    /// - Throws: as `check`; on error no parameter has been modified.
    public func load(into parameters: [(name: String, tensor: Tensor)], allowExtra: Bool = false,
                     file: String = "<memory>") throws {
        try check(parameters.map { TensorSpec($0.name, shape: $0.tensor.shape) }, allowExtra: allowExtra, file: file)
        for (name, target) in parameters {
            if case .f32(let t)? = self[name] { target.assign(t) }
        }
    }
}

/// Checkpoint bundles stored in one directory.
public struct CheckpointStore: Sendable {
    /// Directory holding the bundles (created on first save).
    public let directory: URL
    /// Written into each manifest's `created_by`, e.g. "aecnn 0.3".
    public var createdBy: String

    /// Largest manifest accepted on load.
    static let maxManifestBytes = 16 << 20

    public init(directory: URL, createdBy: String = "aecnn") {
        self.directory = directory
        self.createdBy = createdBy
    }

    /// `DIR/NAME.safetensors`.
    public func tensorFileURL(for name: String) -> URL { directory.appendingPathComponent(name + ".safetensors") }
    /// `DIR/NAME.manifest.json`.
    public func manifestURL(for name: String) -> URL { directory.appendingPathComponent(name + ".manifest.json") }

    /// Whether a complete checkpoint (its manifest) exists. Does not verify it.
    public func exists(_ name: String) -> Bool {
        guard (try? validate(name)) != nil else { return false }
        return FileManager.default.fileExists(atPath: manifestURL(for: name).path)
    }

    /// Names of the checkpoints that have a manifest, sorted.
    /// - Throws: `CheckpointError.io` if the directory exists but cannot be listed.
    public func names() throws -> [String] {
        let path = directory.path
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path)
                .filter { $0.hasSuffix(".manifest.json") && !$0.hasPrefix(".") }
                .map { String($0.dropLast(".manifest.json".count)) }
                .sorted()
        } catch {
            throw CheckpointError.io(FileIOError(path: path, operation: "list directory", detail: "\(error)"))
        }
    }

    /// Save tensors and metadata as checkpoint `name`, replacing any previous one of that name.
    ///
    /// Order: remove the old manifest (so a crash never leaves an old manifest describing new tensors), write
    /// `NAME.safetensors` atomically, then `NAME.manifest.json` atomically. The manifest is the commit marker.
    /// - Parameters:
    ///   - kind: what the checkpoint holds, e.g. "model-weights".
    ///   - tensors: stored in this order.
    ///   - metadata: free-form manifest metadata.
    ///   - fileMetadata: strings for the safetensors `__metadata__` (visible to other safetensors readers).
    /// - Returns: the manifest written.
    /// - Throws: `CheckpointError`.
    @discardableResult
    public func save(_ name: String, kind: String, tensors: [NamedTensor], metadata: [String: ManifestValue] = [:],
                     fileMetadata: [String: String] = [:]) throws -> CheckpointManifest {
        try validate(name)
        let tensorURL = tensorFileURL(for: name)
        let manifestURL = manifestURL(for: name)
        var manifest = CheckpointManifest(kind: kind, createdBy: createdBy, tensorFile: tensorURL.lastPathComponent,
                                          byteLength: 0, sha256: String(repeating: "0", count: 64),
                                          tensorCount: tensors.count, metadata: metadata)
        _ = try manifest.encode()  // reject bad metadata before touching any file
        do {
            if unlink(manifestURL.path) == 0 {
                try FileIO.fsyncDirectory(directory.path)
            } else if errno != ENOENT && errno != ENOTDIR {  // nothing to remove; the write below reports ENOTDIR
                throw FileIOError(path: manifestURL.path, operation: "remove old manifest", code: errno)
            }
            let written = try SafeTensors(tensors: tensors, metadata: fileMetadata).write(to: tensorURL)
            manifest.byteLength = written.byteCount
            manifest.sha256 = written.sha256
            try AtomicFile.write(try manifest.encode(), to: manifestURL)
        } catch let e as FileIOError {
            throw CheckpointError.io(e)
        } catch let e as SafeTensorsError {
            throw CheckpointError.format(e)
        }
        return manifest
    }

    /// Read and validate the manifest of checkpoint `name` (the tensor file is not checked).
    /// - Throws: `CheckpointError.missing`, `.invalidManifest`, `.unsupportedVersion`, `.io`.
    public func manifest(_ name: String) throws -> CheckpointManifest {
        try validate(name)
        let url = manifestURL(for: name)
        let path = url.path
        do {
            let fd: Int32
            do {
                fd = try FileIO.open(path, O_RDONLY)
            } catch let e as FileIOError where e.code == ENOENT {
                throw CheckpointError.missing(name: name, manifest: path)
            }
            defer { close(fd) }
            let size = try FileIO.size(fd, path: path)
            guard size <= CheckpointStore.maxManifestBytes else {
                throw CheckpointError.invalidManifest(path: path, reason: "\(size) bytes is too large for a manifest")
            }
            let bytes = try [UInt8](unsafeUninitializedCapacity: size) { buf, n in
                if size > 0 { try FileIO.preadExactly(fd, into: buf.baseAddress!, count: size, offset: 0, path: path) }
                n = size
            }
            return try CheckpointManifest.decode(bytes, path: path)
        } catch let e as FileIOError {
            throw CheckpointError.io(e)
        }
    }

    /// Verify checkpoint `name` without parsing its tensors: manifest valid, tensor file present, length and
    /// SHA-256 equal to the manifest's (the file is hashed in chunks, never held in memory).
    /// - Returns: the manifest.
    /// - Throws: `CheckpointError` (`.corrupt` names the file and says to delete it and rerun the stage).
    @discardableResult
    public func verify(_ name: String) throws -> CheckpointManifest {
        let manifest = try manifest(name)
        let url = directory.appendingPathComponent(manifest.tensorFile)
        let path = url.path
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT {
                throw CheckpointError.missingTensorFile(manifest: manifestURL(for: name).path, tensorFile: path)
            }
            throw CheckpointError.io(FileIOError(path: path, operation: "stat", code: errno))
        }
        guard Int(st.st_size) == manifest.byteLength else {
            throw CheckpointError.corrupt(path: path,
                                          reason: "length \(st.st_size) bytes, manifest says \(manifest.byteLength)")
        }
        let sha: String
        do { sha = try SHA256.hexDigest(ofFile: url) } catch let e as FileIOError { throw CheckpointError.io(e) }
        guard sha == manifest.sha256 else {
            throw CheckpointError.corrupt(path: path, reason: "sha256 mismatch: file \(sha), manifest \(manifest.sha256)")
        }
        return manifest
    }

    /// Verify (see `verify`) and load checkpoint `name`.
    /// - Throws: `CheckpointError`.
    public func load(_ name: String) throws -> LoadedCheckpoint {
        let manifest = try verify(name)
        let url = directory.appendingPathComponent(manifest.tensorFile)
        let contents: SafeTensors
        do { contents = try SafeTensors.read(from: url) } catch let e as SafeTensorsError { throw CheckpointError.format(e) }
        guard contents.tensors.count == manifest.tensorCount else {
            throw CheckpointError.corrupt(path: url.path, reason: "\(contents.tensors.count) tensors, manifest says \(manifest.tensorCount)")
        }
        return LoadedCheckpoint(name: name, tensorFile: url, manifest: manifest, contents: contents)
    }

    /// Remove checkpoint `name`: manifest first (so it stops counting as complete), then the tensor file.
    /// Removing a checkpoint that does not exist is not an error.
    /// - Throws: `CheckpointError.io`.
    public func remove(_ name: String) throws {
        try validate(name)
        for url in [manifestURL(for: name), tensorFileURL(for: name)] where unlink(url.path) != 0 && errno != ENOENT {
            throw CheckpointError.io(FileIOError(path: url.path, operation: "remove", code: errno))
        }
    }

    private func validate(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 200, !name.contains("/"), !name.contains("\0"), !name.hasPrefix(".") else {
            throw CheckpointError.invalidName(name)
        }
    }
}
