// Tests that every kind of bad input gives a located, typed error with a useful message:
// file name, line, column, key path, and a suggestion where one makes sense.

import XCTest
@testable import PipelineSpec

final class PipelineSpecErrorTests: XCTestCase {
    private let head = """
        dataset: {kind: fashion-mnist}
        model: {arch: resnet20}

        """

    /// Parses `yaml` as `Pipelines/x.yaml`, expects a `PipelineSpecError` and returns it.
    private func error(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) -> PipelineSpecError? {
        do {
            let spec = try PipelineSpec.parse(yaml: yaml, fileName: "Pipelines/x.yaml")
            XCTFail("expected an error, parsed \(spec)", file: file, line: line)
        } catch let error as PipelineSpecError {
            return error
        } catch {
            XCTFail("expected a PipelineSpecError, got \(type(of: error)): \(error)", file: file, line: line)
        }
        return nil
    }

    /// Expects an error of `kind` at `keyPath` (and `at` line/column when given) whose description contains `texts`.
    private func expect(_ yaml: String, _ kind: PipelineSpecError.Kind, keyPath: String, at position: (Int, Int)? = nil,
                        _ texts: String..., file: StaticString = #filePath, line: UInt = #line) {
        guard let e = error(yaml, file: file, line: line) else { return }
        XCTAssertEqual(e.kind, kind, e.description, file: file, line: line)
        XCTAssertEqual(e.keyPath, keyPath, e.description, file: file, line: line)
        XCTAssertEqual(e.fileName, "Pipelines/x.yaml", file: file, line: line)
        XCTAssertNotNil(e.line, e.description, file: file, line: line)
        if let (l, c) = position {
            XCTAssertEqual(e.line, l, e.description, file: file, line: line)
            XCTAssertEqual(e.column, c, e.description, file: file, line: line)
        }
        for text in texts {
            XCTAssertTrue(e.description.contains(text), "'\(e.description)' lacks '\(text)'", file: file, line: line)
        }
    }

    // MARK: Unknown keys and values

    func testUnknownFieldReadsLikeACompilerDiagnostic() {
        let e = error(head + """
            stages:
              train-base:
                epochs: 10
                optimizer:
                  kind: sgd
                  lr_rate: 0.1
            """)
        XCTAssertEqual(e?.kind, .unknownField)
        XCTAssertEqual(e?.description,
                       "Pipelines/x.yaml:8:7: stages.train-base.optimizer: unknown field 'lr_rate' (did you mean 'lr'?)")
    }

    func testUnknownTopLevelFieldSuggestsClosest() {
        expect(head + "ratio: [2]", .unknownField, keyPath: "", at: (3, 1),
               "Pipelines/x.yaml:3:1: unknown field 'ratio' (did you mean 'ratios'?)")
        expect(head + "stages: {train-base: {epochs: 1, batchsize: 8}}", .unknownField, keyPath: "stages.train-base",
               "did you mean 'batch_size'?")
        expect(head.replacingOccurrences(of: "{arch: resnet20}", with: "{arch: resnet20, depth: 3}"),
               .unknownField, keyPath: "model", at: (2, 25), "unknown field 'depth'", "known fields: arch, width")
    }

    func testUnknownFieldWithoutCloseMatchListsKnownFields() {
        expect(head + "zzzzzzzz: 1", .unknownField, keyPath: "", "known fields: name, seed, seeds, threads")
    }

    func testUnknownStageName() {
        expect(head + "stages:\n  train-bse: {epochs: 1}", .unknownField, keyPath: "stages", at: (4, 3),
               "unknown stage 'train-bse' (did you mean 'train-base'?)")
        expect(head + "stages:\n  quantize: {epochs: 1}", .unknownField, keyPath: "stages",
               "known stages: train-base, train-attention, fine-tune, train-recovery")
    }

    func testUnknownEnumValues() {
        expect("dataset: {kind: fashion_mnist}\nmodel: {arch: resnet20}", .unknownValue, keyPath: "dataset.kind",
               at: (1, 17), "unknown value 'fashion_mnist'", "did you mean 'fashion-mnist'?", "image-folder")
        expect("dataset: {kind: mnist, path: /d}\nmodel: {arch: resnet21}", .unknownValue, keyPath: "model.arch",
               "did you mean 'resnet20'?")
        expect(head + "stages: {train-base: {epochs: 1, optimizer: {kind: adamw}}}", .unknownValue,
               keyPath: "stages.train-base.optimizer.kind", "unknown kind 'adamw'", "did you mean 'adam'?")
        expect(head + "stages: {train-base: {epochs: 1, schedule: {kind: linear}}}", .unknownValue,
               keyPath: "stages.train-base.schedule.kind", "expected one of: cosine, step, constant")
    }

