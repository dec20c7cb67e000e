// Typed stage outputs read the result.json files earlier versions wrote, and the refactoring that
// introduced them changed no instance's inputs hash: existing Checkpoints stay up to date.

import XCTest
import Foundation
import Checkpoint
@testable import Pipeline
import PipelineSpec
import CoInference
import FeatureCoding

final class ResultCompatibilityTests: XCTestCase {
    /// A pipeline using every stage, with explicit budgets for every training stage.
    static let yaml = """
    name: pinned
    seed: 3
    threads: 2
    dataset:
      kind: fashion-mnist
      path: /nonexistent/fashion-mnist
      test_subset: 100
      normalize: {mean: [0.3], std: [0.3]}
      augment: {crop_padding: 1, flip: true}
    model: {arch: resnet20, width: 0.25}
    splits: [stem, block2]
    ratios: [2, 4]
    stages:
      train-base: {epochs: 2, batch_size: 16, optimizer: {kind: sgd, lr: 0.05, momentum: 0.9, weight_decay: 5e-4}, schedule: {kind: cosine}}
      train-attention: {epochs: 1, batch_size: 16}
      fine-tune: {epochs: 1, batch_size: 16, optimizer: {kind: sgd, lr: 0.02}}
      train-recovery: {epochs: 1, batch_size: 16}
      train-bottlenetpp: {epochs: 2, batch_size: 16}
      train-bottlenet: {epochs: 3, batch_size: 16}
    aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 3}}
    coding: {codecs: [arith-context, zstd], bits: [8, 4], calibration_images: 64}
    baselines:
      bottlenetpp: {channels: [noiseless, bec], frozen_epochs: 1}
      bottlenet: {qualities: [20]}
    """

    /// Every instance's settings hash is the one the code before typed outputs computed, except `compare`'s,
    /// whose reference rows moved from the first 1000 test images to the whole test set (and later gained the
    /// input image as JPEG at a quality sweep, and per-image predictions, so its current hash moved again), and
    /// `encode-features`', which measures compact frames (version 3 now; their old settings texts are rebuilt
    /// here to show that nothing else moved).
    func testSettingsHashesArePinned() throws {
        let spec = try PipelineSpec.parse(yaml: Self.yaml, fileName: "pinned.yaml")
        var lines: [String] = [], before: [String] = []
        for i in StageRunner.allInstances(spec) where i.stage != EncodeBottleNetPPStage.name {   // a stage added later: its own test below
            let def = try XCTUnwrap(StageRunner.definition(i.stage))
            let line = "\(i.description)=\(SHA256.hexDigest(try def.settingsJSON(i, spec)))"
            lines.append(line)
            if i.stage == "compare" {
                let old = try canonicalJSON(of: ["splits": spec.splits, "ratios": spec.ratios.map(String.init), "reference_images": ["1000"], "zstd_level": ["19"]])
                before.append("\(i.description)=\(SHA256.hexDigest(old))")
            } else if i.stage == "encode-features", let p = i.point, let coding = spec.coding {
                // Before compact frames the inputs had no frame version.
                struct OldInputs: Encodable { var split: String; var ratio: Int; var threads: Int; var coding: CodingSettings; var codecFormats: [String] }
                let formats = coding.codecs.map { let f = CodecTable.codec($0, coding); return "\(f.id) \(f)" }
                let old = try canonicalJSON(of: OldInputs(split: p.split, ratio: p.ratio, threads: spec.threads, coding: coding, codecFormats: formats))
                before.append("\(i.description)=\(SHA256.hexDigest(old))")
            } else {
                before.append(line)
            }
        }
        XCTAssertEqual(lines.count, 1 + 2 + 2 + 4 + 4 + 4 + 4 + 8 + 4 + 1 + 1)
        XCTAssertEqual(SHA256.hexDigest(before.joined(separator: "\n")), "6732f54412fea5c5531f1c4c6518c60477b56c058de8b25908e11a306550a41f")
        XCTAssertEqual(SHA256.hexDigest(lines.joined(separator: "\n")), "1846d26f55eb4efd249ef22f9db013738c40d22d89373eee24feeaf830cc86c2")
        // encode-bottlenetpp, one per train-bottlenetpp instance, reads it and nothing upstream of it changed.
        let coded = StageRunner.allInstances(spec).filter { $0.stage == EncodeBottleNetPPStage.name }
        XCTAssertEqual(coded.map { "\($0.split!) \($0.ratio!) \($0.variant!)" },
                       StageRunner.allInstances(spec).filter { $0.stage == TrainBottleNetPPStage.name }.map { "\($0.split!) \($0.ratio!) \($0.variant!)" })
    }

