// One seed's comparison from the stages' typed outputs: a row per method × operating point × setting, the
// reference rows, the training budgets, the machine and every stage's wall time. A stage that has not run
// leaves its rows' numbers absent (the tables show "–").
//
// Reference rows are measured here with the base model on the same test images as everything else: the
// split tensor sent raw as float32; the split tensor 8-bit (per-tensor min–max) + zstd through the real
// frame; the input image as PNG. They are cached in the report folder (references.json) under the base
// model's output hash, so rebuilding a report does not measure them again.

import Foundation
import CoInference
import TensorCore
import Autograd
import Datasets
import Checkpoint
import FeatureCoding
import PipelineSpec

public enum ReportGathering {
    /// The comparison of one seed's results.
    public static func gather(_ ctx: RunContext, referencesCache: URL?) throws -> ComparisonReport {
        let spec = ctx.spec
        let base = TrainBaseStage.output(TrainBaseStage.instance, ctx)
        let testImages = try ctx.testImages().count
        let bpp = spec.baselines?.bottlenetpp
        let bn = spec.baselines?.bottlenet
        let epochs = (attention: spec.training(TrainAttentionStage.name)?.epochs ?? 0, fineTune: spec.training(FineTuneStage.name)?.epochs ?? 0,
                      recovery: spec.training(TrainRecoveryStage.name)?.epochs ?? 0, bpp: spec.training(TrainBottleNetPPStage.name)?.epochs ?? 0,
                      bn: spec.training(TrainBottleNetStage.name)?.epochs ?? 0)
        var rows: [ReportRow] = []
        func seeded(_ p: TestPredictions?) -> [SeedPredictions]? { p.map { [SeedPredictions(seed: spec.seed, predictions: $0)] } }
        for split in spec.splits { for v in spec.ratios {
            let point = OperatingPoint(split: split, ratio: v)
            let prune = PruneStage.output(StageInstance(PruneStage.name, point), ctx)
            let tuned = FineTuneStage.output(StageInstance(FineTuneStage.name, point), ctx)
            let recovered = TrainRecoveryStage.output(StageInstance(TrainRecoveryStage.name, point), ctx)
            var ca = ReportRow(method: .caPruned, split: split, ratio: v)
            ca.accuracy = tuned?.training.testAccuracy
            ca.testImages = tuned?.training.testImages ?? (tuned == nil ? nil : testImages)
            ca.compressionRatio = Double(v)
            ca.deviceFlops = prune?.deviceFlops
            ca.sentChannels = prune?.kept.count
            ca.epochs = epochs.attention + epochs.fineTune
            ca.predictions = seeded(tuned?.training.predictions)
            rows.append(ca)
            var ae = ca
            ae.method = .aecnn
            ae.accuracy = recovered?.training.testAccuracy
            ae.testImages = recovered?.training.testImages ?? (recovered == nil ? nil : testImages)
            ae.epochs = epochs.attention + epochs.fineTune + epochs.recovery
            ae.bytesPerImage = prune.map { p in 4 * Double(p.transmittedShape.reduce(1, *)) }
            ae.predictions = seeded(recovered?.training.predictions)
            rows.append(ae)
            if spec.coding != nil, let coded = EncodeFeaturesStage.output(StageInstance(EncodeFeaturesStage.name, point), ctx) {
                for c in coded.rows {
                    var row = codedRow(c, method: .aecnnCoded, testImages: coded.testImages, epochs: ae.epochs)
                    row.deviceFlops = prune?.deviceFlops
                    row.sentChannels = prune?.kept.count
                    row.predictions = seeded(c.predictions)
                    rows.append(row)
                }
            }
            // The training-budget control: CA_Pruned at AECNN's epochs after pruning.
            if let matched = FineTuneMatchedStage.output(StageInstance(FineTuneMatchedStage.name, point), ctx) {
                var row = ca
                row.method = .caPrunedMatched
                row.accuracy = matched.training.testAccuracy
                row.testImages = matched.training.testImages ?? testImages
                row.epochs = epochs.attention + (matched.training.epochs ?? 0)   // after the base, as every row counts
                row.predictions = seeded(matched.training.predictions)
                rows.append(row)
            }
            // The control rankings' chains (aecnn.rank.methods): CA_Pruned, AECNN and coded rows tagged by ranking.
            for m in spec.aecnn.controlRankings {
                let tunedC = FineTuneStage.output(StageInstance(FineTuneStage.name, point, ranking: m), ctx)
                let recoveredC = TrainRecoveryStage.output(StageInstance(TrainRecoveryStage.name, point, ranking: m), ctx)
                var caC = ca, aeC = ae
                caC.ranking = m.rawValue; aeC.ranking = m.rawValue
                caC.accuracy = tunedC?.training.testAccuracy
                caC.testImages = tunedC?.training.testImages ?? (tunedC == nil ? nil : testImages)
                caC.predictions = seeded(tunedC?.training.predictions)
                aeC.accuracy = recoveredC?.training.testAccuracy
                aeC.testImages = recoveredC?.training.testImages ?? (recoveredC == nil ? nil : testImages)
                aeC.predictions = seeded(recoveredC?.training.predictions)
                rows += [caC, aeC]
                if spec.coding != nil, let coded = EncodeFeaturesStage.output(StageInstance(EncodeFeaturesStage.name, point, ranking: m), ctx) {
                    for c in coded.rows {
                        var row = codedRow(c, method: .aecnnCoded, testImages: coded.testImages, epochs: ae.epochs)
                        row.deviceFlops = prune?.deviceFlops; row.sentChannels = prune?.kept.count
                        row.ranking = m.rawValue
                        row.predictions = seeded(c.predictions)
                        rows.append(row)
                    }
                }
            }
            for c in bpp?.channels ?? [] {
                let out = TrainBottleNetPPStage.output(StageInstance(TrainBottleNetPPStage.name, point, variant: .channel(c)), ctx)
                // The channel's symbols: 32-bit floats noise-free or over AWGN, 8-bit over the erasure channel.
                let symbolBytes = c == .bec ? 1.0 : 4.0
                let conditions = out?.fields.accuracyAtConditions.map(\.condition) ?? bpp.map { $0.testConditions(c) } ?? [0]
                for cond in conditions {
                    var row = ReportRow(method: .bottleNetPP, split: split, ratio: v)
                    row.channel = c; row.condition = cond
                    row.accuracy = out?.fields.accuracyAtConditions.first { $0.condition == cond }?.accuracy
                    row.predictions = seeded(out?.fields.accuracyAtConditions.first { $0.condition == cond }?.predictions)
                    row.testImages = out == nil ? nil : (out?.training.testImages ?? testImages)
                    if let f = out?.fields {
                        row.compressionRatio = f.bandwidthReduction * 4 / symbolBytes
                        row.bytesPerImage = symbolBytes * Double(f.symbolsShape.reduce(1, *))
                        row.deviceFlops = f.deviceFlops
                        row.sentChannels = f.reducedChannels
                    }
                    row.epochs = (bpp?.frozenEpochs ?? 0) + epochs.bpp
                    rows.append(row)
                }
                // Its noise-free symbols through the pipeline's quantiser, coders and frames (encode-bottlenetpp).
                if spec.coding != nil, let coded = EncodeBottleNetPPStage.output(StageInstance(EncodeBottleNetPPStage.name, point, variant: .channel(c)), ctx) {
                    for k in coded.rows {
                        var row = codedRow(k, method: .bottleNetPP, testImages: coded.testImages, epochs: (bpp?.frozenEpochs ?? 0) + epochs.bpp)
                        row.channel = c; row.condition = 0
                        row.sentChannels = k.carriedShape.first
                        row.predictions = seeded(k.predictions)
                        rows.append(row)
                    }
                }
            }
            // The learned entropy bottleneck at each rate weight λ: accuracy and bytes through its range coder.
            for i in TrainEntropicStage.instances(spec) where i.split == split && i.ratio == v {
                guard case .rateWeight(let lambda)? = i.variant else { continue }
                let out = TrainEntropicStage.output(i, ctx)
                var row = ReportRow(method: .entropic, split: split, ratio: v)
                row.lambda = lambda
                row.accuracy = out?.training.testAccuracy
                row.testImages = out == nil ? nil : (out?.training.testImages ?? testImages)
                row.predictions = seeded(out?.training.predictions)
                row.bytesPerImage = out?.fields.bytesPerImage
                row.compressionRatio = out?.fields.compressionRatio
                row.deviceFlops = out?.fields.deviceFlops
                row.sentChannels = out?.fields.latentShape.first
                row.epochs = out?.training.epochs
                rows.append(row)
            }
            for q in bn?.qualities ?? [] {
                let out = TrainBottleNetStage.output(StageInstance(TrainBottleNetStage.name, point, variant: .jpegQuality(q)), ctx)
                var row = ReportRow(method: .bottleNet, split: split, ratio: v)
                row.quality = q
                row.accuracy = out?.training.testAccuracy
                row.predictions = seeded(out?.training.predictions)
                row.testImages = out == nil ? nil : (out?.training.testImages ?? testImages)
                row.bytesPerImage = out?.fields.bytesPerImage
                row.bytesPerImageTablesOutOfBand = out?.fields.bytesPerImageTablesOutOfBand
                row.compressionRatio = out?.fields.compressionRatio
                row.deviceFlops = out?.fields.deviceFlops
                row.sentChannels = out?.fields.reducedShape.first
                row.epochs = epochs.bn
                rows.append(row)
            }
        } }
        if base != nil { rows += try references(ctx, cache: referencesCache) }
        // The base model trained on for AECNN's epochs after the base, uncompressed.
        if let continued = TrainBaseContinuedStage.output(TrainBaseContinuedStage.instance, ctx) {
            var row = ReportRow(method: .baseContinued)
            row.accuracy = continued.training.testAccuracy
            row.testImages = continued.training.testImages ?? testImages
            row.epochs = continued.training.epochs
            row.predictions = seeded(continued.training.predictions)
            rows.append(row)
        }
        for k in rows.indices where rows[k].accuracy != nil { rows[k].n = 1 }

        var budgets = [TrainingBudget(method: .aecnn, epochsAfterBase: epochs.attention + epochs.fineTune + epochs.recovery,
                                      breakdown: "\(epochs.attention) attention + \(epochs.fineTune) fine-tune + \(epochs.recovery) recovery", matched: nil),
                       TrainingBudget(method: .caPruned, epochsAfterBase: epochs.attention + epochs.fineTune,
                                      breakdown: "\(epochs.attention) attention + \(epochs.fineTune) fine-tune", matched: nil)]
        if let bpp {
            budgets.append(TrainingBudget(method: .bottleNetPP, epochsAfterBase: bpp.frozenEpochs + epochs.bpp,
                                          breakdown: "\(bpp.frozenEpochs) frozen-backbone + \(epochs.bpp) joint",
                                          matched: spec.matchedBudgets.contains(TrainBottleNetPPStage.name)))
        }
        if spec.baselines?.entropic != nil {
            let e = spec.training(TrainEntropicStage.name)?.epochs ?? 0
            budgets.append(TrainingBudget(method: .entropic, epochsAfterBase: e, breakdown: "\(e) joint",
                                          matched: spec.matchedBudgets.contains(TrainEntropicStage.name)))
        }
        if bn != nil {
            budgets.append(TrainingBudget(method: .bottleNet, epochsAfterBase: epochs.bn, breakdown: "\(epochs.bn) joint",
                                          matched: spec.matchedBudgets.contains(TrainBottleNetStage.name)))
        }
        let measured = Set(rows.compactMap(\.testImages))
        var report = ComparisonReport(
            pipeline: spec.name, seeds: [spec.seed],
            layout: ReportLayout(splits: spec.splits, ratios: spec.ratios, codecs: spec.coding?.codecs ?? [], bits: spec.coding?.bits ?? [],
                                 channels: bpp?.channels ?? [], qualities: bn?.qualities ?? []),
            testImages: measured.count <= 1 ? (measured.first ?? testImages) : nil,
            trainImages: try ctx.trainImages().count, dataset: spec.dataset.kind.rawValue,
            model: "\(spec.model.arch.rawValue) width \(spec.model.width)",
            baseAccuracy: base?.training.testAccuracy, baseAccuracyStd: nil,
            baseModelSha256: StageRunner.record(TrainBaseStage.instance, ctx)?.outputsSha256, rows: rows, budgets: budgets,
            provenance: [RunProvenance(seed: spec.seed, version: ctx.buildVersion, cpu: Machine.cpuDescription,
                                       cores: ProcessInfo.processInfo.activeProcessorCount, threads: spec.threads,
                                       blasCore: BLAS.coreName, convKernels: Kernels.convKernelName)],
            stageTimes: stageTimes(ctx), pipelineText: ctx.pipelineText)
        try report.checkTestSets(names: [ctx.root.path])
        let paired = try report.pairedComparisons()
        report.paired = paired.isEmpty ? nil : paired
        return report
    }

