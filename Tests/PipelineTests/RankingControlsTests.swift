// The ranking controls (`aecnn.rank.methods`): each control ranking (l1, random) is a chain of rank-channels,
// prune, fine-tune, train-recovery and encode-features instances with the ranking as variant; AECNN's chain
// keeps its instances, settings and inputs; the variant is a folder, a lock name, a command argument and a
// Slurm job's argument; l1 norms train-base's filters, random is a seeded permutation; a tiny pipeline runs
// every chain and each prune keeps the channels of its own ranking.

import XCTest
import Foundation
import Checkpoint
import TensorCore
import Methods
@testable import Pipeline
import PipelineSpec
import CoInference
import _TestSupport

final class RankingControlsTests: XCTestCase {
    static let chainStages = ["rank-channels", "prune", "fine-tune", "train-recovery", "encode-features"]

    /// A tiny pipeline (ResNet-20 at width 0.5: 8 channels at the stem), with `methods` when given.
    static func yaml(name: String, data: URL, methods: String?, pruneFrom: String = "base", seed: Int = 3) -> String {
        let extra = """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 1, batch_size: 16}
          train-recovery: {epochs: 1, batch_size: 16}
        splits: [stem]
        ratios: [2]
        aecnn: {prune_from: \(pruneFrom), recovery: {layers: 1, hidden: 4}, rank: {batch_size: 16, stability_batches: 2\(methods.map { ", methods: \($0)" } ?? "")}}
        coding: {codecs: [zstd], bits: [8], calibration_images: 16}
        """
        return TinyDataset.pipelineYAML(name: name, dataDirectory: data, epochs: 1, extra: extra)
            .replacingOccurrences(of: "width: 0.25", with: "width: 0.5").replacingOccurrences(of: "seed: 3", with: "seed: \(seed)")
    }

    static func spec(methods: String?, pruneFrom: String = "base", seed: Int = 3) throws -> PipelineSpec {
        try PipelineSpec.parse(yaml: yaml(name: "ctl", data: URL(fileURLWithPath: "/nonexistent"), methods: methods, pruneFrom: pruneFrom, seed: seed),
                               fileName: "ctl.yaml")
    }

