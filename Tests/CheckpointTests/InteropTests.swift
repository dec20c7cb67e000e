// Interop with the reference `safetensors` Python package, run only when AECNN_SAFETENSORS_PYTHON names a
// Python that can `import safetensors, numpy` (e.g. a venv). Otherwise skipped.

import Checkpoint
import Foundation
import TensorCore
import XCTest
import _TestSupport

final class InteropTests: XCTestCase {
    private func python() throws -> String {
        guard let py = ProcessInfo.processInfo.environment["AECNN_SAFETENSORS_PYTHON"], !py.isEmpty else {
            throw XCTSkip("set AECNN_SAFETENSORS_PYTHON to a python with safetensors and numpy to run")
        }
        return py
    }

    private func run(_ py: String, _ script: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw XCTSkip("python failed: \(text)") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testNumpyReadsOurFileAndWeReadNumpys() throws {
        let py = try python()
        let dir = makeTemporaryDirectory("interop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ours = dir.appendingPathComponent("ours.safetensors")
        try SafeTensors(tensors: [
            NamedTensor("w", Tensor(shape: [2, 3], values: [1, 2, 3, -4, 0.5, -0.0])),
            NamedTensor("s", Tensor(shape: [], values: [7.25])),
            NamedTensor("e", Tensor(zeros: [0, 4])),
            NamedTensor("i64", .vector([Int64.min, 5])),
            NamedTensor("u64", .vector([UInt64.max, 1])),
            NamedTensor("i32", .i32([-1, 2, 3, 4], shape: [2, 2])),
            NamedTensor("u8", .vector([UInt8(0), 255])),
        ], metadata: ["who": "aecnn"]).write(to: ours)
        let summary = try run(py, """
        from safetensors.numpy import load_file
        from safetensors import safe_open
        d = load_file(\(JSONString(ours.path)))
        with safe_open(\(JSONString(ours.path)), "np") as f: meta = f.metadata()
        print(";".join(f"{k}:{d[k].dtype}:{list(d[k].shape)}:{d[k].ravel().tolist()}" for k in sorted(d)), meta["who"])
        """)
        XCTAssertEqual(summary, "e:float32:[0, 4]:[];i32:int32:[2, 2]:[-1, 2, 3, 4];i64:int64:[2]:[-9223372036854775808, 5];"
            + "s:float32:[]:[7.25];u64:uint64:[2]:[18446744073709551615, 1];u8:uint8:[2]:[0, 255];"
            + "w:float32:[2, 3]:[1.0, 2.0, 3.0, -4.0, 0.5, -0.0] aecnn")

        let theirs = dir.appendingPathComponent("theirs.safetensors")
        _ = try run(py, """
        import numpy as np
        from safetensors.numpy import save_file
        save_file({"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([3, -9], dtype=np.int64),
                   "c": np.array(1.5, dtype=np.float32), "z": np.zeros((0,), dtype=np.uint8)},
                  \(JSONString(theirs.path)), metadata={"k": "v"})
        """)
        let st = try SafeTensors.read(from: theirs)
        XCTAssertEqual(Set(st.names), ["a", "b", "c", "z"])
        XCTAssertEqual(try st.tensor("b").array, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try st.tensor("b").shape, [2, 3])
        XCTAssertEqual(try st.tensor("c").shape, [])
        XCTAssertEqual(st["a"], .vector([Int64(3), -9]))
        XCTAssertEqual(st["z"], .u8([], shape: [0]))
        XCTAssertEqual(st.metadata, ["k": "v"])
    }

    private func JSONString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
