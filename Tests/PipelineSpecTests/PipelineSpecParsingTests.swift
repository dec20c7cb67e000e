// Tests of parsing: defaults, per-kind defaults, overrides, merge keys and canonical JSON.

import XCTest
@testable import PipelineSpec

final class PipelineSpecParsingTests: XCTestCase {
    private let minimal = """
        dataset: {kind: fashion-mnist}
        model: {arch: resnet20}
        """

    func testDefaultsApplied() throws {
        let spec = try PipelineSpec.parse(yaml: minimal, fileName: "Pipelines/tiny-run.yaml")
        XCTAssertEqual(spec.name, "tiny-run")
        XCTAssertEqual(spec.seed, 0)
        XCTAssertEqual(spec.threads, 2)
        XCTAssertEqual(spec.dataset, DatasetSpec(
            kind: .fashionMNIST, path: "/usr/share/datasets/fashion-mnist", trainSubset: nil, testSubset: nil,
            normalize: .init(mean: [0.2860], std: [0.3530]), augment: .init(cropPadding: 2, flip: true)))
        XCTAssertEqual(spec.model.width, 1.0)
        XCTAssertEqual(spec.splits, [])
        XCTAssertEqual(spec.ratios, [])
        for (stage, defaults) in TrainingStages.all where !TrainingStages.baselineStages.contains(stage) {
            XCTAssertEqual(spec.stages[stage], defaults, stage)
        }
        // The baselines get AECNN's epochs after pruning (fine-tune 5 + train-recovery 10), otherwise their defaults.
        for stage in TrainingStages.baselineStages {
            var matched = TrainingStages.defaults(for: stage)!
            matched.epochs = 15
            XCTAssertEqual(spec.stages[stage], matched, stage)
        }
        XCTAssertEqual(spec.matchedBudgets, TrainingStages.baselineStages)
        XCTAssertEqual(spec.stages["train-base"]?.batchSize, 128)
        XCTAssertEqual(spec.stages["train-base"]?.evalBatchSize, 500)
        XCTAssertTrue(spec.stages["train-base"]!.trains(parameter: "anything"))
    }

    func testPerKindDefaults() throws {
        let cifar = try PipelineSpec.parse(yaml: """
            dataset: {kind: cifar10, path: /data/cifar10}
            model: {arch: resnet56}
            """, fileName: "c.yaml")
        XCTAssertEqual(cifar.dataset.normalize.mean, [0.4914, 0.4822, 0.4465])
        XCTAssertEqual(cifar.dataset.normalize.std, [0.2470, 0.2435, 0.2616])
        XCTAssertEqual(cifar.dataset.augment, .init(cropPadding: 4, flip: true))
        let mnist = try PipelineSpec.parse(yaml: """
            dataset: {kind: mnist, path: /data/mnist, augment: {crop_padding: 0}}
            model: {arch: resnet20}
            """, fileName: "m.yaml")
        XCTAssertEqual(mnist.dataset.normalize, .init(mean: [0.1307], std: [0.3081]))
        XCTAssertEqual(mnist.dataset.augment, .init(cropPadding: 0, flip: false))
    }

    func testSectionFieldsOverrideStageDefaults() throws {
        let spec = try PipelineSpec.parse(yaml: minimal + """

            seed: 18446744073709551615
            stages:
              train-recovery:
                epochs: 3
                optimizer: {lr: 0.01}
                schedule: {kind: step, milestones: [1, 2], gamma: 0.5}
                trainable: [recovery.]
              fine-tune:
                epochs: 2
                optimizer: {kind: adam}
                schedule: {kind: constant}
            """, fileName: "x.yaml")
        XCTAssertEqual(spec.seed, UInt64.max)
        let recovery = try XCTUnwrap(spec.stages["train-recovery"])
        XCTAssertEqual(recovery.optimizer, .adam(AdamSettings(lr: 0.01)))  // kind from the stage default
        XCTAssertEqual(recovery.schedule, .step(milestones: [1, 2], gamma: 0.5))
        XCTAssertTrue(recovery.trains(parameter: "recovery.conv1.weight"))
        XCTAssertFalse(recovery.trains(parameter: "stem.conv.weight"))
        XCTAssertEqual(spec.stages["fine-tune"]?.optimizer, .adam(AdamSettings()))
        XCTAssertEqual(spec.stages["fine-tune"]?.schedule, .constant)
    }

    func testMergeKeysAndSubsetAll() throws {
        let spec = try PipelineSpec.parse(yaml: """
            dataset: {kind: fashion-mnist, train_subset: all, test_subset: 100}
            model: {arch: resnet20}
            stages:
              train-base: &common
                epochs: 4
                batch_size: 32
              fine-tune:
                <<: *common
                epochs: 1
            """, fileName: "x.yaml")
        XCTAssertNil(spec.dataset.trainSubset)
        XCTAssertEqual(spec.dataset.testSubset, 100)
        XCTAssertEqual(spec.stages["fine-tune"]?.epochs, 1)
        XCTAssertEqual(spec.stages["fine-tune"]?.batchSize, 32)
    }