    /// A report row of one coded configuration (encode-features or encode-bottlenetpp): its figures through
    /// the real link, whole frames as its bytes.
    static func codedRow(_ c: CodedRow, method: ReportMethod, testImages: Int, epochs: Int?) -> ReportRow {
        var row = ReportRow(method: method, split: c.split, ratio: c.ratio)
        row.codec = c.codec; row.bits = c.bits
        row.accuracy = c.accuracy
        row.testImages = testImages
        row.bitsPerElement = c.bitsPerElement
        row.bytesPerImage = c.frameBytesMean
        row.compressionRatio = c.compressionRatio
        row.compressionRatioFrame = c.compressionRatioFrame
        row.epochs = epochs
        return row
    }

    /// Every finished instance's wall time, with the CPU and the build that ran it (another sitting's, maybe).
    static func stageTimes(_ ctx: RunContext) -> [StageTime] {
        StageRunner.allInstances(ctx.spec).compactMap { inst -> StageTime? in
            guard inst.stage != CompareStage.name, let r = StageRunner.record(inst, ctx) else { return nil }
            let figures = try? ResultJSON.decoder().decode(TrainingFigures.self, from: SafeRead.contents(of: StageRunner.resultURL(inst, ctx), limit: SafeRead.recordLimit))
            return StageTime(seed: ctx.spec.seed, instance: inst.description, seconds: r.stageWallSeconds,
                             trainImagesPerSecond: figures?.trainImagesPerSecond, cpu: r.cpu, build: r.aecnnVersion)
        }
    }

