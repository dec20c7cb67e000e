// The training-budget controls (`aecnn.budget_controls: true`) on tiny generated data: CA_Pruned fine-tuned for
// AECNN's epochs after pruning, the base model trained on for AECNN's epochs after the base, both in the report
// beside AECNN with their paired comparisons; without the option nothing changes.

import XCTest
import Foundation
@testable import Pipeline
import PipelineSpec
import CoInference
import _TestSupport

final class BudgetControlsTests: XCTestCase {
    static func yaml(data: URL, controls: Bool) -> String {
        let extra = """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 1, batch_size: 16}
          train-recovery: {epochs: 2, batch_size: 16}
        splits: [stem]
        ratios: [2]
        aecnn: {recovery: {layers: 1, hidden: 4}, rank: {batch_size: 16, stability_batches: 2}\(controls ? ", budget_controls: true" : "")}
        """
        return TinyDataset.pipelineYAML(name: "budget", dataDirectory: data, epochs: 1, extra: extra)
    }

    func testControlsRunAtAECNNsEpochsAndReachTheReport() throws {
        let root = makeTemporaryDirectory("budget-controls")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
        let plain = try PipelineSpec.parse(yaml: Self.yaml(data: data, controls: false), fileName: "budget.yaml")
        let spec = try PipelineSpec.parse(yaml: Self.yaml(data: data, controls: true), fileName: "budget.yaml")
        // Without the option: no new instances, and the option leaves every other instance's settings alone.
        XCTAssertFalse(StageRunner.allInstances(plain).contains { $0.stage == "fine-tune-matched" || $0.stage == "train-base-continued" })
        for i in StageRunner.allInstances(plain) where i.stage != "compare" {
            XCTAssertEqual(try StageRunner.definition(i.stage)!.settingsJSON(i, spec), try StageRunner.definition(i.stage)!.settingsJSON(i, plain), "\(i)")
        }
        let ctx = RunContext(spec: spec, checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try StageRunner.runAll(ctx)
        let point = OperatingPoint(split: "stem", ratio: 2)
        // Epochs: fine-tune 1 + recovery 2 after pruning; attention 1 + fine-tune 1 + recovery 2 after the base.
        XCTAssertEqual(FineTuneMatchedStage.output(StageInstance("fine-tune-matched", point), ctx)?.training.epochs, 3)
        XCTAssertEqual(TrainBaseContinuedStage.output(TrainBaseContinuedStage.instance, ctx)?.training.epochs, 4)
        let report = try ComparisonReport.read(root.appendingPathComponent("ckpt/budget/report/comparison.json"))
        let matched = try XCTUnwrap(report.rows.first { $0.method == .caPrunedMatched })
        XCTAssertEqual(matched.epochs, 1 + 3)
        XCTAssertEqual(matched.accuracy, FineTuneMatchedStage.output(StageInstance("fine-tune-matched", point), ctx)?.training.testAccuracy)
        XCTAssertNotNil(report.rows.first { $0.method == .baseContinued }?.predictions)
        XCTAssertNotNil(report.paired("AECNN vs CA_Pruned at matched epochs", split: "stem", ratio: 2))
        XCTAssertNotNil(report.paired("AECNN vs the base model trained on", split: "stem", ratio: 2))
        let md = try String(contentsOf: root.appendingPathComponent("ckpt/budget/report/comparison.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("## Training-budget controls") && md.contains("AECNN's 4 epochs after it"), md)
    }
}
