// The coded link on tiny generated data: encode-features measures every codec × width through real frames
// (lossless codecs agree on accuracy, sizes add up, the ratio follows its definition), the training-time
// quantiser is bit-identical to the real encoder and decoder, training with the quantiser in the loop is a
// setting that changes exactly the instances it should, and `aecnn encode`/`decode` round-trip files.

import XCTest
import Foundation
import CoInference
import TensorCore
import Checkpoint
import FeatureCoding
import Pipeline
import Autograd
import PipelineSpec
import _TestSupport

final class EncodeFeaturesTests: XCTestCase {
    var root: URL!
    var data: URL!

    override func setUpWithError() throws {
        root = makeTemporaryDirectory("encode-features")
        data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    static func stages(coding: String) -> String {
        """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 1, batch_size: 16}
          train-recovery: {epochs: 1, batch_size: 16}
        splits: [stem]
        ratios: [2]
        aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 2}}
        coding: {\(coding)}
        """
    }

    func context(_ name: String, coding: String) throws -> RunContext {
        let yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 1, extra: Self.stages(coding: coding))
        return RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "\(name).yaml"),
                          checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
    }

    func testEncodeFeaturesMeasuresEveryCodecThroughRealFrames() throws {
        let ctx = try context("coded", coding: "codecs: [arith-context, raw, zstd, arith-order0], bits: [8, 2], calibration_images: 32")
        try StageRunner.runAll(ctx)
        let result = try XCTUnwrap(StageRunner.result(StageInstance("encode-features", split: "stem", ratio: 2), ctx))
        let rows = try XCTUnwrap(result["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 8)
        let kept = (StageRunner.result(StageInstance("prune", split: "stem", ratio: 2), ctx)!["kept"] as! [Int]).count
        let channels = StageRunner.result(StageInstance("prune", split: "stem", ratio: 2), ctx)!["channels"] as! Int
        let plane = 8 * 8, images = 24
        for bits in [8, 2] {
            let group = rows.filter { $0["bits"] as? Int == bits }
            // Lossless codecs give the edge the same values, so the same accuracy.
            XCTAssertEqual(Set(group.map { $0["accuracy"] as! Double }).count, 1, "bits \(bits): \(group.map { $0["accuracy"]! })")
            let raw = try XCTUnwrap(group.first { $0["codec"] as? String == "raw" })
            XCTAssertEqual(raw["payload_bytes_mean"] as! Double, Double(kept * plane), accuracy: 1e-9)
            XCTAssertEqual(raw["bits_per_element"] as! Double, 8, accuracy: 1e-9)
            for r in group {
                let bpe = r["bits_per_element"] as! Double
                XCTAssertEqual(r["compression_ratio"] as! Double, 32 * Double(channels) / (bpe * Double(kept)), accuracy: 1e-6)
                let frame = r["frame_bytes_mean"] as! Double
                XCTAssertGreaterThan(frame, r["payload_bytes_mean"] as! Double)
                XCTAssertEqual(r["compression_ratio_frame"] as! Double, 32.0 * Double(channels * plane) / (8 * frame), accuracy: 1e-6)
                XCTAssertLessThanOrEqual(r["frame_bytes_p50"] as! Int, r["frame_bytes_p99"] as! Int)
                XCTAssertLessThanOrEqual(r["order0_entropy_bits"] as! Double, Double(bits) + 1e-9)
            }
            let arith = try XCTUnwrap(group.first { $0["codec"] as? String == "arith-context" })
            if bits == 2 { XCTAssertLessThan(arith["payload_bytes_mean"] as! Double, raw["payload_bytes_mean"] as! Double) }
        }
        XCTAssertEqual(result["test_images"] as? Int, images)
        let dir = StageRunner.directory(StageInstance("encode-features", split: "stem", ratio: 2), ctx)
        for f in ["coding.md", "coding.csv", "coding.json", "quantizer.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        let evaluate = StageRunner.directory(StageInstance("evaluate"), ctx)
        let md = try String(contentsOf: evaluate.appendingPathComponent("coding.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("arith-context"))
        // The calibrated ranges read back bit for bit.
        let back = try LinkCalibration.ranges(fromJSON: dir.appendingPathComponent("quantizer.json"))
        XCTAssertEqual(back.channelRanges.count, kept)
    }

    func testRoundTripEqualsRealEncoderAndDecoderBitForBit() throws {
        var rng = RNG(seed: 11)
        let shape = FeatureShape(channels: 6, height: 5, width: 3)
        let kept = [0, 2, 5]
        let per = kept.count * 15
        let batch = Tensor(zeros: [4, kept.count, 5, 3])
        for i in 0..<batch.count { batch.buffer[i] = max(0, rng.normal() * 2) }
        var calibration = QuantizerCalibration(channels: kept.count)
        try calibration.add(Array(batch.buffer.prefix(2 * per)), shape: FeatureShape(channels: kept.count, height: 5, width: 3))
        for mode in CodingSettings.RangeMode.allCases {
            for bits in [1, 3, 8] {
                let q = try LinkCalibration.quantizer(bits: bits, mode: mode, calibration: calibration, kept: kept, channels: 6)
                let link = FeatureLink(shape: shape, kept: kept, splitPoint: "stem", modelID: "m", quantizer: q, codec: .arithmeticContext)
                let fake = try link.roundTrip(batch)
                for s in 0..<4 {
                    let (bytes, _) = try link.encode(Array(batch.buffer[(s * per)..<((s + 1) * per)]))
                    let (values, _) = try link.decode(bytes)
                    for j in 0..<per {
                        XCTAssertEqual(values[j].bitPattern, fake[s * per + j].bitPattern, "\(mode) \(bits) bits, image \(s), element \(j)")
                    }
                }
            }
        }
        // A self-describing frame for another model, split or channel set is refused with the field named; a
        // compact frame for another model by its key.
        let q = try Quantizer(bits: 4, ranges: .perTensor)
        let a = FeatureLink(shape: shape, kept: kept, splitPoint: "stem", modelID: "a", quantizer: q, codec: .raw, frameVersion: 1)
        let (bytes, _) = try a.encode(Array(batch.buffer.prefix(per)))
        let b = FeatureLink(shape: shape, kept: kept, splitPoint: "stem", modelID: "b", quantizer: q, codec: .raw)
        XCTAssertThrowsError(try b.decode(bytes)) { XCTAssertTrue("\($0)".contains("model id")) }
        let c = FeatureLink(shape: shape, kept: [0, 1, 5], splitPoint: "stem", modelID: "a", quantizer: q, codec: .raw)
        XCTAssertThrowsError(try c.decode(bytes)) { XCTAssertTrue("\($0)".contains("carried channels")) }
        let d = FeatureLink(shape: shape, kept: kept, splitPoint: "block3", modelID: "a", quantizer: q, codec: .raw)
        XCTAssertThrowsError(try d.decode(bytes)) { XCTAssertTrue("\($0)".contains("split point")) }
        let compactA = FeatureLink(shape: shape, kept: kept, splitPoint: "stem", modelID: "a", quantizer: q, codec: .raw)
        let (compact, _) = try compactA.encode(Array(batch.buffer.prefix(per)))
        // Self-describing: 40 bytes + model id (1) + split point (4) + the channel list; compact: 8 (raw's parameter
        // is its default, left out).
        let channelList = kept.count < shape.channels ? 4 * kept.count : 0
        XCTAssertEqual(compact.count, bytes.count - (40 + 1 + 4 + channelList) + 8)
        XCTAssertThrowsError(try b.decode(compact)) { XCTAssertTrue("\($0)".contains("model key"), "\($0)") }
        XCTAssertEqual(try compactA.decode(compact).values, try a.decode(bytes).values)
    }

    /// Training through the link: the gradient passes where the value lies inside its channel's calibrated
    /// range and stops where the quantiser clamps; the min–max modes never clamp, so everything passes.
    func testStraightThroughStopsWhereTheFixedRangesClamp() throws {
        let shape = FeatureShape(channels: 4, height: 1, width: 2)
        let kept = [1, 3]
        // Calibrated ranges: channel 1 [0, 1], channel 3 [0, 2].
        let calibration = try QuantizerCalibration.fromRanges([QuantizerRange(lo: 0, hi: 1), QuantizerRange(lo: 0, hi: 2)])
        let values: [Float] = [0.5, 1.5,   -0.1, 2.0,    // image 0: channel 1 (x2), channel 3 (x2)
                               1.0, 0.0,   2.5, 1.0]     // image 1
        let expected: [Float] = [1, 0, 0, 1, 1, 1, 0, 1]
        for mode in CodingSettings.RangeMode.allCases {
            let q = try LinkCalibration.quantizer(bits: 4, mode: mode, calibration: calibration, kept: kept, channels: 4)
            let link = FeatureLink(shape: shape, kept: kept, splitPoint: "stem", modelID: "m", quantizer: q, codec: .raw)
            let x = Variable(Tensor(shape: [2, 2, 1, 2], values: values), requiresGrad: true)
            sum(link.straightThrough(x)).backward()
            let want: [Float]
            switch mode {
            case .fixedPerChannel: want = expected
            case .fixedPerTensor: want = values.map { $0 >= 0 && $0 <= 2 ? 1 : 0 }   // one range [0, 2]
            case .perTensor, .perChannel: want = Array(repeating: 1, count: values.count)
            }
            XCTAssertEqual(x.grad?.array, want, "\(mode)")
        }
    }

    func testQuantiserInTheLoopIsASettingOfTrainRecovery() throws {
        let plain = try context("ste", coding: "codecs: [raw], bits: [4], calibration_images: 32")
        try StageRunner.runAll(plain)
        XCTAssertNil(StageRunner.result(StageInstance("train-recovery", split: "stem", ratio: 2), plain)!["quantized_training_bits"])
        // Turning it on makes train-recovery (and what reads it) stale, and nothing upstream.
        let looped = try context("ste", coding: "codecs: [raw], bits: [4], calibration_images: 32, recovery_training_bits: 4")
        XCTAssertEqual(try StageRunner.state(StageInstance("fine-tune", split: "stem", ratio: 2), looped), .done)
        if case .stale = try StageRunner.state(StageInstance("train-recovery", split: "stem", ratio: 2), looped) {} else { XCTFail("train-recovery should be stale") }
        try StageRunner.runAll(looped)
        let r = StageRunner.result(StageInstance("train-recovery", split: "stem", ratio: 2), looped)!
        XCTAssertEqual(r["quantized_training_bits"] as? Int, 4)
        XCTAssertEqual(r["quantized_training_ranges"] as? String, "fixed-per-channel")
        // encode-features quantises with the ranges the edge half was trained with, bit for bit.
        let trained = try LinkCalibration.ranges(fromJSON: StageRunner.directory(StageInstance("train-recovery", split: "stem", ratio: 2), looped).appendingPathComponent("quantizer.json"))
        let used = try LinkCalibration.ranges(fromJSON: StageRunner.directory(StageInstance("encode-features", split: "stem", ratio: 2), looped).appendingPathComponent("quantizer.json"))
        XCTAssertEqual(trained.channelRanges.map { [$0.lo.bitPattern, $0.hi.bitPattern] }, used.channelRanges.map { [$0.lo.bitPattern, $0.hi.bitPattern] })
    }

    func testEncodeAndDecodeCommandsRoundTripFiles() throws {
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let name = "cli"
        let yaml = TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 1,
                                            extra: Self.stages(coding: "codecs: [arith-context], bits: [4], calibration_images: 32"))
        let file = root.appendingPathComponent("cli.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let ckpt = root.appendingPathComponent("ckpt").path
        func aecnn(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try runProcess(exe, args) }
        let common = ["--pipeline", file.path, "--checkpoints", ckpt, "--split", "stem", "--ratio", "2"]
        // Before the model exists: a clear error naming the stage to run.
        let early = try aecnn(["encode"] + common + ["--out", root.appendingPathComponent("frames").path, "--images", "3"])
        XCTAssertNotEqual(early.status, 0)
        XCTAssertTrue(early.err.contains("encode-features"), early.err)

        XCTAssertEqual(try aecnn(["run", "--pipeline", file.path, "--checkpoints", ckpt]).status, 0)
        // A PGM of the first test image, written by hand.
        let pgm = root.appendingPathComponent("img.pgm")
        let ctx = try context(name, coding: "codecs: [arith-context], bits: [4], calibration_images: 32")
        let test = try ctx.testImages()
        try (Data("P5\n# a test image\n8 8\n255\n".utf8) + Data(test.pixels.prefix(64))).write(to: pgm)
        let frames = root.appendingPathComponent("frames")
        let enc = try aecnn(["encode"] + common + ["--bits", "4", "--out", frames.path, "--images", "3", pgm.path])
        XCTAssertEqual(enc.status, 0, enc.err)
        let files = try FileManager.default.contentsOfDirectory(atPath: frames.path).sorted()
        XCTAssertEqual(files, ["img.aefc", "test-00000.aefc", "test-00001.aefc", "test-00002.aefc"])
        // The PGM and test image 0 are the same pixels: the same bytes.
        XCTAssertEqual(try Data(contentsOf: frames.appendingPathComponent("img.aefc")),
                       try Data(contentsOf: frames.appendingPathComponent("test-00000.aefc")))
        let dec = try aecnn(["decode"] + common + ["--json"] + files.map { frames.appendingPathComponent($0).path })
        XCTAssertEqual(dec.status, 0, dec.err)
        // The frames name their model: without --split and --ratio the same answers.
        let named = try aecnn(["decode", "--pipeline", file.path, "--checkpoints", ckpt, "--json"] + files.map { frames.appendingPathComponent($0).path })
        XCTAssertEqual(named.status, 0, named.err)
        XCTAssertEqual(named.out, dec.out)
        let lines = dec.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        for line in lines {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(obj["bits"] as? Int, 4)
            XCTAssertTrue((0..<4).contains(obj["class"] as! Int))
        }
        // A corrupted frame is an error for that file, and the exit status says so.
        var bad = try Data(contentsOf: frames.appendingPathComponent("img.aefc"))
        bad[bad.count / 2] ^= 0x40
        let badFile = root.appendingPathComponent("bad.aefc")
        try bad.write(to: badFile)
        let rejected = try aecnn(["decode"] + common + [badFile.path])
        XCTAssertNotEqual(rejected.status, 0)
        XCTAssertTrue(rejected.err.contains("bad.aefc"), rejected.err)
    }
}
