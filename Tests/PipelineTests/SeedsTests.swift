// A pipeline with `seeds:` runs the graph once per seed, each in its own folder, and its report shows the
// mean ± standard deviation and n of every cell; reports of separate runs merge (`aecnn report --merge`),
// refusing a seed counted twice or accuracies measured on different images.

import XCTest
import Foundation
import Checkpoint
import Pipeline
import PipelineSpec
import _TestSupport

final class SeedsTests: XCTestCase {
    static let extra = """
      train-attention: {epochs: 1, batch_size: 16}
      fine-tune: {epochs: 1, batch_size: 16}
      train-recovery: {epochs: 1, batch_size: 16}
      train-bottlenet: {batch_size: 16, optimizer: {kind: adam, lr: 0.001}}
    splits: [stem]
    ratios: [2]
    aecnn: {recovery: {layers: 1, hidden: 4}, rank: {batch_size: 16, stability_batches: 2}}
    baselines:
      bottlenet: {qualities: [20]}
    """

    func testEachSeedInItsOwnFolderAndTheMergedReportHasMeanStdAndN() throws {
        let root = makeTemporaryDirectory("seeds")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 32, test: 16, side: 8)
        let yaml = TinyDataset.pipelineYAML(name: "seeded", dataDirectory: data, epochs: 1, extra: Self.extra)
            .replacingOccurrences(of: "seed: 3", with: "seeds: [3, 4]")
        let spec = try PipelineSpec.parse(yaml: yaml, fileName: "seeded.yaml")
        XCTAssertEqual(spec.seedList, [3, 4])
        // BottleNet left its epochs out: AECNN's after pruning, 1 fine-tune + 1 recovery.
        XCTAssertEqual(spec.training("train-bottlenet")?.epochs, 2)
        XCTAssertEqual(spec.matchedBudgets, ["train-bottlenetpp", "train-bottlenet", "train-entropic"])
        let contexts = RunContext.all(spec: spec, checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertEqual(contexts.map(\.root.lastPathComponent), ["seed-3", "seed-4"])
        XCTAssertEqual(contexts.map(\.spec.seed), [3, 4])
        for ctx in contexts { try StageRunner.runAll(ctx) }
        // Different seeds, different weights: no seed overwrote the other.
        let weights = try contexts.map { try SHA256.hexDigest(ofFile: StageRunner.directory(TrainBaseStage.instance, $0).appendingPathComponent("model.safetensors")) }
        XCTAssertNotEqual(weights[0], weights[1])
        XCTAssertEqual(StageRunner.record(TrainBaseStage.instance, contexts[1])?.seed, 4)

        let dir = try CompareStage.mergeSeeds(contexts)
        XCTAssertEqual(dir.path, root.appendingPathComponent("ckpt/seeded/report").path)
        let merged = try ComparisonReport.read(dir.appendingPathComponent("comparison.json"))
        XCTAssertEqual(merged.seeds, [3, 4])
        let perSeed = try contexts.map { try ComparisonReport.read(StageRunner.directory(StageInstance("compare"), $0).appendingPathComponent("comparison.json")) }
        let aecnn = try XCTUnwrap(merged.rows.first { $0.method == .aecnn })
        XCTAssertEqual(aecnn.n, 2)
        let values = try perSeed.map { r in try XCTUnwrap(r.rows.first { $0.method == .aecnn }?.accuracy) }
        XCTAssertEqual(try XCTUnwrap(aecnn.accuracy), (values[0] + values[1]) / 2, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(aecnn.accuracyStd), abs(values[0] - values[1]) / 2.squareRoot(), accuracy: 1e-12)
        let md = try String(contentsOf: dir.appendingPathComponent("comparison.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("mean ± standard deviation over 2 seeds (3, 4)"), md)
        XCTAssertTrue(md.contains(String(format: "%.2f ± %.2f", 100 * aecnn.accuracy!, 100 * aecnn.accuracyStd!)), md)
        XCTAssertEqual(Set(merged.stageTimes.map(\.seed)), [3, 4])
        let report = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("| 3 |") && report.contains("| 4 |"), "provenance per seed")

        // Merging is checked: a seed is never counted twice (the same report twice combines into itself, as parts
        // of one run would; two runs of one seed that differ are refused), nor accuracies on other images.
        let same = try ComparisonReport.merge([perSeed[0], perSeed[0]], names: ["a.json", "b.json"])
        XCTAssertEqual(same.seeds, [3])
        XCTAssertTrue(same.rows.allSatisfy { $0.accuracy == nil || $0.n == 1 })
        var rerun = perSeed[0]
        if let k = rerun.rows.firstIndex(where: { $0.method == .aecnn && $0.accuracy != nil }) { rerun.rows[k].accuracy! += 0.01 }
        XCTAssertThrowsError(try ComparisonReport.merge([perSeed[0], rerun], names: ["a.json", "b.json"])) {
            XCTAssertTrue("\($0)".contains("is measured in both b.json"), "\($0)")
        }
        let both = try ComparisonReport.merge([perSeed[0], perSeed[1]])
        XCTAssertThrowsError(try ComparisonReport.merge([both, perSeed[0]], names: ["both.json", "a.json"])) {
            XCTAssertTrue("\($0)".contains("seed 3 is in both both.json and a.json"), "\($0)")
        }
        var other = perSeed[1]
        other.testImages = 8
        XCTAssertThrowsError(try ComparisonReport.merge([perSeed[0], other])) { XCTAssertTrue("\($0)".contains("same images"), "\($0)") }

        // The command merges the comparison.json files of separate runs.
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let out = root.appendingPathComponent("merged")
        let p = Process()
        p.executableURL = exe
        p.arguments = ["report", "--merge"] + contexts.map { StageRunner.directory(StageInstance("compare"), $0).appendingPathComponent("comparison.json").path }
            + ["--output", out.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let viaCommand = try ComparisonReport.read(out.appendingPathComponent("comparison.json"))
        XCTAssertEqual(viaCommand.rows.first { $0.method == .aecnn }?.accuracy, aecnn.accuracy)
    }

    func testSeedAndSeedsAreExclusiveAndSeedsAreChecked() throws {
        let base = "dataset: {kind: fashion-mnist}\nmodel: {arch: resnet20}\n"
        for (bad, word) in [("seed: 1\nseeds: [1, 2]\n", "both given"), ("seeds: [1, 1]\n", "twice"), ("seeds: []\n", "1 to 32"),
                            ("seeds: [-1]\n", "seeds")] {
            XCTAssertThrowsError(try PipelineSpec.parse(yaml: base + bad, fileName: "x.yaml"), bad) { XCTAssertTrue("\($0)".contains(word), "\(bad): \($0)") }
        }
        let one = try PipelineSpec.parse(yaml: base + "seed: 7\n", fileName: "x.yaml")
        XCTAssertNil(one.seeds)
        let ctx = RunContext(spec: one, checkpointsDirectory: URL(fileURLWithPath: "/tmp/ck"), log: nil)
        XCTAssertEqual(ctx.root.path, "/tmp/ck/x", "one seed: the pipeline's folder, as before")
    }
}