    func testCanonicalJSONIsStableAndSorted() throws {
        let spec = try PipelineSpec.parse(yaml: minimal, fileName: "x.yaml")
        let json = try canonicalJSON(of: spec)
        XCTAssertEqual(json, try canonicalJSON(of: spec))
        // Same settings written differently (flow vs block, key order) hash the same.
        let reordered = try PipelineSpec.parse(yaml: """
            model:
              arch: resnet20
            dataset:
              kind: fashion-mnist
            """, fileName: "x.yaml")
        XCTAssertEqual(try canonicalJSON(of: reordered), json)
        XCTAssertFalse(json.contains("\n"))
        XCTAssertFalse(json.contains("\\/"))
        // Keys sorted at every level.
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertTrue(json.hasPrefix("{\"aecnn\":"))
        XCTAssertEqual(object.keys.sorted(), ["aecnn", "dataset", "matchedBudgets", "model", "name", "ratios", "seed", "splits", "stages", "threads"])
        try assertSortedKeys(in: json)
        // Round trip through Codable.
        XCTAssertEqual(try JSONDecoder().decode(PipelineSpec.self, from: Data(json.utf8)), spec)
        XCTAssertEqual(try canonicalJSON(of: spec.stages["train-base"]!),
                       #"{"batchSize":128,"epochs":10,"evalBatchSize":500,"optimizer":{"sgd":{"lr":0.1,"momentum":0.9,"nesterov":false,"weightDecay":0.0005}},"schedule":{"cosine":{"minLR":0}},"trainable":[]}"#)
    }

    /// Checks, on the text itself, that the keys of every JSON object in `json` appear in sorted order.
    private func assertSortedKeys(in json: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var scanner = KeyOrderScanner(text: Array(json.unicodeScalars))
        try scanner.value()
        XCTAssertFalse(scanner.objects.isEmpty, file: file, line: line)
        for keys in scanner.objects { XCTAssertEqual(keys, keys.sorted(), file: file, line: line) }
    }
}

/// A minimal JSON reader that records each object's keys in the order written (enough for our own output).
private struct KeyOrderScanner {
    struct Malformed: Error {}
    let text: [Unicode.Scalar]
    var position = 0
    var objects: [[String]] = []

    mutating func value() throws {
        guard position < text.count else { throw Malformed() }
        switch text[position] {
        case "{":
            position += 1
            var keys: [String] = []
            while text[position] != "}" {
                keys.append(try string())
                guard text[position] == ":" else { throw Malformed() }
                position += 1
                try value()
                if text[position] == "," { position += 1 }
            }
            position += 1
            objects.append(keys)
        case "[":
            position += 1
            while text[position] != "]" {
                try value()
                if text[position] == "," { position += 1 }
            }
            position += 1
        case "\"":
            _ = try string()
        default:
            while position < text.count, !",]}".unicodeScalars.contains(text[position]) { position += 1 }
        }
    }

    mutating func string() throws -> String {
        guard text[position] == "\"" else { throw Malformed() }
        position += 1
        var result = ""
        while text[position] != "\"" {
            if text[position] == "\\" { position += 1 }
            result.unicodeScalars.append(text[position])
            position += 1
        }
        position += 1
        return result
    }
}

extension PipelineSpecParsingTests {
    func testAECNNSectionDefaultsAndErrors() throws {
        let minimal = "dataset: {kind: fashion-mnist}\nmodel: {arch: resnet20}\n"
        XCTAssertEqual(try PipelineSpec.parse(yaml: minimal, fileName: "x.yaml").aecnn, AECNNSettings())
        let spec = try PipelineSpec.parse(yaml: minimal + "aecnn: {prune_from: attention, recovery: {hidden: 8}, rank: {stability_batches: 5}}\n", fileName: "x.yaml")
        XCTAssertEqual(spec.aecnn.pruneFrom, .attention)
        XCTAssertEqual(spec.aecnn.recoveryHidden, 8)
        XCTAssertEqual(spec.aecnn.recoveryLayers, 2)
        XCTAssertEqual(spec.aecnn.stabilityBatches, 5)
        XCTAssertThrowsError(try PipelineSpec.parse(yaml: minimal + "aecnn: {recovery: {hiden: 8}}\n", fileName: "x.yaml")) { error in
            XCTAssertTrue("\(error)".contains("hidden"), "\(error)")
            XCTAssertTrue("\(error)".contains("x.yaml:3"), "\(error)")
        }
        XCTAssertThrowsError(try PipelineSpec.parse(yaml: minimal + "aecnn: {prune_from: nowhere}\n", fileName: "x.yaml"))
    }

