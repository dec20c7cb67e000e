// BottleNet++ on tiny generated data: the channel models behave as specified (erasure statistics, AWGN
// spread, straight-through gradient), the stage trains in its two phases and reports accuracy at fixed
// conditions, and an interrupted run (in either phase) resumes to the same bytes as an uninterrupted one.

import XCTest
import Foundation
import TensorCore
import Autograd
import Methods
import Checkpoint
import Pipeline
import PipelineSpec
import _TestSupport

final class BottleNetPPTests: XCTestCase {
    func testErasureChannelStatistics() {
        var rng = RNG(seed: 5)
        let t = Tensor(zeros: [1, 2, 30, 30])
        for i in 0..<t.count { t.buffer[i] = rng.uniform() }
        // No erasures: exactly the 8-bit quantisation.
        let clean = BottleNetPPBridge.erase(t, probability: 0, rng: &rng)
        for i in 0..<t.count { XCTAssertEqual(clean[i], (t[i] * 255).rounded() / 255) }
        // Every bit erased: every bit at half its weight, 127.5/255.
        let gone = BottleNetPPBridge.erase(t, probability: 1, rng: &rng)
        for i in 0..<t.count { XCTAssertEqual(gone[i], 0.5, accuracy: 1e-6) }
        // p = 0.25: a quarter of the bits erased, so |error| per value averages 0.25 · Σ_b 2^b/2 / 255 · (share of bits that differ from half).
        let p: Float = 0.25
        var changed = 0, bits = 0
        let some = BottleNetPPBridge.erase(t, probability: p, rng: &rng)
        for i in 0..<t.count where some[i] != clean[i] { changed += 1 }
        bits = t.count
        // A value changes unless none of its 8 bits is erased: 1 − 0.75^8 ≈ 0.9.
        XCTAssertEqual(Double(changed) / Double(bits), 1 - pow(0.75, 8), accuracy: 0.03)
    }

    func testAWGNSpreadAndStraightThroughGradient() {
        let bridge = BottleNetPPBridge(channels: 4, reduced: 2, spatialShrink: false, channel: .awgn, trainingMax: 0.3, seed: 1)
        let z = Variable(Tensor(zeros: [2, 2, 20, 20]), requiresGrad: true)
        z.value.fill(0.5)
        var rng = RNG(seed: 9)
        let y = bridge.transmit(z, condition: 0.2, rng: &rng)
        let d = (0..<y.value.count).map { Double(y.value[$0] - 0.5) }
        let mean = d.reduce(0, +) / Double(d.count)
        let sd = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d.count)).squareRoot()
        XCTAssertEqual(sd, 0.2, accuracy: 0.015)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        sum(y).backward()
        XCTAssertTrue(z.grad!.array.allSatisfy { $0 == 1 })

        let bec = BottleNetPPBridge(channels: 4, reduced: 2, spatialShrink: true, channel: .bec, trainingMax: 0.3, seed: 1)
        let z2 = Variable(Tensor(zeros: [1, 2, 4, 4]), requiresGrad: true)
        sum(bec.transmit(z2, condition: 0.5, rng: &rng)).backward()
        XCTAssertTrue(z2.grad!.array.allSatisfy { $0 == 1 }, "straight-through")
        // Spatial shrink halves H and W; the decoder restores them.
        bec.setTraining(false)
        let x = Variable(Tensor(zeros: [3, 4, 8, 6]))
        XCTAssertEqual(bec.encode(x, condition: 0).shape, [3, 2, 4, 3])
        XCTAssertEqual(bec(x).shape, [3, 4, 8, 6])
    }

    func testStageTrainsInPhasesReportsConditionsAndResumesBitIdentically() throws {
        let root = makeTemporaryDirectory("bottlenetpp")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
        let extra = """
          train-bottlenetpp: {epochs: 2, batch_size: 16, optimizer: {kind: adam, lr: 0.001}}
        splits: [stem]
        ratios: [4]
        baselines:
          bottlenetpp: {channels: [awgn, bec], awgn_max: 0.2, bec_max: 0.1, test: {awgn: [0.1], bec: [0.05]}, frozen_epochs: 2}
        """
        func context(_ name: String) throws -> RunContext {
            let yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 1, extra: extra)
            return RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "\(name).yaml"),
                              checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        }
        let straight = try context("straight")
        let instances = TrainBottleNetPPStage.instances(straight.spec)
        XCTAssertEqual(instances.map(\.description), ["train-bottlenetpp stem V=4 awgn", "train-bottlenetpp stem V=4 bec"])
        try StageRunner.run(StageInstance("train-base"), straight)
        let bec = StageInstance("train-bottlenetpp", split: "stem", ratio: 4, variant: .channel(.bec))
        try StageRunner.run(bec, straight)
        let r = try XCTUnwrap(StageRunner.result(bec, straight))
        let conditions = try XCTUnwrap(r["accuracy_at_conditions"] as? [[String: Any]])
        XCTAssertEqual(conditions.map { $0["condition"] as! Double }, [0, 0.05])
        XCTAssertNotNil(r["frozen_phase_test_accuracy"])
        XCTAssertEqual(r["reduced_channels"] as? Int, 1)   // quarter-width ResNet-20: 4 channels at the stem, V = 4
        XCTAssertEqual(r["bit_compression_8bit"] as! Double, 16, accuracy: 1e-9)
        let dir = StageRunner.directory(bec, straight)
        let reference = try SHA256.hexDigest(ofFile: dir.appendingPathComponent("model.safetensors"))

        // Interrupted in phase 2 and again in phase 3 (3 steps per epoch, epoch checkpoints), then resumed.
        let killed = try context("killed")
        try StageRunner.run(StageInstance("train-base"), killed)
        let k = StageInstance("train-bottlenetpp", split: "stem", ratio: 4, variant: .channel(.bec))
        XCTAssertThrowsError(try StageRunner.run(k, killed, options: StageOptions(stopAfterSteps: 4))) { XCTAssertTrue($0 is Trainer.Interrupted) }
        XCTAssertThrowsError(try StageRunner.run(k, killed, options: StageOptions(stopAfterSteps: 4))) { XCTAssertTrue($0 is Trainer.Interrupted) }
        try StageRunner.run(k, killed)
        XCTAssertEqual(try SHA256.hexDigest(ofFile: StageRunner.directory(k, killed).appendingPathComponent("model.safetensors")), reference)
        XCTAssertEqual((StageRunner.result(k, killed)!["accuracy_at_conditions"] as! [[String: Any]]).map { $0["accuracy"] as! Double },
                       conditions.map { $0["accuracy"] as! Double })
    }
}