    /// result.json files as the version before typed outputs wrote them (a quickstart run; lists shortened).
    enum Old {
    static let prune = #"{"blas_core": "SkylakeX", "channels": 16, "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "device_flops": 56448, "device_flops_unpruned": 225792, "inputs_sha256": "213cd9ffac64afcf8e41be52b6fa5e963b0d9ca8055bb9bbc0fe25ca872bf9e4", "kept": [6, 7, 10, 14], "outputs": ["model.safetensors"], "outputs_sha256": "5cf42db79a35ae908a2ad1f22bd77af0504ec17790e1f825b363986b76fed702", "peak_rss_bytes": 535351296, "pipeline": "quickstart", "ratio": 4, "split": "stem", "split_shape": [16, 28, 28], "stage": "prune", "stage_wall_seconds": 2.6795036792755127, "test_accuracy_before_fine_tuning": 0.1052, "threads": 2, "transmitted_shape": [4, 28, 28]}"#
    static let bpp = #"{"accuracy_at_conditions": [{"accuracy": 0.7112, "condition": 0}, {"accuracy": 0.7144, "condition": 0.05}], "bandwidth_reduction": 4, "bit_compression_8bit": 16, "blas_core": "SkylakeX", "bridge_parameters": 1228, "channel": "bec", "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "device_flops": 1185408, "encoder_flops": 959616, "epochs": 1, "inputs_sha256": "fbc618889dd9ce562c4d519d7683aaa7d150f3c2e8b8b3fa0dcd03c17ccaa67b", "outputs": ["model.safetensors"], "outputs_sha256": "de52cd7a9e67228f85c5e8d96557f679c5c947d300d3faf3367212992fb964f0", "peak_rss_bytes": 614076416, "pipeline": "quickstart", "ratio": 4, "reduced_channels": 4, "resumed_from_epoch": 0, "split": "stem", "split_shape": [16, 28, 28], "stage": "train-bottlenetpp", "stage_wall_seconds": 43.61798870563507, "symbols_shape": [4, 28, 28], "test_accuracy": 0.7112, "test_loss": 0.7741023123264312, "threads": 2, "train_images_per_second": 313.5592774481407, "train_wall_seconds": 30.859686374664307}"#
    static let bn = #"{"blas_core": "SkylakeX", "bridge_parameters": 168, "bytes_per_image": 687.1072, "compression_ratio": 73.02499522636352, "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "device_flops": 326144, "epochs": 1, "inputs_sha256": "17a6640a08d87769b2cae02ca16d8598c63cf9f5e83947fc6abebf32710bebae", "outputs": ["model.safetensors"], "outputs_sha256": "38c53df9aa73cc17c8170e46c8d2099a8fd1212356f3efa759b0f6ed5af5fb3f", "peak_rss_bytes": 1258409984, "pipeline": "quickstart", "quality": 20, "ratio": 4, "reduced_shape": [4, 28, 28], "resumed_from_epoch": 0, "split": "stem", "split_shape": [16, 28, 28], "stage": "train-bottlenet", "stage_wall_seconds": 22.724900007247925, "test_accuracy": 0.7192, "test_loss": 0.7395014941692353, "threads": 2, "train_images_per_second": 506.5985139344201, "train_wall_seconds": 19.25058388710022}"#
    static let rank = #"{"blas_core": "SkylakeX", "channels": 16, "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "importance": [0.534762470769696, 0.15938525365665554, 0.46478515342250465, 0.744216273130849], "inputs_sha256": "1e886952636dabcf57ab4d084d6c0d5bfa00d50e881d7ea477ace38dd72e8f7a", "order": [10, 14, 6, 7], "outputs": ["ranking.json"], "outputs_sha256": "1b29af437875a21303bfde6781b6521bac4b5727324fbcfdca144b4d82e44b33", "peak_rss_bytes": 519643136, "pipeline": "quickstart", "split": "stem", "stability_min_spearman": 0.9941176470588236, "stability_spearman": [0.9970588235294118, 0.9941176470588236, 0.9970588235294118], "stability_topk_overlap_min": {"16": 1, "4": 1}, "stage": "rank-channels", "stage_wall_seconds": 0.35102224349975586, "threads": 2}"#
    static let rec = #"{"blas_core": "SkylakeX", "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "device_flops": 56448, "epochs": 1, "inputs_sha256": "ade524170d1976bc6052dac6f15ac7ed3b099547a922fe848acab61222e189c2", "outputs": ["model.safetensors"], "outputs_sha256": "9f6ed9079901b67474fd7db3eba19484d3ed50818d9a45445fc88a5ab00c89b2", "peak_rss_bytes": 825974784, "pipeline": "quickstart", "ratio": 4, "recovery_flops": 7225344, "recovery_parameters": 4696, "resumed_from_epoch": 0, "split": "stem", "stage": "train-recovery", "stage_wall_seconds": 20.73975372314453, "test_accuracy": 0.786, "test_loss": 0.5554949074983597, "threads": 2, "train_images_per_second": 477.8777862309593, "train_wall_seconds": 20.6803115606308}"#
    static let enc = #"{"blas_core": "SkylakeX", "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "float_accuracy": 0.79, "inputs_sha256": "2320e30477cbe73ff3a754c0f0ca845b60aaa5973176eec91803601ee7703757", "model_id": "quickstart/stem/V4@9f6ed9079901", "outputs": ["quantizer.json"], "outputs_sha256": "61409c5834bf35f8d6a40dbf5cb27293f9d94f532f2533ba7d1720f48f26f6f5", "peak_rss_bytes": 1023365120, "pipeline": "quickstart", "ratio": 4, "rows": [{"accuracy": 0.7895, "bits": 8, "bits_per_element": 2.6403966836734694, "carried_shape": [4, 28, 28], "codec": "arith-context", "codec_id": "arith-context", "compression_ratio": 48.47756429610386, "compression_ratio_frame": 44.55987400042006, "decode_mb_per_s": 29.208215162577815, "decode_ms_per_image": 0.10736705349999988, "encode_mb_per_s": 29.553437940315387, "encode_ms_per_image": 0.1061128659999999, "float_accuracy": 0.79, "frame_bytes_mean": 1126.0355, "frame_bytes_p50": 1133, "frame_bytes_p99": 1659, "order0_entropy_bits": 4.303209433009249, "payload_bytes_mean": 1035.0355, "ranges": "fixed-per-channel", "ratio": 4, "split": "stem", "split_shape": [16, 28, 28]}], "split": "stem", "stage": "encode-features", "stage_wall_seconds": 13.95842170715332, "test_images": 2000, "threads": 2}"#
    static let base = #"{"blas_core": "SkylakeX", "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "epochs": 3, "flops_per_image": 62043904, "inputs_sha256": "2da103eac940a990f077450f2d6e135c45233bd5d09b2119a50c638f62e51534", "outputs": ["model.safetensors"], "outputs_sha256": "b657e381f14301b72678e0ead35a4365b7432a3ec7ccada1a09cd90c81000fca", "parameters": 272186, "peak_rss_bytes": 455172096, "pipeline": "quickstart", "resumed_from_epoch": 0, "split_points": [{"device_flops": 225792, "shape": [16, 28, 28], "split": "stem"}, {"device_flops": 7451136, "shape": [16, 28, 28], "split": "block1"}, {"device_flops": 14676480, "shape": [16, 28, 28], "split": "block2"}, {"device_flops": 21901824, "shape": [16, 28, 28], "split": "block3"}, {"device_flops": 27521536, "shape": [32, 14, 14], "split": "block4"}, {"device_flops": 34746880, "shape": [32, 14, 14], "split": "block5"}, {"device_flops": 41972224, "shape": [32, 14, 14], "split": "block6"}, {"device_flops": 47591936, "shape": [64, 7, 7], "split": "block7"}, {"device_flops": 54817280, "shape": [64, 7, 7], "split": "block8"}, {"device_flops": 62042624, "shape": [64, 7, 7], "split": "block9"}], "stage": "train-base", "stage_wall_seconds": 50.19794964790344, "test_accuracy": 0.7872, "test_images": 5000, "test_loss": 0.540673092007637, "threads": 2, "train_images": 8000, "train_images_per_second": 582.7820751563195, "train_wall_seconds": 49.736122608184814}"#
    static let ft = #"{"blas_core": "SkylakeX", "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "device_flops": 56448, "epochs": 1, "inputs_sha256": "400fc11c44137e4a3df121bcff44dff66a712dfbc917bb685f113e9635b40f39", "outputs": ["model.safetensors"], "outputs_sha256": "632b50e91297397f9b4d3f4f5b3b708328d7fdfa2c9d81a8047b0f2b047fe201", "peak_rss_bytes": 557379584, "pipeline": "quickstart", "ratio": 4, "resumed_from_epoch": 0, "split": "stem", "stage": "fine-tune", "stage_wall_seconds": 18.251058220863342, "test_accuracy": 0.7898, "test_loss": 0.5414451360702515, "threads": 2, "train_images_per_second": 522.5617987481166, "train_wall_seconds": 18.195722699165344}"#
    static let att = #"{"blas_core": "SkylakeX", "conv_kernels": "oneDNN 2.6.3 avx512_core_amx", "epochs": 1, "inputs_sha256": "f824d4c672eae8775c8980f544db23cc3504225500e09c258dd3dfbac4476331", "outputs": ["model.safetensors"], "outputs_sha256": "e5554427f77f354f58bafdc58d1c5a0d4eec9ae15e8bd45449b1567c94a7d577", "peak_rss_bytes": 518508544, "pipeline": "quickstart", "resumed_from_epoch": 0, "split": "stem", "stage": "train-attention", "stage_wall_seconds": 17.676753878593445, "test_accuracy": 0.7752, "test_loss": 0.5804364025592804, "threads": 2, "train_images_per_second": 549.2413699203736, "train_wall_seconds": 17.625619769096375}"#
    }