    func testFieldOfAnotherKindSaysWhichKind() {
        expect(head + "stages: {train-base: {epochs: 1, optimizer: {kind: sgd, beta1: 0.8}}}", .unknownField,
               keyPath: "stages.train-base.optimizer", "unknown field 'beta1' for kind 'sgd'", "set kind: adam")
        expect(head + "stages: {train-base: {epochs: 9, schedule: {milestones: [3]}}}", .unknownField,
               keyPath: "stages.train-base.schedule", "belongs to kind 'step'")
    }

    // MARK: Types

    func testTypeErrors() {
        expect(head + "stages:\n  train-base:\n    epochs: abc", .typeMismatch, keyPath: "stages.train-base.epochs",
               at: (5, 13), "expected an integer, found 'abc'")
        expect(head + "stages: {train-base: {epochs: 2, optimizer: {lr: abc}}}", .typeMismatch,
               keyPath: "stages.train-base.optimizer.lr", "expected a number, found 'abc'")
        expect(head + "stages: {train-base: {epochs: 2, optimizer: {lr: \"0.1\"}}}", .typeMismatch,
               keyPath: "stages.train-base.optimizer.lr", "expected a number, found '0.1'", "remove the quotes")
        expect(head + "stages: {train-base: {epochs: 2.5}}", .typeMismatch, keyPath: "stages.train-base.epochs",
               "expected an integer, found '2.5'")
        expect(head + "stages: {train-base: {epochs: }}", .typeMismatch, keyPath: "stages.train-base.epochs",
               "found an empty value")
        expect(head + "threads: [2]", .typeMismatch, keyPath: "threads", "expected an integer, found a list")
        expect(head + "splits: stem", .typeMismatch, keyPath: "splits", "expected a list, found 'stem'")
        expect(head + "ratios: [4, four]", .typeMismatch, keyPath: "ratios[1]", "expected an integer, found 'four'")
        expect("dataset: {kind: fashion-mnist, augment: {flip: maybe}}\nmodel: {arch: resnet20}", .typeMismatch,
               keyPath: "dataset.augment.flip", "expected true or false, found 'maybe'")
        expect("dataset: [fashion-mnist]\nmodel: {arch: resnet20}", .typeMismatch, keyPath: "dataset",
               "expected a mapping, found a list")
        expect(head + "name: {a: 1}", .typeMismatch, keyPath: "name", "expected a string, found a mapping")
        expect(head + "stages: [train-base]", .typeMismatch, keyPath: "stages", "expected a mapping, found a list")
    }

    func testNonMappingTopLevel() {
        expect("- dataset\n- model\n", .typeMismatch, keyPath: "", at: (1, 1),
               "Pipelines/x.yaml:1:1: expected a mapping of pipeline settings at the top level, found a list")
        expect("just a string", .typeMismatch, keyPath: "", "found 'just a string'")
    }

    // MARK: Missing fields

    func testMissingFields() {
        expect("model: {arch: resnet20}", .missingField, keyPath: "", at: (1, 1), "missing required field 'dataset'")
        expect("dataset: {kind: fashion-mnist}", .missingField, keyPath: "", "missing required field 'model'")
        expect("dataset: {path: /d}\nmodel: {arch: resnet20}", .missingField, keyPath: "dataset", at: (1, 10),
               "missing required field 'kind'")
        expect("dataset: {kind: mnist}\nmodel: {arch: resnet20}", .missingField, keyPath: "dataset",
               "missing required field 'path'", "no default location")
        expect("dataset: {kind: image-folder, path: /d}\nmodel: {arch: resnet18}", .missingField, keyPath: "dataset",
               "missing required field 'normalize'")
        expect(head + "stages:\n  train-base:\n    batch_size: 64", .missingField, keyPath: "stages.train-base",
               at: (5, 5), "missing required field 'epochs'")
        expect(head + "stages:\n  train-base:\n", .missingField, keyPath: "stages.train-base",
               "missing required field 'epochs'")
        expect(head + "stages: {train-base: {epochs: 9, schedule: {kind: step}}}", .missingField,
               keyPath: "stages.train-base.schedule", "missing required field 'milestones'")
        expect("dataset: {kind: cifar10, path: /d, normalize: {mean: [0.5, 0.5, 0.5]}}\nmodel: {arch: resnet20}",
               .missingField, keyPath: "dataset.normalize", "missing required field 'std'")
    }

    // MARK: Ranges and invalid values

