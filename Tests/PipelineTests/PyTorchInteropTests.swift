// scripts/torch_to_aecnn.py and scripts/aecnn_to_torch.py against a real PyTorch: a randomly initialised
// CIFAR-style ResNet-20 (random batch-norm statistics, int64 num_batches_tracked counters) saved by PyTorch,
// converted, loaded by aecnn, gives PyTorch's logits; converted back, PyTorch gives them again. Runs when a
// Python with torch and numpy is found (AECNN_PYTHON, else python3 on PATH); skipped otherwise, saying why.

import XCTest
import Foundation
import TensorCore
import Autograd
import Models
import Checkpoint
import _TestSupport

final class PyTorchInteropTests: XCTestCase {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts")

    func python() throws -> URL {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["AECNN_PYTHON"], "/usr/bin/python3", "/usr/local/bin/python3"].compactMap { $0 }
            + (env["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
            let url = URL(fileURLWithPath: c)
            if let r = try? runProcess(url, ["-c", "import torch, numpy"]), r.status == 0 { return url }
        }
        throw XCTSkip("no Python with torch and numpy (tried AECNN_PYTHON, python3 on PATH); install torch or set AECNN_PYTHON to run this test")
    }

    func testStateDictRoundTripsThroughAecnn() throws {
        let py = try python()
        let dir = makeTemporaryDirectory("torch-interop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let make = """
        import sys, torch, numpy as np
        sys.path.insert(0, sys.argv[1])
        from aecnn_torch import make_resnet, write_safetensors
        torch.manual_seed(0)
        m = make_resnet(3, (16, 32, 64), 1, 10, "layer")
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.2); mod.running_var.uniform_(0.5, 2.0)
                mod.weight.data.uniform_(0.5, 1.5); mod.bias.data.normal_(0, 0.1)
                mod.num_batches_tracked.fill_(1234)
        m.eval()
        torch.save(m.state_dict(), sys.argv[2] + "/torch.pt")
        x = torch.randn(3, 1, 28, 28)
        with torch.no_grad():
            y = m(x)
        write_safetensors(sys.argv[2] + "/io.safetensors", {"x": x.numpy(), "y": y.numpy()})
        """
        let r1 = try runProcess(py, ["-c", make, Self.scripts.path, dir.path])
        XCTAssertEqual(r1.status, 0, r1.err)
        let aecnnFile = dir.appendingPathComponent("aecnn.safetensors")
        let r2 = try runProcess(py, [Self.scripts.appendingPathComponent("torch_to_aecnn.py").path,
                                     dir.appendingPathComponent("torch.pt").path, aecnnFile.path])
        XCTAssertEqual(r2.status, 0, r2.err)

        let io = try SafeTensors.read(from: dir.appendingPathComponent("io.safetensors"))
        let x = try io.tensor("x"), expected = try io.tensor("y")
        let model = ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 1)
        var weights: [String: Tensor] = [:]
        for t in try SafeTensors.read(from: aecnnFile).tensors { if case .f32(let v) = t.payload { weights[t.name] = v } }
        try model.loadState(weights)
        model.setTraining(false)
        let y = GradMode.withoutGrad { model(Variable(x)).value }
        XCTAssertLessThan(closeness(y, expected), 1, "aecnn's logits against PyTorch's")

        // Back to PyTorch (stages named `stage`): the same logits.
        let back = """
        import sys, torch
        sys.path.insert(0, sys.argv[1])
        from aecnn_to_torch import load
        from aecnn_torch import read_safetensors
        m = load(sys.argv[2] + "/aecnn.safetensors")
        io, _ = read_safetensors(sys.argv[2] + "/io.safetensors")
        with torch.no_grad():
            y = m(torch.from_numpy(io["x"])).numpy()
        err = abs(y - io["y"]).max()
        print(err)
        sys.exit(0 if err < 1e-4 else 1)
        """
        let r3 = try runProcess(py, ["-c", back, Self.scripts.path, dir.path])
        XCTAssertEqual(r3.status, 0, r3.out + r3.err)
    }
}