    /// Decodes `text` as `T`, encodes it back and checks that the stage's own keys survive both ways.
    func roundTrip<T: StageOutput>(_ text: String, as: T.Type, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        let decoded = try ResultJSON.decoder().decode(T.self, from: Data(text.utf8))
        _ = try ResultJSON.decoder().decode(RunRecord.self, from: Data(text.utf8))
        let old = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let again = try ResultJSON.object(decoded)
        let record: Set<String> = ["blas_core", "conv_kernels", "inputs_sha256", "outputs", "outputs_sha256", "peak_rss_bytes", "pipeline",
                                   "ratio", "split", "stage", "stage_wall_seconds", "threads"]
        XCTAssertEqual(Set(old.keys).subtracting(record), Set(again.keys), "\(T.self) keys", file: file, line: line)
        return decoded
    }

    func testOldResultFilesDecodeIntoTheTypedOutputs() throws {
        let prune = try roundTrip(Old.prune, as: PruneOutput.self)
        XCTAssertEqual(prune.kept, [6, 7, 10, 14])
        XCTAssertEqual(prune.channels, 16)
        XCTAssertNil(prune.testImages, "absent in old files, and absent stays absent")
        let bpp = try roundTrip(Old.bpp, as: BottleNetPPOutput.self)
        XCTAssertEqual(bpp.fields.channel, .bec)
        XCTAssertEqual(bpp.fields.bandwidthReduction, 4)   // an integer in the old file
        XCTAssertEqual(bpp.fields.bitCompression8bit, 16)
        XCTAssertEqual(bpp.fields.accuracyAtConditions.map(\.condition), [0, 0.05])
        let bn = try roundTrip(Old.bn, as: BottleNetOutput.self)
        XCTAssertEqual(bn.fields.quality, 20)
        XCTAssertEqual(bn.training.testAccuracy, 0.7192)
        let rank = try roundTrip(Old.rank, as: RankingOutput.self)
        XCTAssertEqual(rank.stabilityTopkOverlapMin["16"], 1)
        let rec = try roundTrip(Old.rec, as: RecoveryOutput.self)
        XCTAssertNil(rec.fields.quantizedTrainingBits)
        XCTAssertEqual(rec.fields.recoveryParameters, 4696)
        let enc = try roundTrip(Old.enc, as: EncodeOutput.self)
        XCTAssertEqual(enc.rows.first?.codec, .arithContext)
        XCTAssertEqual(enc.rows.first?.frameBytesP99, 1659)
        XCTAssertEqual(enc.testImages, 2000)
        let base = try roundTrip(Old.base, as: BaseModelOutput.self)
        XCTAssertEqual(base.fields.splitPoints.first?.split, "stem")
        _ = try roundTrip(Old.ft, as: FineTuneOutput.self)
        _ = try roundTrip(Old.att, as: Trained<NoFields>.self)
    }