    func testControlChainsAddInstancesAndLeaveAECNNsAsTheyWere() throws {
        for pruneFrom in ["base", "attention"] {
            let plain = try Self.spec(methods: nil, pruneFrom: pruneFrom)
            let controls = try Self.spec(methods: "[attention, l1, random]", pruneFrom: pruneFrom)
            let before = StageRunner.allInstances(plain), after = StageRunner.allInstances(controls)
            // AECNN's instances, settings and inputs are those of the pipeline without the option.
            XCTAssertEqual(after.filter { $0.ranking == .attention }, before)
            for i in before {
                let def = try XCTUnwrap(StageRunner.definition(i.stage))
                XCTAssertEqual(try def.settingsJSON(i, controls), try def.settingsJSON(i, plain), "\(i)")
                // compare also waits for the control chains, whose rows its report holds.
                let extra = i.stage == "compare" ? after.filter { $0.ranking != .attention && ["fine-tune", "train-recovery", "encode-features"].contains($0.stage) } : []
                XCTAssertEqual(Set(def.dependencies(i, controls)), Set(def.dependencies(i, plain) + extra), "\(i)")
            }
            // One more chain per control, at the same splits and ratios.
            for m in [AECNNSettings.RankingMethod.l1, .random] {
                XCTAssertEqual(after.filter { $0.ranking == m }.map(\.description),
                               ["rank-channels stem \(m)", "prune stem V=2 \(m)", "fine-tune stem V=2 \(m)", "train-recovery stem V=2 \(m)",
                                "encode-features stem V=2 \(m)"])
            }
            func deps(_ i: StageInstance) -> [String] { StageRunner.definition(i.stage)!.dependencies(i, controls).map(\.description) }
            XCTAssertEqual(deps(StageInstance("rank-channels", split: "stem", variant: .ranking(.l1))), ["train-base"])
            XCTAssertEqual(deps(StageInstance("rank-channels", split: "stem", variant: .ranking(.random))), [])
            // A control chain prunes train-base's weights whatever prune_from says (it has no attention model).
            let point = OperatingPoint(split: "stem", ratio: 2)
            XCTAssertEqual(deps(StageInstance("prune", point, ranking: .l1)), ["rank-channels stem l1", "train-base"])
            XCTAssertTrue(try PruneStage.settingsJSON(StageInstance("prune", point, ranking: .random), controls).contains(#""from":"base""#))
            XCTAssertEqual(deps(StageInstance("prune", point, ranking: .attention)),
                           ["rank-channels stem", pruneFrom == "base" ? "train-base" : "train-attention stem"])
            XCTAssertEqual(deps(StageInstance("fine-tune", point, ranking: .l1)), ["prune stem V=2 l1"])
            XCTAssertEqual(deps(StageInstance("train-recovery", point, ranking: .random)), ["fine-tune stem V=2 random"])
            XCTAssertEqual(deps(StageInstance("encode-features", point, ranking: .l1)), ["train-recovery stem V=2 l1"])
            // Table I, the deployed models and the report's inputs stay AECNN's.
            XCTAssertFalse(deps(StageInstance("evaluate")).contains { $0.hasSuffix(" l1") || $0.hasSuffix(" random") })
            XCTAssertEqual(EncodeFeaturesStage.aecnnInstances(controls), EncodeFeaturesStage.instances(plain))
        }
        // The chains train with AECNN's seeds (same batches and recovery initialisation), so that they differ
        // only in the channels kept; the random ranking's own seed is the pipeline seed's and the split's.
        let controls = try Self.spec(methods: "[attention, l1, random]")
        let ft = StageInstance("fine-tune", split: "stem", ratio: 2)
        XCTAssertEqual(AECNNStageSupport.chainSeed(StageInstance("fine-tune", split: "stem", ratio: 2, variant: .ranking(.l1)), controls),
                       StageRunner.seed(ft, controls))
        XCTAssertTrue(try RankChannelsStage.settingsJSON(StageInstance("rank-channels", split: "stem", variant: .ranking(.random)), controls)
            .contains(#""seed":3"#))
    }

    /// The variant names a folder, a lock, the `aecnn stage` command and a Slurm job's argv.
    func testTheVariantReachesFoldersCommandsAndJobs() throws {
        let root = makeTemporaryDirectory("ranking-paths")
        defer { try? FileManager.default.removeItem(at: root) }
        let ctx = RunContext(spec: try Self.spec(methods: "[attention, l1, random]"), checkpointsDirectory: root, log: nil)
        let i = StageInstance("prune", OperatingPoint(split: "stem", ratio: 2), ranking: .l1)
        XCTAssertEqual(i.variant, .ranking(.l1))
        XCTAssertTrue(StageRunner.directory(i, ctx).path.hasSuffix("/ctl/prune/stem/2/l1"), StageRunner.directory(i, ctx).path)
        XCTAssertTrue(StageRunner.directory(StageInstance("rank-channels", split: "stem", variant: .ranking(.random)), ctx).path.hasSuffix("/ctl/rank-channels/stem/random"))
        XCTAssertEqual(StageRunner.lockURL(i, ctx).lastPathComponent, "prune--stem--2--l1.lock")
        XCTAssertEqual(i.command, "aecnn stage prune --split stem --ratio 2 --variant l1")
        XCTAssertEqual(SlurmPlanner.command(i, ctx, executable: "/x/aecnn", pipelinePath: "/p.yaml", checkpoints: "/c"),
                       ["/x/aecnn", "stage", "prune", "--pipeline", "/p.yaml", "--checkpoints", "/c", "--split", "stem", "--ratio", "2", "--variant", "l1"])
        XCTAssertEqual(SlurmPlanner.jobName(i, ctx), "aecnn:ctl:prune:stem:2:l1")
        let planned = try SlurmPlanner.plan([ctx], previous: nil, alive: []).jobs
        let job = try XCTUnwrap(planned.first { $0.instance == StageInstance("fine-tune", split: "stem", ratio: 2, variant: .ranking(.random)) })
        XCTAssertEqual(job.waitsFor.map { planned[$0].instance.description }, ["prune stem V=2 random"])
    }

    /// Every variant spelling is a valid folder name and a shell word as it is, and parses back.
    func testEveryVariantSpellingIsPathSafeAndParses() {
        let all: [StageVariant] = BottleNetPPSettings.Channel.allCases.map { .channel($0) } + (1...100).map { .jpegQuality($0) }
            + AECNNSettings.RankingMethod.allCases.compactMap { .rankingChain($0) }
        XCTAssertEqual(all.filter { if case .ranking = $0 { return true } else { return false } }.map(\.description), ["l1", "random"])
        for v in all {
            XCTAssertTrue(v.isPathSafe, v.description)
            XCTAssertEqual(SlurmPlanner.shellQuoted(v.description), v.description)
            XCTAssertEqual(StageVariant(v.description), v)
        }
        XCTAssertNil(StageVariant("attention"), "AECNN's chain has no variant")
        XCTAssertNil(StageVariant.rankingChain(.attention))
        XCTAssertNil(StageVariant("../l1"))
    }

    func testRandomRankingIsSeededByThePipelineSeedAndTheSplit() throws {
        let a = try Self.spec(methods: "[attention, random]", seed: 3), b = try Self.spec(methods: "[attention, random]", seed: 4)
        let seedA = RankChannelsStage.randomSeed(split: "stem", a)
        XCTAssertEqual(seedA, RankChannelsStage.randomSeed(split: "stem", try Self.spec(methods: "[attention, random]", seed: 3)))
        let order = RankChannelsStage.randomOrder(channels: 16, seed: seedA)
        XCTAssertEqual(order.sorted(), Array(0..<16), "a permutation")
        XCTAssertEqual(RankChannelsStage.randomOrder(channels: 16, seed: seedA), order, "deterministic")
        XCTAssertNotEqual(RankChannelsStage.randomOrder(channels: 16, seed: RankChannelsStage.randomSeed(split: "stem", b)), order, "another pipeline seed")
        XCTAssertNotEqual(RankChannelsStage.randomOrder(channels: 16, seed: RankChannelsStage.randomSeed(split: "block3", a)), order, "another split")
        XCTAssertNotEqual(order, Array(0..<16))
    }

    /// A tiny pipeline with every ranking runs every chain end to end; each prune keeps the C/V channels its own
    /// ranking puts first, and its weights are those filters of train-base; l1's importance is the filters'
    /// L1 norms computed here; random's order is the seeded permutation.
    func testEveryChainRunsAndPrunesByItsOwnRanking() throws {
        let root = makeTemporaryDirectory("ranking-controls")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
        let spec = try PipelineSpec.parse(yaml: Self.yaml(name: "ctl", data: data, methods: "[attention, l1, random]"), fileName: "ctl.yaml")
        let ctx = RunContext(spec: spec, checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
        try StageRunner.runAll(ctx)
        for i in StageRunner.allInstances(spec) { XCTAssertEqual(try StageRunner.state(i, ctx), .done, "\(i)") }

        let base = try TrainBaseStage.loadModel(ctx)
        let baseWeight = Dictionary(uniqueKeysWithValues: base.stateTensors())["stem.conv.weight"]!
        let per = baseWeight.count / baseWeight.shape[0]
        let point = OperatingPoint(split: "stem", ratio: 2)
        var keptSets: [[Int]] = [], modelIDs: [String] = []
        for m in spec.aecnn.rankMethods {
            let rank = try XCTUnwrap(RankChannelsStage.output(StageInstance("rank-channels", split: "stem", variant: .rankingChain(m)), ctx), "\(m)")
            XCTAssertEqual(rank.method, m == .attention ? nil : m)
            XCTAssertEqual(rank.channels, 8)
            switch m {
            case .attention:
                XCTAssertEqual(rank.stabilitySpearman.count, 2)
            case .l1:
                XCTAssertEqual(rank.normedWeight, "stem.conv.weight")
                let naive = (0..<8).map { j in (0..<per).reduce(0.0) { $0 + Double(abs(baseWeight[j * per + $1])) } }
                for j in 0..<8 { XCTAssertEqual(rank.importance[j], naive[j], accuracy: 1e-9 * naive[j]) }
                XCTAssertEqual(rank.order, ChannelRanking.order(importance: naive))
            case .random:
                XCTAssertEqual(rank.order, RankChannelsStage.randomOrder(channels: 8, seed: RankChannelsStage.randomSeed(split: "stem", spec)))
                XCTAssertEqual(ChannelRanking.order(importance: rank.importance), rank.order)
            }
            let pruneInstance = StageInstance("prune", point, ranking: m)
            let prune = try XCTUnwrap(PruneStage.output(pruneInstance, ctx), "\(m)")
            XCTAssertEqual(prune.kept, ChannelRanking.kept(order: rank.order, ratio: 2), "\(m)")
            keptSets.append(prune.kept)
            // The pruned checkpoint holds exactly those filters of train-base (prune_from: base).
            let pruned = try CheckpointStore(directory: StageRunner.directory(pruneInstance, ctx)).load("model").tensor("stem.conv.weight")
            XCTAssertEqual(pruned.array, Pruning.selectRows(baseWeight, prune.kept).array, "\(m)")
            XCTAssertNotNil(FineTuneStage.output(StageInstance("fine-tune", point, ranking: m), ctx), "\(m)")
            let recovery = StageInstance("train-recovery", point, ranking: m)
            XCTAssertNotNil(TrainRecoveryStage.output(recovery, ctx), "\(m)")
            let coded = try XCTUnwrap(EncodeFeaturesStage.output(StageInstance("encode-features", point, ranking: m), ctx), "\(m)")
            XCTAssertEqual(coded.rows.count, 1)
            let recoveryHash = try XCTUnwrap(StageRunner.record(recovery, ctx)).outputsSha256
            XCTAssertTrue(coded.modelId.hasSuffix("@" + recoveryHash.prefix(12)), "\(m): \(coded.modelId)")
            modelIDs.append(coded.modelId)
        }
        XCTAssertGreaterThan(Set(keptSets).count, 1, "the rankings keep different channels here: \(keptSets)")
        XCTAssertEqual(Set(modelIDs).count, 3)
        // Table I stays AECNN's: one row per (split, V).
        XCTAssertEqual(EvaluateStage.output(StageInstance("evaluate"), ctx)?.rows, 1)

        // The report sets each control's chain beside AECNN's: rows tagged by ranking with the chain's own
        // figures, paired families attention vs each control, a table of its own; AECNN's columns stay AECNN's.
        let report = try ComparisonReport.read(root.appendingPathComponent("ckpt/ctl/report/comparison.json"))
        for m in ["l1", "random"] {
            let ae = try XCTUnwrap(report.rows.first { $0.method == .aecnn && $0.ranking == m })
            XCTAssertEqual(ae.accuracy, TrainRecoveryStage.output(StageInstance("train-recovery", point, ranking: .init(rawValue: m)!), ctx)?.training.testAccuracy)
            XCTAssertNotNil(report.rows.first { $0.method == .caPruned && $0.ranking == m }?.predictions)
            XCTAssertEqual(report.rows.filter { $0.method == .aecnnCoded && $0.ranking == m }.count, 1)
            XCTAssertNotNil(report.paired("AECNN: attention vs \(m) ranking", split: "stem", ratio: 2), m)
            XCTAssertNotNil(report.paired("CA_Pruned: attention vs \(m) ranking", split: "stem", ratio: 2), m)
        }
        XCTAssertEqual(report.rows.first { $0.method == .aecnn && $0.ranking == nil }?.accuracy,
                       TrainRecoveryStage.output(StageInstance("train-recovery", point), ctx)?.training.testAccuracy)
        let md = try String(contentsOf: root.appendingPathComponent("ckpt/ctl/report/comparison.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("## Ranking controls") && md.contains("| V | CA_Pruned, attention | CA_Pruned, l1 | CA_Pruned, random |"), md)
        // compare waits for the control chains: a control's recovery redone makes the report stale.
        XCTAssertTrue(CompareStage.dependencies(StageInstance("compare"), spec).contains(StageInstance("train-recovery", point, ranking: .random)))
    }
}
