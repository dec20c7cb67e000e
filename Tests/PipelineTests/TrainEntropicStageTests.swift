// train-entropic on tiny generated data: one instance per split × V × λ, folders named by λ's spelling,
// test accuracy through the real coder with per-image predictions, coded bytes near the model's estimate,
// and the coding tables saved with the weights.

import XCTest
import Foundation
import TensorCore
import Checkpoint
import Methods
@testable import Pipeline
import PipelineSpec
import _TestSupport

final class TrainEntropicStageTests: XCTestCase {
    func testInstancesVariantsAndCodedResults() throws {
        let root = makeTemporaryDirectory("entropic")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
        let extra = """
          train-entropic: {epochs: 1, batch_size: 16, optimizer: {kind: adam, lr: 0.001}}
        splits: [stem]
        ratios: [2]
        baselines:
          entropic: {lambdas: [0.001, 1e-05], stride: 2}
        """
        let yaml = TinyDataset.pipelineYAML(name: "ent", dataDirectory: data, epochs: 1, extra: extra)
        let spec = try PipelineSpec.parse(yaml: yaml, fileName: "ent.yaml")
        XCTAssertEqual(spec.baselines?.entropic, EntropicSettings(lambdas: [0.001, 1e-05], stride: 2))
        let instances = TrainEntropicStage.instances(spec)
        XCTAssertEqual(instances.map { $0.variant?.description }, ["lambda0.001", "lambda1e-05"])
        for i in instances {
            XCTAssertTrue(i.variant!.isPathSafe)
            XCTAssertEqual(StageVariant(i.variant!.description), i.variant)
        }
        XCTAssertNil(StageVariant("lambda0.0010"), "one spelling per λ")
        XCTAssertNil(StageVariant("lambda-1.0"))
        XCTAssertThrowsError(try PipelineSpec.parse(yaml: yaml.replacingOccurrences(of: "1e-05]", with: "0]"), fileName: "ent.yaml"))
        // `splits` runs it at a subset of the pipeline's splits; a split the pipeline lacks is refused by name.
        let two = yaml.replacingOccurrences(of: "splits: [stem]", with: "splits: [stem, block3]")
        let only = try PipelineSpec.parse(yaml: two.replacingOccurrences(of: "stride: 2}", with: "stride: 2, splits: [block3]}"), fileName: "ent.yaml")
        XCTAssertEqual(Set(TrainEntropicStage.instances(only).compactMap(\.split)), ["block3"])
        XCTAssertEqual(Set(TrainEntropicStage.instances(try PipelineSpec.parse(yaml: two, fileName: "ent.yaml")).compactMap(\.split)), ["stem", "block3"])
        XCTAssertThrowsError(try PipelineSpec.parse(yaml: yaml.replacingOccurrences(of: "stride: 2}", with: "stride: 2, splits: [block9]}"), fileName: "ent.yaml")) {
            XCTAssertTrue("\($0)".contains("'block9' is not one of the pipeline's splits"), "\($0)")
        }

        let ctx = RunContext(spec: spec, checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        let target = instances[0]
        try StageRunner.runWithUpstream([target], ctx)
        let out = try XCTUnwrap(TrainEntropicStage.output(target, ctx))
        XCTAssertEqual(out.fields.lambda, 0.001)
        XCTAssertEqual(out.training.testImages, 24)
        XCTAssertEqual(out.training.predictions?.count, 24)
        XCTAssertEqual(Double(24 - (out.training.predictions?.wrong.count ?? 0)) / 24, out.training.testAccuracy, accuracy: 1e-12)
        XCTAssertEqual(out.fields.latentShape, [2, 4, 4], "K = C/V = 4/2 latents at stride 2")
        XCTAssertGreaterThan(out.fields.bytesPerImage, 0)
        // Coded bytes near the estimate (a few bytes of coder termination per image on top).
        XCTAssertLessThan(abs(out.fields.bytesPerImage * 8 - out.fields.estimatedBitsPerImage), 0.1 * out.fields.estimatedBitsPerImage + 40)
        // The tables are in the saved model.
        let dir = StageRunner.directory(target, ctx)
        XCTAssertTrue(dir.path.hasSuffix("train-entropic/stem/2/lambda0.001"), dir.path)
        let (m, bridge) = try TrainEntropicStage.model(ctx, target)
        let loaded = try CheckpointStore(directory: dir).load("model")
        var tensors: [String: Tensor] = [:]
        for t in loaded.contents.tensors { if case .f32(let x) = t.payload { tensors[t.name] = x } }
        try m.loadState(tensors)
        XCTAssertEqual(try bridge.prior.tables().count, 2)
        // The report's row: the stage's accuracy, predictions and real bytes, on the one rate axis.
        let report = try ReportGathering.gather(ctx, referencesCache: nil)
        let row = try XCTUnwrap(report.rows.first { $0.method == .entropic && $0.lambda == 0.001 && $0.ratio == 2 })
        XCTAssertEqual(row.accuracy, out.training.testAccuracy)
        XCTAssertEqual(row.bytesPerImage, out.fields.bytesPerImage)
        XCTAssertEqual(row.predictions?.first?.predictions, out.training.predictions)
        XCTAssertTrue(ReportRendering.ratePoints(report, split: "stem").contains { $0.what.hasPrefix("entropy bottleneck V=2, λ=0.001") })
    }
}
