// Checkpoint bundles: save/load, the manifest schema, verification failures, and shape-checked loading.

import Checkpoint
import Foundation
import TensorCore
import XCTest
import _TestSupport

final class CheckpointStoreTests: XCTestCase {
    var dir: URL!
    var store: CheckpointStore!
    override func setUp() {
        dir = makeTemporaryDirectory("ckpt")
        store = CheckpointStore(directory: dir.appendingPathComponent("checkpoints"), createdBy: "aecnn-test 1.0")
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    private func weights(seed: UInt64 = 1) -> [NamedTensor] {
        var rng = RNG(seed: seed)
        return [
            NamedTensor("fc.weight", Tensor.randomNormal([3, 5], std: 1, rng: &rng)),
            NamedTensor("fc.bias", Tensor.randomNormal([3], std: 1, rng: &rng)),
            NamedTensor("step", .vector([Int64(12)])),
        ]
    }

    private func assertCheckpointError(_ body: @autoclosure () throws -> Any, file: StaticString = #filePath,
                                       line: UInt = #line, _ check: (CheckpointError) -> Bool) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? CheckpointError else { return XCTFail("not a CheckpointError: \(error)", file: file, line: line) }
            XCTAssertTrue(check(e), "unexpected: \(e)", file: file, line: line)
        }
    }

    func testSaveLoadRoundTripAndManifest() throws {
        let meta: [String: ManifestValue] = ["epoch": 3, "lr": 0.05, "stage": "train-attention", "final": true, "neg": -7]
        let m = try store.save("model", kind: "model-weights", tensors: weights(), metadata: meta, fileMetadata: ["format": "pt"])
        let tensorURL = store.tensorFileURL(for: "model")
        XCTAssertEqual(m.byteLength, try Data(contentsOf: tensorURL).count)
        XCTAssertEqual(m.sha256, try SHA256.hexDigest(ofFile: tensorURL))
        XCTAssertEqual(m.tensorFile, "model.safetensors")
        XCTAssertEqual(m.tensorCount, 3)
        XCTAssertEqual(m.createdBy, "aecnn-test 1.0")
        XCTAssertEqual(try store.manifest("model"), m)
        XCTAssertTrue(store.exists("model"))
        XCTAssertFalse(store.exists("other"))
        XCTAssertEqual(try store.names(), ["model"])

        let loaded = try store.load("model")
        XCTAssertEqual(loaded.manifest, m)
        XCTAssertEqual(loaded.manifest.metadata, meta)
        XCTAssertEqual(loaded.contents.tensors, weights())
        XCTAssertEqual(loaded.contents.metadata, ["format": "pt"])
        guard case .f32(let expected) = weights()[0].payload else { return XCTFail("fixture") }
        XCTAssertTrue(try loaded.tensor("fc.weight").bitwiseEqual(expected))
        let listing = try FileManager.default.contentsOfDirectory(atPath: store.directory.path).sorted()
        XCTAssertEqual(listing, ["model.manifest.json", "model.safetensors"])
    }

    func testManifestTextIsDeterministicAndDocumented() throws {
        let m = CheckpointManifest(kind: "train-state", createdBy: "aecnn 0.1", tensorFile: "x.safetensors",
                                   byteLength: 96, sha256: String(repeating: "ab", count: 32), tensorCount: 2,
                                   metadata: ["epoch": 2, "loss": 0.5, "name": "r\"n"])
        let text = String(decoding: try m.encode(), as: UTF8.self)
        XCTAssertEqual(text, """
        {
          "byte_length": 96,
          "created_by": "aecnn 0.1",
          "format": "aecnn-checkpoint",
          "format_version": 1,
          "kind": "train-state",
          "metadata": {
            "epoch": 2,
            "loss": 0.5,
            "name": "r\\"n"
          },
          "sha256": "\(String(repeating: "ab", count: 32))",
          "tensor_count": 2,
          "tensor_file": "x.safetensors"
        }

        """)
        XCTAssertEqual(try CheckpointManifest.decode(try m.encode(), path: "m"), m)
        let empty = CheckpointManifest(kind: "k", createdBy: "c", tensorFile: "f", byteLength: 0,
                                       sha256: String(repeating: "0", count: 64), tensorCount: 0)
        XCTAssertEqual(try CheckpointManifest.decode(try empty.encode(), path: "m"), empty)
        let big = CheckpointManifest(kind: "k", createdBy: "c", tensorFile: "f", byteLength: 1, sha256: String(repeating: "0", count: 64),
                                     tensorCount: 0, metadata: ["tiny": 1e-300, "huge": 1.5e300, "whole": 2.0, "max": .int(Int.max)])
        XCTAssertEqual(try CheckpointManifest.decode(try big.encode(), path: "m"), big)
    }