    func testOutOfRange() {
        expect("dataset: {kind: fashion-mnist, path: /d}\nmodel: {arch: resnet20, width: 1.0e-30}", .outOfRange, keyPath: "model.width", "0.0625…16")
        expect(head + "aecnn: {recovery: {hidden: 4000000000}}", .outOfRange, keyPath: "aecnn.recovery.hidden", "in 1…4096")
        expect(head + "stages: {train-base: {epochs: 1, batch_size: 100000000}}", .outOfRange, keyPath: "stages.train-base.batch_size", "in 1…65536")
        expect(head + "threads: 1000000000", .outOfRange, keyPath: "threads", "in 1…256")
        expect(head + "threads: 0", .outOfRange, keyPath: "threads", "in 1…256")
        expect(head + "stages: {train-base: {epochs: 0}}", .outOfRange, keyPath: "stages.train-base.epochs",
               "must be in 1…100000, found 0")
        expect(head + "ratios: [2, 3]", .outOfRange, keyPath: "ratios[1]", at: (3, 13),
               "must be a power of two ≥ 2, found 3")
        expect(head + "ratios: [1]", .outOfRange, keyPath: "ratios[0]", "power of two")
        expect(head + "threads: 0", .outOfRange, keyPath: "threads", "must be in 1…256, found 0")
        expect(head + "seed: -1", .outOfRange, keyPath: "seed", "must be ≥ 0")
        expect(head + "seed: 18446744073709551616", .outOfRange, keyPath: "seed")
        expect("dataset: {kind: fashion-mnist, train_subset: 0}\nmodel: {arch: resnet20}", .outOfRange,
               keyPath: "dataset.train_subset", "must be ≥ 1")
        expect("dataset: {kind: fashion-mnist}\nmodel: {arch: resnet20, width: -1}", .outOfRange,
               keyPath: "model.width", "must be in 0.0625…16", "found -1")
        expect(head + "stages: {train-base: {epochs: 1, optimizer: {momentum: 1.0}}}", .outOfRange,
               keyPath: "stages.train-base.optimizer.momentum", "in [0, 1)")
        expect(head + "stages: {train-base: {epochs: 1, optimizer: {lr: 0}}}", .outOfRange,
               keyPath: "stages.train-base.optimizer.lr", "must be > 0, found 0")
        expect(head + "stages: {train-base: {epochs: 1, optimizer: {lr: .inf}}}", .outOfRange,
               keyPath: "stages.train-base.optimizer.lr", "finite")
        expect(head + "stages: {train-base: {epochs: 10, schedule: {kind: step, milestones: [5, 10]}}}", .outOfRange,
               keyPath: "stages.train-base.schedule.milestones[1]", "between 1 and epochs − 1 (9)")
        expect(head + "stages: {train-base: {epochs: 10, optimizer: {lr: 0.01}, schedule: {min_lr: 0.1}}}", .outOfRange,
               keyPath: "stages.train-base.schedule.min_lr", "between 0 and the optimizer's lr")
        expect("dataset: {kind: fashion-mnist, normalize: {mean: [0.5], std: [0]}}\nmodel: {arch: resnet20}",
               .outOfRange, keyPath: "dataset.normalize.std[0]", "must be > 0")
    }

    func testInvalidValues() {
        expect(head + "splits: [stem, block3, stem]", .invalidValue, keyPath: "splits[2]", "'stem' is listed twice")
        expect(head + "ratios: [4, 4]", .invalidValue, keyPath: "ratios[1]", "listed twice")
        expect(head + "name: ../escape", .invalidValue, keyPath: "name", "cannot name a checkpoint directory")
        expect(head + "name: " + String(repeating: "a", count: 300), .invalidValue, keyPath: "name", "cannot name a checkpoint directory", "at most 64")
        // Every split name becomes a folder: none may leave the pipeline's folder or be hidden.
        for bad in ["../../../../victim", "..", ".", "a/b", ".hidden", "/abs", String(repeating: "s", count: 65)] {
            expect(head + "splits: [stem, \"\(bad)\"]", .invalidValue, keyPath: "splits[1]", "cannot name a split folder")
        }
        expect("dataset: {kind: cifar10, path: /d, normalize: {mean: [0.5], std: [0.2]}}\nmodel: {arch: resnet20}",
               .invalidValue, keyPath: "dataset.normalize.mean", "expected 3 values, found 1", "cifar10 images have 3 channels")
        expect("dataset: {kind: cifar10, path: /d}\nmodel: {arch: resnet50, width: 0.5}", .invalidValue,
               keyPath: "model.width", "resnet20/32/56 only")
        expect(head + "stages: {train-base: {epochs: 1, optimizer: {momentum: 0, nesterov: true}}}", .invalidValue,
               keyPath: "stages.train-base.optimizer.nesterov", "needs momentum > 0")
        // YAML 1.1's other booleans are refused: `yes`, `no`, `on`, `off`, `y`, `n` (only true and false).
        for word in ["yes", "no", "on", "off", "y", "n", "Yes", "ON"] {
            expect(head + "stages: {train-base: {epochs: 1, optimizer: {nesterov: \(word)}}}", .typeMismatch,
                   keyPath: "stages.train-base.optimizer.nesterov", "expected true or false")
        }
        for word in ["true", "True", "TRUE", "false", "False", "FALSE"] {
            XCTAssertNoThrow(try PipelineSpec.parse(yaml: head + "stages: {train-base: {epochs: 1, optimizer: {nesterov: \(word)}}}", fileName: "x.yaml"), word)
        }
        expect(head + "stages: {train-base: {epochs: 9, schedule: {kind: step, milestones: [4, 2]}}}", .invalidValue,
               keyPath: "stages.train-base.schedule.milestones[1]", "strictly increasing")
        expect(head + "stages: {train-base: {epochs: 1, trainable: []}}", .invalidValue,
               keyPath: "stages.train-base.trainable", "leave 'trainable' out")
    }

