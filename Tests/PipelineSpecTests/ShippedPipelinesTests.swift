// Tests that the pipeline files shipped in Pipelines/ parse, and hold the recipes the docs promise.

import XCTest
@testable import PipelineSpec

final class ShippedPipelinesTests: XCTestCase {
    /// Package root, found from this file's location (Tests/PipelineSpecTests/<file>).
    private let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func load(_ name: String) throws -> PipelineSpec {
        try PipelineSpec.load(path: root.appendingPathComponent("Pipelines/\(name).yaml").path)
    }

    func testReferenceRecipe() throws {
        let spec = try load("fashion-resnet20")
        XCTAssertEqual(spec.name, "fashion-resnet20")
        XCTAssertEqual(spec.seedList, [0, 1, 2])  // the published results are over these seeds
        XCTAssertEqual(spec.threads, 2)
        XCTAssertEqual(spec.dataset.kind, .fashionMNIST)
        XCTAssertEqual(spec.dataset.path, "/usr/share/datasets/fashion-mnist")
        XCTAssertNil(spec.dataset.trainSubset)
        XCTAssertNil(spec.dataset.testSubset)
        XCTAssertEqual(spec.dataset.normalize, .init(mean: [0.2860], std: [0.3530]))
        XCTAssertEqual(spec.dataset.augment, .init(cropPadding: 2, flip: true))
        XCTAssertEqual(spec.model, ModelSpec(arch: .resnet20, width: 1.0))
        XCTAssertEqual(spec.splits, ["stem", "block3"])
        XCTAssertEqual(spec.ratios, [2, 4, 8, 16])
        let base = try XCTUnwrap(spec.training("train-base"))
        XCTAssertEqual(base, TrainingSettings(
            epochs: 10, batchSize: 128,
            optimizer: .sgd(SGDSettings(lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: false)),
            schedule: .cosine(minLR: 0), evalBatchSize: 500, trainable: []))
        XCTAssertEqual(Set(spec.stages.keys), Set(TrainingStages.names))
    }

    /// The quickstart has the reference's shape (model, splits, data recipe, base optimizer) and is shorter.
    func testQuickstartIsAShortenedReference() throws {
        let quick = try load("quickstart")
        let reference = try load("fashion-resnet20")
        XCTAssertEqual(quick.model, reference.model)
        XCTAssertEqual(quick.splits, reference.splits)
        XCTAssertTrue(Set(quick.ratios).isSubset(of: Set(reference.ratios)))
        XCTAssertEqual(quick.dataset.normalize, reference.dataset.normalize)
        XCTAssertEqual(quick.dataset.augment, reference.dataset.augment)
        XCTAssertEqual(quick.stages["train-base"]?.optimizer, reference.stages["train-base"]?.optimizer)
        for stage in TrainingStages.names {
            XCTAssertLessThanOrEqual(quick.stages[stage]!.epochs, reference.stages[stage]!.epochs, stage)
        }
        // The same AECNN settings; the quickstart also runs the ranking controls beside attention.
        var quickAECNN = quick.aecnn
        XCTAssertEqual(quickAECNN.rankMethods, [.attention, .l1, .random])
        quickAECNN.rankMethods = reference.aecnn.rankMethods
        XCTAssertEqual(quickAECNN, reference.aecnn)
        // The main job ends with the comparison: it codes features and trains a baseline.
        XCTAssertNotNil(quick.coding)
        XCTAssertNotNil(quick.baselines?.bottlenetpp)
    }

    /// The quantiser-in-the-loop recipe differs from the reference only in its name, the codecs it measures,
    /// train-recovery's quantiser and running a subset of the reference's seeds: its header tells users to reuse
    /// the reference's upstream outputs seed by seed.
    func testQuantiserRecipeDiffersOnlyInCoding() throws {
        var q4 = try load("fashion-resnet20-q4")
        let reference = try load("fashion-resnet20")
        XCTAssertEqual(q4.coding?.recoveryTrainingBits, 4)
        XCTAssertTrue(Set(q4.seedList).isSubset(of: reference.seedList), "\(q4.seedList) against \(reference.seedList)")
        q4.name = reference.name
        q4.coding = reference.coding
        q4.seeds = reference.seeds
        XCTAssertEqual(q4, reference)
    }

    func testSmoke() throws {
        let spec = try load("smoke")
        XCTAssertEqual(spec.name, "smoke")
        XCTAssertEqual(spec.dataset.trainSubset, 512)
        XCTAssertEqual(spec.dataset.testSubset, 256)
        XCTAssertEqual(spec.model, ModelSpec(arch: .resnet20, width: 0.25))
        XCTAssertEqual(spec.splits, ["stem"])
        XCTAssertEqual(spec.ratios, [2, 4])
        XCTAssertNotNil(spec.coding)
        XCTAssertEqual(spec.baselines?.bottlenetpp?.channels, [.noiseless, .bec])
        XCTAssertEqual(spec.stages["train-base"]?.epochs, 1)
        XCTAssertEqual(spec.stages["train-base"]?.batchSize, 64)
        // (train-entropic has no instances here, so the file leaves it at the matched budget.)
        for stage in TrainingStages.names where stage != "train-entropic" { XCTAssertEqual(spec.stages[stage]?.epochs, 1, stage) }
    }

    func testEveryShippedPipelineParses() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Pipelines").path)
            .filter { $0.hasSuffix(".yaml") }
        XCTAssertTrue(files.contains("smoke.yaml"))
        for file in files {
            XCTAssertNoThrow(try PipelineSpec.load(path: root.appendingPathComponent("Pipelines/\(file)").path), file)
        }
    }
}
