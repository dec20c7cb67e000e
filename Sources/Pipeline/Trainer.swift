// The training loop every training stage uses: epochs of shuffled, augmented batches; progress lines
// (epoch, step, loss, accuracy, images/s, ETA); JSON-lines metrics; test accuracy after each epoch; and a
// state checkpoint after each completed epoch (model, buffers, optimizer, step, RNG) from which the same
// command resumes. A resumed run ends bit-identical to an uninterrupted one at the same thread count and
// BLAS kernels: every random draw comes from one RNG whose state is saved, and evaluation draws none.

import Foundation
import TensorCore
import Autograd
import NN
import Datasets
import Checkpoint
import PipelineSpec

/// Result of a training run.
public struct TrainingOutcome: Sendable {
    public var testAccuracy: Double
    public var testLoss: Double
    public var epochs: Int
    public var resumedFromEpoch: Int
    public var wallSeconds: Double
    public var imagesPerSecond: Double
    /// Each test image's predicted class after the last epoch.
    public var predicted: [Int] = []
}

public final class Trainer {
    public let stage: String
    public let directory: URL
    public let settings: TrainingSettings
    public let seed: UInt64
    public var log: ((String) -> Void)?
    /// Seconds between progress lines.
    public var progressInterval: Double = 5
    /// Test hook: stop (as if killed) after this many optimizer steps in this process.
    public var stopAfterSteps: Int?
    /// Identifies the settings and inputs of this run; saved progress with another fingerprint is discarded.
    public var fingerprint = ""

    private let store: CheckpointStore
    private var metricsURL: URL { directory.appendingPathComponent("metrics.jsonl") }

    public init(stage: String, directory: URL, settings: TrainingSettings, seed: UInt64, log: ((String) -> Void)?) {
        self.stage = stage
        self.directory = directory
        self.settings = settings
        self.seed = seed
        self.log = log
        self.store = CheckpointStore(directory: directory.appendingPathComponent("state", isDirectory: true))
    }

    public struct Interrupted: Error {}

    /// Build the optimizer for `model` from the settings, over the trainable parameters only.
    public static func makeOptimizer(_ settings: TrainingSettings, parameters: [(String, Variable)]) throws -> Optimizer {
        // Every `trainable` prefix must name some parameter: a misspelt one would silently train nothing.
        for prefix in settings.trainable where !parameters.contains(where: { $0.0.hasPrefix(prefix) }) {
            let roots = Array(Set(parameters.map { String($0.0.prefix { $0 != "." }) + "." })).sorted()
            throw StageError.invalidSettings("trainable: '\(prefix)' matches no parameter of the model. Fix: use prefixes of its parameter names, e.g. \(roots.joined(separator: ", "))")
        }
        let trainable = parameters.filter { settings.trains(parameter: $0.0) }
        for (name, p) in parameters { p.requiresGrad = settings.trains(parameter: name) }
        switch settings.optimizer {
        case .sgd(let s):
            return SGD(groups: [ParameterGroup(trainable, weightDecay: Float(s.weightDecay))],
                       learningRate: Float(s.lr), momentum: Float(s.momentum), nesterov: s.nesterov)
        case .adam(let a):
            return Adam(groups: [ParameterGroup(trainable, weightDecay: Float(a.weightDecay))],
                        learningRate: Float(a.lr), beta1: Float(a.beta1), beta2: Float(a.beta2), eps: Float(a.eps))
        }
    }

    public static func baseLearningRate(_ s: TrainingSettings) -> Float {
        switch s.optimizer { case .sgd(let o): return Float(o.lr); case .adam(let o): return Float(o.lr) }
    }

    public static func schedule(_ s: TrainingSettings, totalSteps: Int, stepsPerEpoch: Int) -> LearningRateSchedule {
        switch s.schedule {
        case .constant: return .constant
        case .cosine(let minLR): return .cosine(totalSteps: totalSteps, minimum: Float(minLR))
        case .step(let milestones, let gamma): return .step(milestones: milestones.map { $0 * stepsPerEpoch }, gamma: Float(gamma))
        }
    }