    struct ReferenceCache: Codable {
        var baseOutputsSha256: String; var testImages: Int; var zstdLevel: Int; var splits: [String]; var frameVersion: Int?; var rows: [ReportRow]
        var inputJpegQualities: [Int]?
    }

    /// The reference rows, measured with the base model on the pipeline's test images (or read from `cache`).
    static func references(_ ctx: RunContext, cache: URL?) throws -> [ReportRow] {
        let test = try ctx.testImages()
        let level = ctx.spec.coding?.zstdLevel ?? 19
        let baseHash = StageRunner.record(TrainBaseStage.instance, ctx)?.outputsSha256 ?? "unknown"
        if let cache, let data = try? SafeRead.contents(of: cache, limit: SafeRead.recordLimit), let c = try? ResultJSON.decoder().decode(ReferenceCache.self, from: data),
           c.baseOutputsSha256 == baseHash, c.testImages == test.count, c.zstdLevel == level, c.splits == ctx.spec.splits,
           c.frameVersion == FeatureBitstream.compactVersion, c.rows.allSatisfy({ $0.predictions != nil }),
           c.inputJpegQualities == ctx.spec.inputJPEGQualities {
            return c.rows
        }
        let model = try TrainBaseStage.loadModel(ctx)
        model.setTraining(false)
        let norm = try ctx.normalization()
        // Frames name the base model by its weights (as encode-features names AECNN models), not by the pipeline.
        let baseID = "base@" + String(baseHash.prefix(12))
        var rows: [ReportRow] = []
        var pngBytes = 0
        for k in 0..<test.count {
            pngBytes += PNGEncoder.encode(pixels: Array(test.pixels[(k * test.imageSize)..<((k + 1) * test.imageSize)]),
                                          channels: test.channels, height: test.height, width: test.width).count
        }
        var baseCorrect = 0
        var basePredicted: [Int] = []
        var unused = RNG(seed: 0)
        for range in Batching.batchRanges(count: test.count, batchSize: 250) {
            let (x, labels) = try Batching.makeBatch(test, indices: range, normalization: norm, augmentation: nil, rng: &unused)
            GradMode.withoutGrad {
                let p = argmaxRows(model(Variable(x)).value)
                basePredicted += p
                for (p, y) in zip(p, labels) where p == Int(y) { baseCorrect += 1 }
            }
        }
        let seed = ctx.spec.seed
        let basePredictions = [SeedPredictions(seed: seed, predictions: try ctx.predictions(basePredicted))]
        let n = Double(max(test.count, 1))
        var png = ReportRow(method: .reference, reference: "input image as PNG")
        png.accuracy = Double(baseCorrect) / n
        png.bytesPerImage = Double(pngBytes) / n
        png.testImages = test.count
        png.predictions = basePredictions
        rows.append(png)
        // The input image as JPEG at each quality (the whole file, and with its tables shared out of band),
        // decoded and classified by the base model.
        for q in ctx.spec.inputJPEGQualities {
            var decoded = [UInt8](), bytes = 0, abbreviated = 0
            decoded.reserveCapacity(test.pixels.count)
            for k in 0..<test.count {
                let jpeg = try JPEGCodec.encode(planar: Array(test.pixels[(k * test.imageSize)..<((k + 1) * test.imageSize)]), channels: test.channels,
                                                width: test.width, height: test.height, quality: q)
                bytes += jpeg.count
                abbreviated += try JPEGCodec.tablesOutOfBandSize(jpeg)
                decoded += try JPEGCodec.decode(jpeg, channels: test.channels, width: test.width, height: test.height)
            }
            let images = try LabeledImages(channels: test.channels, height: test.height, width: test.width, pixels: decoded, labels: test.labels,
                                           classCount: test.classCount, source: "\(test.source), JPEG q\(q)")
            let e = try Trainer.evaluate(model, images, norm, batchSize: 250)
            var row = ReportRow(method: .reference, reference: "input image as JPEG")
            row.quality = q
            row.accuracy = e.accuracy
            row.bytesPerImage = Double(bytes) / n
            row.bytesPerImageTablesOutOfBand = Double(abbreviated) / n
            row.testImages = test.count
            row.predictions = [SeedPredictions(seed: seed, predictions: try ctx.predictions(e.predicted))]
            rows.append(row)
        }
        for split in ctx.spec.splits {
            var correct = 0, zstdBytes = 0, elements = 0
            var predicted: [Int] = []
            let q = try Quantizer(bits: 8, ranges: .perTensor)
            for range in Batching.batchRanges(count: test.count, batchSize: 250) {
                let (x, labels) = try Batching.makeBatch(test, indices: range, normalization: norm, augmentation: nil, rng: &unused)
                let f = try GradMode.withoutGrad { try model.forwardDevice(Variable(x), split: split).value }
                let per = f.count / labels.count
                elements = per
                let shape = FeatureShape(channels: f.shape[1], height: f.shape[2], width: f.shape[3])
                let context = FrameContext(modelID: baseID, splitPoint: split, shape: shape, channels: Array(0..<shape.channels))
                let received = Tensor(uninitialized: f.shape)
                let src = f.array
                for s in 0..<labels.count {
                    // A compact frame, as the AECNN links send.
                    var frame = try FeatureFrame(values: Array(src[(s * per)..<((s + 1) * per)]), shape: shape, modelID: baseID,
                                                 splitPoint: split, quantizer: q, codec: .zstd(level: level))
                    frame.header.version = FeatureBitstream.compactVersion
                    let bytes = try FeatureBitstream.encode(frame)
                    zstdBytes += bytes.count
                    let values = try FeatureBitstream.decode(bytes, contexts: [context]).dequantized()
                    for j in 0..<per { received.buffer[s * per + j] = values[j] }
                }
                let logits = try GradMode.withoutGrad { try model.forwardEdge(Variable(received), split: split).value }
                let p = argmaxRows(logits)
                predicted += p
                for (p, y) in zip(p, labels) where p == Int(y) { correct += 1 }
            }
            var raw = ReportRow(method: .reference, reference: "split tensor, float32", split: split)
            raw.accuracy = Double(baseCorrect) / n
            raw.bytesPerImage = Double(4 * elements)
            raw.compressionRatio = 1
            raw.testImages = test.count
            raw.predictions = basePredictions
            var coded = ReportRow(method: .reference, reference: "split tensor, 8-bit + zstd-\(level)", split: split)
            coded.accuracy = Double(correct) / n
            coded.bytesPerImage = Double(zstdBytes) / n
            coded.compressionRatio = Double(4 * elements) / (Double(zstdBytes) / n)
            coded.testImages = test.count
            coded.predictions = [SeedPredictions(seed: seed, predictions: try ctx.predictions(predicted))]
            rows += [raw, coded]
        }
        if let cache {
            try FileManager.default.createDirectory(at: cache.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(try ResultJSON.encoder().encode(ReferenceCache(baseOutputsSha256: baseHash, testImages: test.count, zstdLevel: level,
                                                                                splits: ctx.spec.splits, frameVersion: FeatureBitstream.compactVersion,
                                                                                rows: rows, inputJpegQualities: ctx.spec.inputJPEGQualities)), to: cache)
        }
        return rows
    }
}

/// The machine, as reports name it.
public enum Machine {
    /// "Intel(R) Xeon(R) Processor (family 6 model 207), 2 cores, avx512" from /proc/cpuinfo.
    public static var cpuDescription: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        func field(_ name: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix(name) && $0.dropFirst(name.count).trimmingCharacters(in: .whitespaces).hasPrefix(":") }
                .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
        }
        let name = field("model name") ?? "unknown CPU"
        let family = field("cpu family"), model = field("model")
        let flags = field("flags")?.split(separator: " ") ?? []
        let vector = flags.contains("avx512f") ? "AVX-512" : (flags.contains("avx2") ? "AVX2" : "no AVX2")
        return "\(name)" + (family.flatMap { f in model.map { " (family \(f) model \($0))" } } ?? "") + ", \(vector)"
    }
}
