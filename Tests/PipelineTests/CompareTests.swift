// The comparison report on tiny generated data: every method and reference row is there, the tables agree
// with the stages' results, the SVGs are well-formed XML with one series per method, and the PNG reference
// is a valid PNG.

import XCTest
import Foundation
import CoInference
import Plots
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
        coding: {codecs: [arith-context, zstd], bits: [8, 4], calibration_images: 32}
        baselines:
          bottlenetpp: {channels: [noiseless, bec], test: {bec: [0.05]}, frozen_epochs: 1}
          bottlenet: {qualities: [20]}
        """
        let yaml = TinyDataset.pipelineYAML(name: "cmp", dataDirectory: data, epochs: 1, extra: extra)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "cmp.yaml"),
                             checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try StageRunner.runAll(ctx)
        let dir = root.appendingPathComponent("ckpt/cmp/report")
        let report = try ComparisonReport.read(dir.appendingPathComponent("comparison.json"))
        let rows = report.rows
        func count(_ method: ReportMethod) -> Int { rows.filter { $0.method == method }.count }
        XCTAssertEqual(count(.caPruned), 2)
        XCTAssertEqual(count(.aecnn), 2)
        XCTAssertEqual(count(.aecnnCoded), 2 * 2 * 2)
        XCTAssertEqual(rows.filter { $0.method == .bottleNetPP && $0.codec == nil }.count, 2 * (1 + 2))   // noiseless at 0; bec at 0 and 0.05
        // Their noise-free symbols through the same quantiser, coders and frames as AECNN: every codec × bits.
        let bppCoded = rows.filter { $0.method == .bottleNetPP && $0.codec != nil }
        XCTAssertEqual(bppCoded.count, 2 * 2 * 2 * 2)   // V × channel × codec × bits
        for row in bppCoded {
            let out = try XCTUnwrap(EncodeBottleNetPPStage.output(StageInstance("encode-bottlenetpp", split: "stem", ratio: row.ratio!, variant: .channel(row.channel!)), ctx))
            let k = try XCTUnwrap(out.row(codec: row.codec!, bits: row.bits!))
            XCTAssertEqual(row.accuracy, k.accuracy)
            XCTAssertEqual(row.bytesPerImage, k.frameBytesMean)
            XCTAssertEqual(k.carriedShape, [4 / row.ratio!, 8, 8], "C' = C/V symbol channels at the split's 8×8 (stem of width 0.25: 4 channels)")
            XCTAssertEqual(k.splitShape, [4, 8, 8])
            XCTAssertLessThan(k.frameBytesMean, 4 * Double(k.carriedShape.reduce(1, *)), "coded symbols are smaller than float32 ones")
        }
        XCTAssertEqual(count(.bottleNet), 2)
        XCTAssertEqual(count(.reference), 3 + InputBaselineSettings.defaultQualities.count)   // PNG, JPEG sweep, split tensor ×2
        // One test set per table: every accuracy on the pipeline's 24 test images, and the report says so.
        XCTAssertEqual(report.testImages, 24)
        XCTAssertTrue(rows.filter { $0.accuracy != nil }.allSatisfy { $0.testImages == 24 })
        let jpeg = try XCTUnwrap(TrainBottleNetStage.output(StageInstance("train-bottlenet", split: "stem", ratio: 2, variant: .jpegQuality(20)), ctx))
        XCTAssertEqual(rows.first { $0.method == .bottleNet && $0.ratio == 2 }?.bytesPerImage, jpeg.fields.bytesPerImage)
        XCTAssertGreaterThan(jpeg.fields.bytesPerImage, 8)
        XCTAssertEqual(rows.filter { $0.reference == "split tensor, 8-bit + zstd-19" }.count, 1)
        // Table values are the stages' own.
        let ft = try XCTUnwrap(FineTuneStage.output(StageInstance("fine-tune", split: "stem", ratio: 4), ctx)).training.testAccuracy
        XCTAssertEqual(rows.first { $0.method == .caPruned && $0.ratio == 4 }?.accuracy, ft)
        let bec = try XCTUnwrap(TrainBottleNetPPStage.output(StageInstance("train-bottlenetpp", split: "stem", ratio: 4, variant: .channel(.bec)), ctx))
        XCTAssertEqual(try XCTUnwrap(rows.first { $0.method == .bottleNetPP && $0.channel == .bec && $0.ratio == 4 && $0.condition == 0 }?.compressionRatio),
                       bec.fields.bitCompression8bit, accuracy: 1e-9)
        // Fair budgets: the baselines left their epochs to the pipeline here (1 each), and the report says so.
        XCTAssertEqual(report.budgets.first { $0.method == .bottleNetPP }?.epochsAfterBase, 2)
        XCTAssertEqual(report.budgets.first { $0.method == .bottleNetPP }?.matched, false)
        let png = try XCTUnwrap(rows.first { $0.reference == "input image as PNG" }?.bytesPerImage)
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
        let reportText = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(reportText.contains("Wall time of every stage"))
        XCTAssertTrue(reportText.contains("train-bottlenetpp stem V=2 bec"))
        XCTAssertTrue(reportText.contains("every accuracy on the same 24 test images"))

        // Every measured row keeps each test image's prediction, on the pipeline's test set, and the kept
        // predictions reproduce the row's accuracy exactly.
        let testSet = try ctx.testSetSha256()
        for row in rows where row.accuracy != nil {
            let p = try XCTUnwrap(row.predictions?.first, "\(row.label) kept no predictions")
            XCTAssertEqual(row.predictions?.count, 1)
            XCTAssertEqual(p.seed, ctx.spec.seed)
            XCTAssertEqual(p.predictions.testSetSha256, testSet)
            XCTAssertEqual(p.predictions.count, 24)
            XCTAssertEqual(p.predictions.accuracy, row.accuracy!, accuracy: 1e-12, row.label)
        }
        // Paired comparisons: per family a cell per V and a pooled line, on 1 seed × 24 images, in comparison.md.
        let paired = try XCTUnwrap(report.paired)
        for family in ["AECNN vs BottleNet++ noiseless", "AECNN vs BottleNet++ bec", "AECNN vs BottleNet q20", "AECNN vs CA_Pruned", "AECNN 4-bit vs AECNN float",
                       "AECNN vs BottleNet++ noiseless, both 4-bit", "AECNN vs BottleNet++ bec, both 8-bit"] {
            XCTAssertEqual(paired.filter { $0.family == family }.map(\.ratio), [2, 4, nil], family)
        }
        XCTAssertTrue(paired.allSatisfy { $0.comparison.seeds == 1 && $0.comparison.images == 24 })
        // The coders are lossless: every codec of a width classifies every image alike.
        for v in [2, 4] { for b in [8, 4] {
            let coded = rows.filter { $0.method == .aecnnCoded && $0.ratio == v && $0.bits == b }
            XCTAssertEqual(coded.count, 2)
            XCTAssertTrue(coded.allSatisfy { $0.predictions == coded[0].predictions }, "V=\(v) \(b)-bit")
        } }
        let md = try String(contentsOf: dir.appendingPathComponent("comparison.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("## Paired comparisons") && md.contains("### `stem`: AECNN vs CA_Pruned"), md)
        // The send-the-input baseline: JPEG at each quality, smaller with its tables out of band, bytes growing
        // with quality; BottleNet's JPEG with tables out of band too; and the one-axis table.
        let jpegRows = rows.filter { $0.reference == "input image as JPEG" }.sorted { $0.quality! < $1.quality! }
        XCTAssertEqual(jpegRows.map(\.quality), InputBaselineSettings.defaultQualities.map { $0 })
        XCTAssertEqual(jpegRows.map(\.bytesPerImage!), jpegRows.map(\.bytesPerImage!).sorted())
        XCTAssertTrue(jpegRows.allSatisfy { $0.bytesPerImageTablesOutOfBand! < $0.bytesPerImage! - 100 })
        let bnRow = try XCTUnwrap(rows.first { $0.method == .bottleNet && $0.ratio == 2 })
        XCTAssertLessThan(try XCTUnwrap(bnRow.bytesPerImageTablesOutOfBand), bnRow.bytesPerImage!)
        XCTAssertTrue(md.contains("## Accuracy against bytes per image") && md.contains("input image as JPEG q90, tables out of band"), md)
        XCTAssertTrue(paired.contains { $0.family == ComparisonReport.inputFamily } || rows.filter { $0.method == .aecnnCoded }.allSatisfy { coded in
            !jpegRows.contains { ($0.bytesPerImageTablesOutOfBand ?? .infinity) <= coded.bytesPerImage! } && (rows.first { $0.reference == "input image as PNG" }!.bytesPerImage! > coded.bytesPerImage!)
        }, "the input family is there whenever some input point costs no more than a coded AECNN point")
        let oneAxis = try String(contentsOf: dir.appendingPathComponent("accuracy_vs_bytes_stem.svg"), encoding: .utf8)
        XCTAssertTrue(oneAxis.contains("input image as JPEG, tables out of band") && oneAxis.contains("BottleNet JPEG q20, tables out of band"))
        // The report re-read from its JSON renders the same tables (the comparisons travel in the file).
        XCTAssertEqual(ReportRendering.comparisonMarkdown(report), md)

        // Every series with data has its markers in the bytes plot: BottleNet++ (its byte counts were integers
        // and were dropped) and all three reference rows (the input PNG has no split).
        let bytesPlot = try String(contentsOf: dir.appendingPathComponent("accuracy_vs_bytes_stem.svg"), encoding: .utf8)
        XCTAssertEqual(markers(in: bytesPlot, series: "BottleNet++ bec (8-bit)"), 2)
        XCTAssertEqual(markers(in: bytesPlot, series: "BottleNet JPEG q20"), 2)
        XCTAssertEqual(markers(in: bytesPlot, series: "references (base model)"), 3)
        XCTAssertEqual(markers(in: bytesPlot, series: "AECNN 8-bit zstd"), 2)
        // One style per method across plots.
        let style = SVGPlot.style(forMethod: "BottleNet++").colour
        XCTAssertTrue(ratioPlot.contains(style) && bytesPlot.contains(style))
        // RFC 4180: a strict reader sees one field count, and the quoted method name intact.
        let csv = try parseCSV(String(contentsOf: dir.appendingPathComponent("comparison.csv"), encoding: .utf8))
        XCTAssertEqual(Set(csv.map(\.count)).count, 1, "rows of different lengths")
        XCTAssertTrue(csv.contains { $0.count > 1 && $0[1] == "split tensor, float32" })
    }

    /// Markers (circle, rect, polygon) inside the SVG group of one series.
    func markers(in svg: String, series: String) -> Int {
        guard let start = svg.range(of: "<g data-series=\"\(series)\">"),
              let end = svg.range(of: "</g>", range: start.upperBound..<svg.endIndex) else { return 0 }
        return svg[start.upperBound..<end.lowerBound].components(separatedBy: "class=\"marker\"").count - 1
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
            } else if c == "\r\n" || c == "\n" {   // "\r\n" is one Character
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
        XCTAssertTrue(md.contains("| 2 | – | – | – | – |"), md)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.md").path))
        let json = try Data(contentsOf: dir.appendingPathComponent("comparison.json"))
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: json))
        XCTAssertNil(String(decoding: json, as: UTF8.self).range(of: #":\s*-?(nan|inf)"#, options: [.regularExpression, .caseInsensitive]))
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