    func testOverwriteReplacesAndRemoveDeletes() throws {
        try store.save("c", kind: "k", tensors: weights(seed: 1))
        try store.save("c", kind: "k", tensors: weights(seed: 2), metadata: ["v": 2])
        let loaded = try store.load("c")
        XCTAssertEqual(loaded.contents.tensors, weights(seed: 2))
        XCTAssertEqual(loaded.manifest.metadata["v"], 2)
        try store.remove("c")
        try store.remove("c")
        XCTAssertFalse(store.exists("c"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.directory.path), [])
    }

    func testShaMismatchIsCorrupt() throws {
        try store.save("m", kind: "k", tensors: weights())
        let url = store.tensorFileURL(for: "m")
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[bytes.count - 1] ^= 0x40  // same length, different content, still a valid safetensors file
        try Data(bytes).write(to: url)
        XCTAssertNoThrow(try SafeTensors.read(from: url))
        assertCheckpointError(try store.load("m")) {
            guard case .corrupt(let path, let reason) = $0 else { return false }
            return path == url.path && reason.contains("sha256 mismatch")
                && $0.description.contains("is corrupt") && $0.description.contains("delete it and rerun the stage")
                && $0.description.contains(url.path)
        }
        assertCheckpointError(try store.verify("m")) { if case .corrupt = $0 { return true } else { return false } }
    }

