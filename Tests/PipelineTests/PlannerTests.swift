// The planner against a brute-force search over random profiles, its predictions against eq. 1–4 by hand,
// and the profiler on a tiny coded pipeline.

import XCTest
import Foundation
import CoInference
import TensorCore
import Pipeline
import PipelineSpec
import _TestSupport

final class PlannerTests: XCTestCase {
    func testCompletionTimeFollowsTheEquations() {
        let c = PlanCandidate(configuration: CodedConfiguration(point: OperatingPoint(split: "stem", ratio: 4), codec: .zstd, bits: 4), accuracy: 0.9, deviceMs: 3, encodeMs: 0.5, bytes: 1250, bytesP99: 2500, decodeMs: 0.25, edgeMs: 2)
        // 1250 bytes at 1 Mbit/s: 10 ms; plus RTT 4.
        XCTAssertEqual(c.completionMs(uplinkMbps: 1, rttMs: 4), 3 + 0.5 + 10 + 4 + 0.25 + 2, accuracy: 1e-9)
        XCTAssertEqual(c.completionMs(uplinkMbps: 1, rttMs: 4, useP99: true), 3 + 0.5 + 20 + 4 + 0.25 + 2, accuracy: 1e-9)
        var local = c
        local.kind = .local
        XCTAssertEqual(local.completionMs(uplinkMbps: 0.001, rttMs: 100), 3 + 0.5 + 0.25 + 2, accuracy: 1e-9, "local computing sends nothing")
        var measured = c
        measured.overheadMs = 2.5
        XCTAssertEqual(measured.completionMs(uplinkMbps: 1, rttMs: 4), c.completionMs(uplinkMbps: 1, rttMs: 4) + 2.5, accuracy: 1e-9)
        // Profiles written before the overhead existed still load, with none.
        let old = #"{"kind":"local","id":"local","accuracy":0.9,"deviceMs":1,"encodeMs":0,"bytes":0,"bytesP99":0,"decodeMs":0,"edgeMs":0}"#
        XCTAssertEqual(try JSONDecoder().decode(PlanCandidate.self, from: Data(old.utf8)).overheadMs, 0)
    }

    func testChoiceEqualsBruteForce() {
        var rng = RNG(seed: 17)
        for trial in 0..<500 {
            let n = 1 + rng.int(below: 12)
            let candidates = (0..<n).map { k -> PlanCandidate in
                let kind: PlanCandidate.Kind = k == 0 ? .local : (k == 1 ? .fullOffload : .coInference)
                let config = kind == .coInference ? CodedConfiguration(point: OperatingPoint(split: "s\(k)", ratio: 2), codec: .zstd, bits: 4) : nil
                return PlanCandidate(kind: kind, configuration: config,
                              accuracy: Double(80 + rng.int(below: 15)) / 100,   // ties happen
                              deviceMs: Double(rng.uniform()) * 50, encodeMs: Double(rng.uniform()) * 5, bytes: Double(rng.int(below: 20000)),
                              bytesP99: 0, decodeMs: Double(rng.uniform()) * 5, edgeMs: Double(rng.uniform()) * 20)
            }
            let rate = pow(10, Double(rng.uniform()) * 3 - 1), deadline = Double(rng.uniform()) * 200, rtt = Double(rng.uniform()) * 20
            let plan = Planner.plan(candidates, uplinkMbps: rate, rttMs: rtt, deadlineMs: deadline)
            // Brute force: every candidate's time by eq. 1–4, the feasible ones, the best accuracy, then the fastest.
            var best: (PlanCandidate, Double)?
            for c in candidates {
                let t = c.deviceMs + c.encodeMs + (c.kind == .local ? 0 : 8 * c.bytes / (rate * 1e6) * 1e3 + rtt) + c.decodeMs + c.edgeMs
                guard t <= deadline else { continue }
                if let b = best, b.0.accuracy > c.accuracy || (b.0.accuracy == c.accuracy && (b.1 < t || (b.1 == t && b.0.id < c.id))) { continue }
                best = (c, t)
            }
            XCTAssertEqual(plan.chosen?.id, best?.0.id, "trial \(trial)")
            if best == nil { XCTAssertTrue(plan.message.hasPrefix("nothing meets"), plan.message) }
            XCTAssertEqual(plan.ranked.count, n)
        }
    }

    func testProfilerMeasuresEveryConfiguration() throws {
        let root = makeTemporaryDirectory("profile")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
        let extra = EncodeFeaturesTests.stages(coding: "codecs: [arith-context, zstd], bits: [8, 4], calibration_images: 32")
        let yaml = TinyDataset.pipelineYAML(name: "prof", dataDirectory: data, epochs: 1, extra: extra)
        let ctx = RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "prof.yaml"), checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        XCTAssertThrowsError(try Profiler.load(ctx)) { XCTAssertTrue("\($0)".contains("aecnn profile")) }
        try StageRunner.runAll(ctx)
        let candidates = try Profiler.profile(ctx, images: 6, deviceSpeedFactor: 3)
        try Profiler.save(candidates, images: 6, deviceSpeedFactor: 3, ctx: ctx)
        XCTAssertEqual(try Profiler.load(ctx), candidates)
        XCTAssertEqual(candidates.map(\.id), ["local", "full-offload", "stem/V2/arith-context/8b", "stem/V2/zstd/8b", "stem/V2/arith-context/4b", "stem/V2/zstd/4b"])
        let rows = StageRunner.result(StageInstance("encode-features", split: "stem", ratio: 2), ctx)!["rows"] as! [[String: Any]]
        for c in candidates where c.kind == .coInference {
            XCTAssertGreaterThan(c.deviceMs, 0); XCTAssertGreaterThan(c.encodeMs, 0); XCTAssertGreaterThan(c.edgeMs, 0)
            XCTAssertGreaterThan(c.bytes, 0); XCTAssertGreaterThanOrEqual(c.bytesP99, c.bytes * 0.5)
            let parts = c.id.split(separator: "/")
            let row = rows.first { $0["codec"] as? String == String(parts[2]) && "\($0["bits"]!)b" == String(parts[3]) }!
            XCTAssertEqual(c.accuracy, row["accuracy"] as? Double)
        }
        XCTAssertEqual(candidates[0].bytes, 0)
        XCTAssertGreaterThan(candidates[1].bytes, 0)
        let figure = Planner.figure(candidates, rttMs: 5, deadlineMs: 50, title: "t")
        XCTAssertTrue(figure.contains("stem/V2/zstd/4b"))
    }
}