    /// A number that is absent is left out of the file, never written as NaN.
    func testAbsentNumbersAreLeftOut() throws {
        var row = ReportRow(method: .aecnn, split: "stem", ratio: 4)
        row.bytesPerImage = 12
        let object = try ResultJSON.object(ComparisonReport(pipeline: "p", seeds: [0], layout: ReportLayout(splits: ["stem"], ratios: [4], codecs: [], bits: [], channels: [], qualities: []),
                                                            testImages: 10, trainImages: 20, dataset: nil, model: nil, baseAccuracy: nil, baseAccuracyStd: nil,
                                                            rows: [row], budgets: [], provenance: [], stageTimes: [], pipelineText: nil))
        let rows = try XCTUnwrap(object["rows"] as? [[String: Any]])
        XCTAssertNil(rows[0]["accuracy"])
        XCTAssertEqual(rows[0]["bytes_per_image"] as? Double, 12)
        XCTAssertNil(object["base_accuracy"])
        XCTAssertThrowsError(try ResultJSON.encoder().encode(["x": Double.nan]), "NaN is refused, not written")
    }

    /// The quantizer.json example of docs/bitstream.md §4.1 reads as documented: bit patterns, in `kept` order.
    func testQuantizerFileAsDocumented() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("quantizer-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("""
        {
          "calibration_images" : 1000,
          "channel_ranges" : [ { "channel" : 10, "hi" : 1.0895183086395264, "hi_bits" : 1066104150, "lo" : 0, "lo_bits" : 0 } ],
          "kept" : [ 10 ],
          "tensor_range" : { "hi" : 1.0895183086395264, "hi_bits" : 1066104150, "lo" : 0, "lo_bits" : 0 }
        }
        """.utf8).write(to: url)
        let (kept, ranges, tensor) = try LinkCalibration.ranges(fromJSON: url)
        XCTAssertEqual(kept, [10])
        XCTAssertEqual(ranges.map(\.hi.bitPattern), [0x3F8B_7556])
        XCTAssertEqual(ranges.map(\.lo.bitPattern), [0])
        XCTAssertEqual(tensor.hi.bitPattern, 0x3F8B_7556)
        // Written back, the same keys.
        let calibration = try QuantizerCalibration.fromRanges(ranges)
        try LinkCalibration.write(calibration, kept: kept, images: 1000, to: url)
        let again = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(Set(again.keys), ["calibration_images", "channel_ranges", "kept", "tensor_range"])
        XCTAssertEqual(try LinkCalibration.ranges(fromJSON: url).channelRanges.map(\.hi.bitPattern), [0x3F8B_7556])
    }
}