    func testLengthMismatchIsCorrupt() throws {
        try store.save("m", kind: "k", tensors: weights())
        let url = store.tensorFileURL(for: "m")
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - 4).write(to: url)
        assertCheckpointError(try store.load("m")) {
            guard case .corrupt(_, let reason) = $0 else { return false }
            return reason.contains("length")
        }
    }

    func testMissingCheckpointNamesThePath() throws {
        assertCheckpointError(try store.load("nothing")) {
            guard case .missing(name: "nothing", let manifest) = $0 else { return false }
            return manifest == self.store.manifestURL(for: "nothing").path && $0.description.contains(manifest)
        }
        try store.save("m", kind: "k", tensors: weights())
        try FileManager.default.removeItem(at: store.tensorFileURL(for: "m"))
        assertCheckpointError(try store.load("m")) {
            guard case .missingTensorFile(_, let tensorFile) = $0 else { return false }
            return tensorFile == self.store.tensorFileURL(for: "m").path
        }
    }

    func testTensorFileWithoutManifestIsNotACheckpoint() throws {
        try store.save("m", kind: "k", tensors: weights())
        try FileManager.default.removeItem(at: store.manifestURL(for: "m"))  // as if the save died before committing
        XCTAssertFalse(store.exists("m"))
        XCTAssertEqual(try store.names(), [])
        assertCheckpointError(try store.load("m")) { if case .missing = $0 { return true } else { return false } }
    }

    func testInvalidManifests() throws {
        try store.save("m", kind: "k", tensors: weights())
        let url = store.manifestURL(for: "m")
        let good = try String(contentsOf: url, encoding: .utf8)
        func invalid(_ text: String, line: UInt = #line) throws {
            try Data(text.utf8).write(to: url)
            assertCheckpointError(try store.load("m"), line: line) {
                if case .invalidManifest(let path, _) = $0 { return path == url.path } else { return false }
            }
        }
        try invalid("")
        try invalid("{not json")
        try invalid("[]")
        try invalid(good.replacingOccurrences(of: "aecnn-checkpoint", with: "other"))
        try invalid(good.replacingOccurrences(of: "\"kind\"", with: "\"kinds\""))
        try invalid(good.replacingOccurrences(of: "\"m.safetensors\"", with: "\"../m.safetensors\""))
        try invalid(good.replacingOccurrences(of: "\"sha256\": \"", with: "\"sha256\": \"zz"))
        try invalid(good.replacingOccurrences(of: "\"byte_length\": ", with: "\"byte_length\": -"))
        try invalid(good.replacingOccurrences(of: "\"metadata\": {}", with: "\"metadata\": {\"a\": [1]}"))
        try Data(good.replacingOccurrences(of: "\"format_version\": 1", with: "\"format_version\": 99").utf8).write(to: url)
        assertCheckpointError(try store.load("m")) { $0 == .unsupportedVersion(path: url.path, version: 99, supported: 1) }
        try Data(good.utf8).write(to: url)
        XCTAssertNoThrow(try store.load("m"))
    }

    func testInvalidNamesAndMetadata() {
        for bad in ["", "a/b", "../x", ".hidden", "nul\0l"] {
            assertCheckpointError(try store.save(bad, kind: "k", tensors: [])) { $0 == .invalidName(bad) }
            assertCheckpointError(try store.load(bad)) { $0 == .invalidName(bad) }
        }
        assertCheckpointError(try store.save("m", kind: "k", tensors: [], metadata: ["loss": .double(.nan)])) {
            if case .invalidMetadata(key: "loss", _) = $0 { return true } else { return false }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.directory.path), "nothing written on bad metadata")
        assertCheckpointError(try store.save("m", kind: "k", tensors: [NamedTensor("a", .i64([1], shape: [2]))])) {
            if case .format = $0 { return true } else { return false }
        }
    }

    func testSaveFailureWhenDirectoryIsAFile() throws {
        let blocker = dir.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let bad = CheckpointStore(directory: blocker)
        assertCheckpointError(try bad.save("m", kind: "k", tensors: weights())) {
            guard case .io(let e) = $0 else { return false }
            return e.code == ENOTDIR
        }
        XCTAssertEqual(try Data(contentsOf: blocker), Data("x".utf8))
    }

    // MARK: expected names and shapes

    func testLoadIntoMatchingParameters() throws {
        try store.save("w", kind: "model-weights", tensors: weights())
        let loaded = try store.load("w")
        let w = Tensor(zeros: [3, 5]), b = Tensor(zeros: [3])
        try loaded.load(into: [("fc.weight", w), ("fc.bias", b)], allowExtra: true)
        XCTAssertTrue(w.bitwiseEqual(try loaded.tensor("fc.weight")))
        XCTAssertTrue(b.bitwiseEqual(try loaded.tensor("fc.bias")))
        try loaded.check([TensorSpec("fc.weight", shape: [3, 5]), TensorSpec("fc.bias", shape: [3]),
                          TensorSpec("step", shape: [1], dtype: .i64)])
    }

    func testLoadIntoWrongModelIsAnErrorAndChangesNothing() throws {
        try store.save("w", kind: "model-weights", tensors: weights())
        let loaded = try store.load("w")
        let path = store.tensorFileURL(for: "w").path
        let w = Tensor(zeros: [3, 5]), b = Tensor(zeros: [4])
        assertCheckpointError(try loaded.load(into: [("fc.weight", w), ("fc.bias", b)], allowExtra: true)) {
            $0 == .shapeMismatch(file: path, name: "fc.bias", expected: [4], found: [3])
                && $0.description.contains("fc.bias") && $0.description.contains("[4]") && $0.description.contains("[3]")
        }
        XCTAssertEqual(w.array, [Float](repeating: 0, count: 15), "all or nothing: nothing was copied")
        assertCheckpointError(try loaded.load(into: [("conv.weight", Tensor(zeros: [2, 2]))], allowExtra: true)) {
            $0 == .missingTensor(file: path, name: "conv.weight", expectedShape: [2, 2]) && $0.description.contains("[2, 2]")
        }
        assertCheckpointError(try loaded.load(into: [("step", Tensor(zeros: [1]))], allowExtra: true)) {
            $0 == .dtypeMismatch(file: path, name: "step", expected: .f32, found: .i64)
        }
        assertCheckpointError(try loaded.load(into: [("fc.weight", w)])) {
            $0 == .unexpectedTensors(file: path, names: ["fc.bias", "step"])
        }
        assertCheckpointError(try loaded.tensor("missing")) {
            if case .missingTensor(_, "missing", nil) = $0 { return true } else { return false }
        }
    }
}