    /// Train `model` (its `forward` gives logits) on `train`, evaluating on `test` after every epoch.
    /// Resumes from the newest complete epoch checkpoint in `directory/state` if there is one.
    public func run(model: Module, train: LabeledImages, test: LabeledImages, normalization: Normalization,
                    augmentation: Augmentation?) throws -> TrainingOutcome {
        let parameters = model.namedParameters()
        let optimizer = try Trainer.makeOptimizer(settings, parameters: parameters)
        let batchSize = settings.batchSize
        let stepsPerEpoch = (train.count + batchSize - 1) / batchSize
        let totalSteps = stepsPerEpoch * settings.epochs
        let schedule = Trainer.schedule(settings, totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
        let baseLR = Trainer.baseLearningRate(settings)
        var rng = RNG(seed: seed)
        var startEpoch = 0

        if let (epoch, state) = try newestState() {
            try model.loadState(state.modelTensors)
            try optimizer.loadState(state.optimizerTensors, stepCount: state.step)
            rng = try RNG(stateWords: state.rngWords)
            startEpoch = epoch
            try truncateMetrics(afterEpoch: epoch, epochLine: state.epochLine)
            log?("\(stage): resuming after epoch \(epoch)/\(settings.epochs) (step \(state.step))")
        } else {
            try? FileManager.default.removeItem(at: metricsURL)
        }

        let started = Date()
        var imagesSeen = 0, trainSeconds = 0.0
        var stepsThisProcess = 0
        var last = (accuracy: 0.0, loss: 0.0, predicted: [Int]())
        if startEpoch == settings.epochs { last = try evaluate(model, test, normalization) }

        for epoch in startEpoch..<settings.epochs {
            model.setTraining(true)
            let order = Batching.epochOrder(count: train.count, shuffle: true, rng: &rng)
            var lossSum = 0.0, correct = 0, seen = 0
            var windowStart = Date(), windowImages = 0
            for (b, range) in Batching.batchRanges(count: train.count, batchSize: batchSize).enumerated() {
                let step = epoch * stepsPerEpoch + b
                let (x, labels) = try Batching.makeBatch(train, indices: order[range], normalization: normalization,
                                                         augmentation: augmentation, rng: &rng)
                optimizer.learningRate = schedule.learningRate(base: baseLR, step: step)
                let t0 = Date()
                let r = TrainStep.run(model, optimizer, x: x, labels: labels)
                trainSeconds += Date().timeIntervalSince(t0)
                guard r.loss.isFinite else {
                    throw StageError.invalidSettings("\(stage): the loss became \(r.loss) at epoch \(epoch + 1) step \(b + 1); lower the learning rate")
                }
                lossSum += Double(r.loss) * Double(labels.count)
                correct += r.correct
                seen += labels.count
                imagesSeen += labels.count
                windowImages += labels.count
                stepsThisProcess += 1
                let now = Date()
                if now.timeIntervalSince(windowStart) >= progressInterval || b == stepsPerEpoch - 1 {
                    let ips = Double(windowImages) / max(1e-9, now.timeIntervalSince(windowStart))
                    let remaining = Double(totalSteps - step - 1) * Double(batchSize) / max(1, ips)
                    log?(String(format: "%@ epoch %d/%d step %d/%d loss %.4f acc %.2f%% lr %.4g %.0f img/s ETA %@",
                                stage, epoch + 1, settings.epochs, b + 1, stepsPerEpoch, lossSum / Double(seen),
                                100 * Double(correct) / Double(seen), Double(optimizer.learningRate), ips, Trainer.clock(remaining)))
                    try appendMetrics(["event": "step", "stage": stage, "epoch": epoch + 1, "step": step + 1,
                                       "loss": lossSum / Double(seen), "train_accuracy": Double(correct) / Double(seen),
                                       "lr": Double(optimizer.learningRate), "images_per_second": ips])
                    windowStart = now; windowImages = 0
                }
                if let stop = stopAfterSteps, stepsThisProcess >= stop { throw Interrupted() }
            }
            last = try evaluate(model, test, normalization)
            // The epoch's line travels in the saved state too: a process killed after the state is saved but
            // before the line reaches metrics.jsonl gets it back on resume (`truncateMetrics`).
            let epochLine = try metricsLine(["event": "epoch", "stage": stage, "epoch": epoch + 1, "train_loss": lossSum / Double(seen),
                                             "train_accuracy": Double(correct) / Double(seen), "test_accuracy": last.accuracy,
                                             "test_loss": last.loss, "elapsed_seconds": Date().timeIntervalSince(started),
                                             "peak_rss_bytes": ProcessMemory.peakResidentBytes])
            try saveState(epoch: epoch + 1, model: model, optimizer: optimizer, rng: rng, epochLine: epochLine)
            try AtomicFile.appendLine(epochLine, to: metricsURL)
            log?(String(format: "%@ epoch %d/%d done: train loss %.4f acc %.2f%%, test acc %.2f%% loss %.4f",
                        stage, epoch + 1, settings.epochs, lossSum / Double(seen), 100 * Double(correct) / Double(seen),
                        100 * last.accuracy, last.loss))
        }
        return TrainingOutcome(testAccuracy: last.accuracy, testLoss: last.loss, epochs: settings.epochs,
                               resumedFromEpoch: startEpoch, wallSeconds: Date().timeIntervalSince(started),
                               imagesPerSecond: trainSeconds > 0 ? Double(imagesSeen) / trainSeconds : 0, predicted: last.predicted)
    }

    /// Accuracy, mean loss and each image's predicted class on `images` in inference mode.
    public func evaluate(_ model: Module, _ images: LabeledImages, _ normalization: Normalization) throws -> (accuracy: Double, loss: Double, predicted: [Int]) {
        try Trainer.evaluate(model, images, normalization, batchSize: settings.evalBatchSize)
    }

    public static func evaluate(_ model: Module, _ images: LabeledImages, _ normalization: Normalization,
                                batchSize: Int) throws -> (accuracy: Double, loss: Double, predicted: [Int]) {
        let wasTraining = model.isTraining
        model.setTraining(false)
        defer { model.setTraining(wasTraining) }
        var correct = 0, lossSum = 0.0
        var predicted: [Int] = []
        predicted.reserveCapacity(images.count)
        var unused = RNG(seed: 0)
        for range in Batching.batchRanges(count: images.count, batchSize: batchSize) {
            let (x, labels) = try Batching.makeBatch(images, indices: range, normalization: normalization, augmentation: nil, rng: &unused)
            GradMode.withoutGrad {
                let logits = model(Variable(x))
                lossSum += Double(softmaxCrossEntropy(logits, labels: labels).value[0]) * Double(labels.count)
                let p = argmaxRows(logits.value)
                predicted += p
                for (p, y) in zip(p, labels) where p == Int(y) { correct += 1 }
            }
        }
        return (Double(correct) / Double(max(1, images.count)), lossSum / Double(max(1, images.count)), predicted)
    }

    // MARK: - State checkpoints

    struct SavedState {
        var modelTensors: [String: Tensor]
        var optimizerTensors: [String: Tensor]
        var step: Int
        var rngWords: [UInt64]
        /// The epoch's line of metrics.jsonl (states saved before it was kept have none).
        var epochLine: String?
    }

    static func stateName(_ epoch: Int) -> String { String(format: "epoch-%04d", epoch) }

    func saveState(epoch: Int, model: Module, optimizer: Optimizer, rng: RNG, epochLine: String? = nil) throws {
        var tensors = model.stateTensors().map { NamedTensor("model." + $0.0, $0.1) }
        tensors += optimizer.stateTensors().map { NamedTensor("optimizer." + $0.0, $0.1) }
        tensors.append(NamedTensor("rng", .vector(rng.stateWords)))
        try store.save(Trainer.stateName(epoch), kind: "training-state", tensors: tensors,
                       metadata: ["stage": .string(stage), "epoch": .int(epoch), "step": .int(optimizer.stepCount),
                                  "epochs": .int(settings.epochs), "threads": .int(Parallel.threads),
                                  "blas_core": .string(BLAS.coreName),
                                  "conv_kernels": .string(Kernels.convKernelName), "fingerprint": .string(fingerprint)]
                           .merging(epochLine.map { ["epoch_metrics": .string($0)] } ?? [:]) { a, _ in a })
        // Older states are superseded only once the new one is complete.
        for name in try store.names() where name != Trainer.stateName(epoch) { try? store.remove(name) }
    }

    /// The newest state that verifies, with its epoch; a corrupt newer state is reported and skipped.
    func newestState() throws -> (Int, SavedState)? {
        guard FileManager.default.fileExists(atPath: store.directory.path) else { return nil }
        let names = try store.names().filter { $0.hasPrefix("epoch-") }.sorted(by: >)
        for name in names {
            do {
                let loaded = try store.load(name)
                guard let epoch = loaded.manifest.metadata["epoch"]?.intValue,
                      let step = loaded.manifest.metadata["step"]?.intValue,
                      case .u64(let words, _)? = loaded.contents["rng"] else { continue }
                if loaded.manifest.metadata["fingerprint"]?.stringValue != fingerprint
                    || loaded.manifest.metadata["epochs"]?.intValue != settings.epochs {
                    log?("\(stage): saved progress \(name) was made with other settings or inputs; starting over")
                    clearState()
                    return nil
                }
                var model: [String: Tensor] = [:], opt: [String: Tensor] = [:]
                for t in loaded.contents.tensors {
                    guard case .f32(let tensor) = t.payload else { continue }
                    if t.name.hasPrefix("model.") { model[String(t.name.dropFirst(6))] = tensor }
                    else if t.name.hasPrefix("optimizer.") { opt[String(t.name.dropFirst(10))] = tensor }
                }
                return (epoch, SavedState(modelTensors: model, optimizerTensors: opt, step: step, rngWords: words,
                                          epochLine: loaded.manifest.metadata["epoch_metrics"]?.stringValue))
            } catch let e as CheckpointError {
                log?("\(stage): ignoring unusable saved state \(name): \(e)")
            }
        }
        return nil
    }

    /// Remove the saved progress (after the stage has published its outputs).
    public func clearState() { try? FileManager.default.removeItem(at: store.directory) }

    // MARK: - Metrics

    func metricsLine(_ fields: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
    }

    func appendMetrics(_ fields: [String: Any]) throws { try AtomicFile.appendLine(try metricsLine(fields), to: metricsURL) }

    /// After a resume from the state of `epoch`, drop metric lines from epochs that will be run again (and a line
    /// cut short by a kill), and put back the epoch's own line from the state when the kill came before it was
    /// written.
    func truncateMetrics(afterEpoch epoch: Int, epochLine: String? = nil) throws {
        let text = (try? SafeRead.contents(of: metricsURL, limit: SafeRead.recordLimit)).map { String(decoding: $0, as: UTF8.self) }
        guard text != nil || epochLine != nil else { return }
        var hasEpochLine = false
        var kept = (text ?? "").split(separator: "\n").filter { line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let e = obj["epoch"] as? Int else { return false }
            if e == epoch, obj["event"] as? String == "epoch" { hasEpochLine = true }
            return e <= epoch
        }
        if !hasEpochLine, let epochLine { kept.append(Substring(epochLine)) }
        try AtomicFile.write(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: metricsURL)
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