    func testInvalidFileStemNeedsExplicitName() throws {
        XCTAssertThrowsError(try PipelineSpec.parse(yaml: head, fileName: "my pipeline.yaml")) { error in
            XCTAssertTrue("\(error)".contains("add 'name:'"), "\(error)")
        }
        XCTAssertEqual(try PipelineSpec.parse(yaml: head + "name: ok", fileName: "my pipeline.yaml").name, "ok")
    }

    // MARK: Malformed YAML and files

    func testMalformedYAMLNamesFileAndLine() {
        guard let e = error(head + "stages:\n  train-base: {epochs: 1\nseed: 3\n") else { return }
        XCTAssertEqual(e.kind, .malformedYAML)
        XCTAssertEqual(e.fileName, "Pipelines/x.yaml")
        XCTAssertNotNil(e.line)
        XCTAssertTrue(e.description.hasPrefix("Pipelines/x.yaml:"), e.description)
        XCTAssertTrue(e.description.contains("malformed YAML"), e.description)

        expect("dataset:\n  kind: mnist\n path: /d\n", .malformedYAML, keyPath: "", "malformed YAML")
        expect("a: 1\n\tb: 2\n", .malformedYAML, keyPath: "", at: nil, "malformed YAML")
        expect(head + "seed: 1\nseed: 2\n", .malformedYAML, keyPath: "", "duplicate key 'seed'")
        expect(head + "---\nseed: 1\n", .malformedYAML, keyPath: "", "malformed YAML")
    }

    func testEmptyFile() {
        expect("", .malformedYAML, keyPath: "", "the file is empty")
        expect("# only a comment\n", .malformedYAML, keyPath: "", "the file is empty")
    }

    func testMissingFileSuggestsListing() {
        XCTAssertThrowsError(try PipelineSpec.load(path: "Pipelines/no-such-pipeline.yaml")) { error in
            guard let e = error as? PipelineSpecError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.kind, .fileNotFound)
            XCTAssertEqual(e.description,
                           "Pipelines/no-such-pipeline.yaml: no such pipeline file (run 'ls Pipelines/' to see the available pipelines)")
        }
    }

    func testLoadReportsErrorsWithThePathGiven() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipelinespec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.yaml").path
        try (head + "epochs: 3\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PipelineSpec.load(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix(path + ":3:1: unknown field 'epochs'"), "\(error)")
        }
        XCTAssertThrowsError(try PipelineSpec.load(path: directory.path)) { error in
            XCTAssertEqual((error as? PipelineSpecError)?.kind, .unreadableFile)
        }
    }

    // MARK: Suggestions

    func testEditDistanceAndClosestMatch() {
        XCTAssertEqual(editDistance("", "abc"), 3)
        XCTAssertEqual(editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(editDistance("lr", "lr"), 0)
        XCTAssertEqual(closestMatch(to: "lr_rate", among: ["kind", "lr", "momentum"]), "lr")
        XCTAssertEqual(closestMatch(to: "batchSize", among: ["batch_size", "eval_batch_size"]), "batch_size")
        XCTAssertEqual(closestMatch(to: "epoch", among: ["epochs", "eval_batch_size"]), "epochs")
        XCTAssertNil(closestMatch(to: "foo", among: ["lr", "kind"]))
    }
}
