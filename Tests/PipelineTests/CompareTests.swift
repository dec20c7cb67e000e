// The comparison report on tiny generated data: every method and reference row is there, the tables agree
// with the stages' results, the SVGs are well-formed XML with one series per method, and the PNG reference
// is a valid PNG.

import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Checkpoint
import Pipeline
import PipelineSpec
import _TestSupport

final class CompareTests: XCTestCase {
    func testReportHoldsEveryMethodAndWellFormedPlots() throws {
        let root = makeTemporaryDirectory("compare")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
        let extra = """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 1, batch_size: 16}
          train-recovery: {epochs: 1, batch_size: 16}
          train-bottlenetpp: {epochs: 1, batch_size: 16, optimizer: {kind: adam, lr: 0.001}}
          train-bottlenet: {epochs: 1, batch_size: 16, optimizer: {kind: adam, lr: 0.001}}
        splits: [stem]
        ratios: [2, 4]
        aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 2}}
        coding: {codecs: [arith-context, zstd], bits: [8, 4], calibration_images: 32, test_images: 16}
        baselines:
          bottlenetpp: {channels: [noiseless, bec], test: {bec: [0.05]}, frozen_epochs: 1}
          bottlenet: {qualities: [20]}
        """
        let yaml = TinyDataset.pipelineYAML(name: "cmp", dataDirectory: data, epochs: 1, extra: extra)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "cmp.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try StageRunner.runAll(ctx)
        let dir = root.appendingPathComponent("ckpt/cmp/report")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("comparison.json"))) as! [String: Any]
        let rows = json["rows"] as! [[String: Any]]
        func count(_ method: String) -> Int { rows.filter { $0["method"] as? String == method }.count }
        XCTAssertEqual(count("CA_Pruned"), 2)
        XCTAssertEqual(count("AECNN"), 2)
        XCTAssertEqual(count("AECNN coded"), 2 * 2 * 2)
        XCTAssertEqual(count("BottleNet++"), 2 * (1 + 2))   // noiseless at 0; bec at 0 and 0.05
        XCTAssertEqual(count("BottleNet"), 2)
        XCTAssertEqual(count("input image as PNG"), 1)
        let jpeg = StageRunner.result(StageInstance("train-bottlenet", split: "stem", ratio: 2, variant: "q20"), ctx)!
        XCTAssertEqual(rows.first { $0["method"] as? String == "BottleNet" && $0["ratio"] as? Int == 2 }!["bytes_per_image"] as? Double,
                       jpeg["bytes_per_image"] as? Double)
        XCTAssertGreaterThan(jpeg["bytes_per_image"] as! Double, 8)
        XCTAssertEqual(count("split tensor, 8-bit + zstd-19"), 1)
        // Table values are the stages' own.
        let ft = StageRunner.result(StageInstance("fine-tune", split: "stem", ratio: 4), ctx)!["test_accuracy"] as! Double
        XCTAssertEqual(rows.first { $0["method"] as? String == "CA_Pruned" && $0["ratio"] as? Int == 4 }!["accuracy"] as? Double, ft)
        let bec = StageRunner.result(StageInstance("train-bottlenetpp", split: "stem", ratio: 4, variant: "bec"), ctx)!
        XCTAssertEqual(rows.first { $0["method"] as? String == "BottleNet++" && $0["channel"] as? String == "bec" && $0["ratio"] as? Int == 4
                                    && $0["condition"] as? Double == 0 }!["compression_ratio"] as! Double,
                       bec["bit_compression_8bit"] as! Double, accuracy: 1e-9)
        let png = rows.first { $0["method"] as? String == "input image as PNG" }!["bytes_per_image"] as! Double
        XCTAssertGreaterThan(png, 8 + 25 + 12 + 12)   // signature, IHDR, IDAT, IEND at least
        for f in ["comparison.md", "comparison.csv", "report.md", "accuracy_vs_ratio_stem.svg", "accuracy_vs_bytes_stem.svg", "importance_stem.svg", "training.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        for svg in ["accuracy_vs_ratio_stem.svg", "accuracy_vs_bytes_stem.svg", "importance_stem.svg", "training.svg"] {
            let parser = XMLParser(data: try Data(contentsOf: dir.appendingPathComponent(svg)))
            XCTAssertTrue(parser.parse(), "\(svg): \(String(describing: parser.parserError))")
        }
        let ratioPlot = try String(contentsOf: dir.appendingPathComponent("accuracy_vs_ratio_stem.svg"), encoding: .utf8)
        for name in ["CA_Pruned (float)", "AECNN 4-bit arith-context", "BottleNet++ bec", "BottleNet JPEG q20"] { XCTAssertTrue(ratioPlot.contains(name), name) }
        let report = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("Wall time of every stage"))
        XCTAssertTrue(report.contains("train-bottlenetpp stem V=2 bec"))

        // Every series with data has its markers in the bytes plot: BottleNet++ (its byte counts were integers
        // and were dropped) and all three reference rows (the input PNG has no split).
        let bytesPlot = try String(contentsOf: dir.appendingPathComponent("accuracy_vs_bytes_stem.svg"), encoding: .utf8)
        XCTAssertEqual(markers(in: bytesPlot, series: "BottleNet++ bec (8-bit)"), 2)
        XCTAssertEqual(markers(in: bytesPlot, series: "BottleNet JPEG q20"), 2)
        XCTAssertEqual(markers(in: bytesPlot, series: "references"), 3)
        // RFC 4180: a strict reader sees one field count, and the quoted method name intact.
        let csv = try parseCSV(String(contentsOf: dir.appendingPathComponent("comparison.csv"), encoding: .utf8))
        XCTAssertEqual(Set(csv.map(\.count)).count, 1, "rows of different lengths")
        XCTAssertTrue(csv.contains { $0.first == "split tensor, float32" })
    }

    /// Markers (circle, rect, polygon) inside the SVG group of one series.
    func markers(in svg: String, series: String) -> Int {
        guard let start = svg.range(of: "<g data-series=\"\(series)\">"),
              let end = svg.range(of: "</g>", range: start.upperBound..<svg.endIndex) else { return 0 }
        let body = svg[start.upperBound..<end.lowerBound]
        return ["<circle", "<rect", "<polygon"].reduce(0) { $0 + body.components(separatedBy: $1).count - 1 }
    }

    /// A strict RFC 4180 reader: quoted fields with doubled quotes, every record ended by a line break.
    func parseCSV(_ text: String) throws -> [[String]] {
        var records: [[String]] = [], record: [String] = [], field = "", quoted = false, atFieldStart = true
        var it = Array(text).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? it.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    let next = it.next()
                    if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                } else { field.append(c) }
            } else if c == "\"" {
                guard atFieldStart else { throw NSError(domain: "csv", code: 1, userInfo: [NSLocalizedDescriptionKey: "quote inside an unquoted field"]) }
                quoted = true; atFieldStart = false
            } else if c == "," {
                record.append(field); field = ""; atFieldStart = true
            } else if c == "\n" {
                record.append(field); records.append(record); record = []; field = ""; atFieldStart = true
            } else {
                field.append(c); atFieldStart = false
            }
        }
        XCTAssertFalse(quoted, "unterminated quoted field")
        XCTAssertTrue(record.isEmpty && field.isEmpty, "last record without a line break")
        return records
    }

    /// `aecnn report` on a pipeline where only train-base has run: every file is written, missing results
    /// show as "–", and the JSON holds no NaN.
    func testReportOfAPartlyRunPipeline() throws {
        let root = makeTemporaryDirectory("compare-partial")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 32, test: 16, side: 8)
        let yaml = TinyDataset.pipelineYAML(name: "part", dataDirectory: data, epochs: 1, extra: """
        splits: [stem]
        ratios: [2]
        baselines:
          bottlenetpp: {channels: [noiseless]}
          bottlenet: {qualities: [20]}
        """)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "part.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try TrainBaseStage.run(ctx)
        let dir = try CompareStage.rebuild(ctx)
        let md = try String(contentsOf: dir.appendingPathComponent("comparison.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("| 2 | 0 | 0.00 | – | – | – |"), md)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.md").path))
        let json = try Data(contentsOf: dir.appendingPathComponent("comparison.json"))
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: json))
        XCTAssertFalse(String(decoding: json, as: UTF8.self).lowercased().contains("nan"))
        let csv = try parseCSV(String(contentsOf: dir.appendingPathComponent("comparison.csv"), encoding: .utf8))
        XCTAssertEqual(Set(csv.map(\.count)).count, 1)
    }

    func testPNGEncoderWritesAValidHeaderAndCompressesFlatImages() {
        let flat = PNGEncoder.encode(pixels: [UInt8](repeating: 7, count: 28 * 28), channels: 1, height: 28, width: 28)
        XCTAssertEqual(Array(flat.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(Array(flat[12..<16]), Array("IHDR".utf8))
        XCTAssertEqual(Array(flat[16..<24]), [0, 0, 0, 28, 0, 0, 0, 28])
        XCTAssertLessThan(flat.count, 100)
        var rng = SystemRandomNumberGenerator()
        let noisy = PNGEncoder.encode(pixels: (0..<(3 * 16 * 16)).map { _ in UInt8.random(in: 0...255, using: &rng) }, channels: 3, height: 16, width: 16)
        XCTAssertGreaterThan(noisy.count, 3 * 16 * 16)
    }
}