    /// `aecnn.rank.methods`: the rankings whose chains run; attention always, first; unknown names get a
    /// suggestion; the default leaves the pipeline's canonical JSON as it was.
    func testRankMethods() throws {
        let minimal = "dataset: {kind: fashion-mnist}\nmodel: {arch: resnet20}\n"
        func parse(_ aecnn: String) throws -> PipelineSpec { try PipelineSpec.parse(yaml: minimal + "aecnn: \(aecnn)\n", fileName: "x.yaml") }
        let plain = try PipelineSpec.parse(yaml: minimal, fileName: "x.yaml")
        XCTAssertEqual(plain.aecnn.rankMethods, [.attention])
        XCTAssertEqual(plain.aecnn.controlRankings, [])
        let explicit = try parse("{rank: {methods: [attention]}}")
        XCTAssertEqual(explicit, plain)
        XCTAssertEqual(try canonicalJSON(of: explicit), try canonicalJSON(of: plain))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try canonicalJSON(of: plain).utf8)) as? [String: Any])
        XCTAssertEqual((object["aecnn"] as? [String: Any])?.keys.sorted(),
                       ["attentionEps", "pruneFrom", "rankBatchSize", "recoveryHidden", "recoveryLayers", "stabilityBatches"],
                       "the default is left out of the hashed JSON")
        let controls = try parse("{rank: {methods: [random, attention, l1]}}")
        XCTAssertEqual(controls.aecnn.rankMethods, [.attention, .random, .l1])
        XCTAssertEqual(controls.aecnn.controlRankings, [.random, .l1])
        XCTAssertEqual(try JSONDecoder().decode(PipelineSpec.self, from: Data(try canonicalJSON(of: controls).utf8)), controls)
        func message(_ aecnn: String) -> String {
            do { _ = try parse(aecnn); return "parsed" } catch { return "\(error)" }
        }
        let unknown = message("{rank: {methods: [attention, l2]}}")
        XCTAssertTrue(unknown.contains("x.yaml:3:"), unknown)
        XCTAssertTrue(unknown.contains("aecnn.rank.methods[1]"), unknown)
        XCTAssertTrue(unknown.contains("unknown value 'l2'"), unknown)
        XCTAssertTrue(unknown.contains("did you mean 'l1'?"), unknown)
        XCTAssertTrue(unknown.contains("attention, l1, random"), unknown)
        let noAttention = message("{rank: {methods: [l1, random]}}")
        XCTAssertTrue(noAttention.contains("aecnn.rank.methods: must include attention, found [l1, random]"), noAttention)
        XCTAssertTrue(noAttention.contains("[attention, l1, random]"), noAttention)
        XCTAssertTrue(message("{rank: {methods: [attention, l1, l1]}}").contains("listed twice"))
        XCTAssertTrue(message("{rank: {methods: []}}").contains("at least one"))
        XCTAssertTrue(message("{rank: {method: [l1]}}").contains("did you mean 'methods'?"))
    }
}

extension PipelineSpecParsingTests {
    func testCodingSectionDefaultsAndErrors() throws {
        let minimal = "dataset: {kind: fashion-mnist}\nmodel: {arch: resnet20}\n"
        XCTAssertNil(try PipelineSpec.parse(yaml: minimal, fileName: "x.yaml").coding)
        XCTAssertEqual(try PipelineSpec.parse(yaml: minimal + "coding: {}\n", fileName: "x.yaml").coding, CodingSettings())
        let spec = try PipelineSpec.parse(yaml: minimal + "coding: {codecs: [zstd, raw], bits: [2, 8], zstd_level: 3, ranges: per-channel, recovery_training_bits: 4}\n", fileName: "x.yaml")
        let c = try XCTUnwrap(spec.coding)
        XCTAssertEqual(c.codecs, [.zstd, .raw])
        XCTAssertEqual(c.bits, [2, 8])
        XCTAssertEqual(c.zstdLevel, 3)
        XCTAssertEqual(c.ranges, .perChannel)
        XCTAssertEqual(c.recoveryTrainingBits, 4)
        for (bad, word) in [("coding: {bitz: [4]}", "bits"), ("coding: {test_images: 100}", "dataset.test_subset"), ("coding: {bits: [9]}", "1 to 8"), ("coding: {codecs: [lzma]}", "arith-context"),
                            ("coding: {bits: [4, 4]}", "twice"), ("coding: {ranges: percentile}", "fixed-per-channel"), ("coding: {codecs: []}", "at least one")] {
            XCTAssertThrowsError(try PipelineSpec.parse(yaml: minimal + bad + "\n", fileName: "x.yaml"), bad) { error in
                XCTAssertTrue("\(error)".contains(word), "\(bad): \(error)")
                XCTAssertTrue("\(error)".contains("x.yaml:3"), "\(bad): \(error)")
            }
        }
    }
}
