// `aecnn bench`: training and inference throughput of ResNet-20 on 1×28×28 inputs, batch-1 latency, peak
// memory, and which BLAS kernels ran. Synthetic inputs (the speed of a step does not depend on pixel values).

import ArgumentParser
import Foundation
import TensorCore
import Autograd
import NN
import Models
import Pipeline
import PipelineSpec

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure training/inference speed of ResNet-20 on 1×28×28 inputs.")

    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Option(help: "Worker threads.") var threads = 2
    @Option(help: "Batch size for training and batched inference.") var batch = 128
    @Option(help: "Timed training steps (after warm-up).") var steps = 20
    @Option(help: "Warm-up steps.") var warmup = 3
    @Option(help: "Batch-1 latency samples.") var latencySamples = 200
    @Option(help: "Architecture.") var arch = "resnet20"

    func validate() throws {
        try OptionRange.check("threads", threads, 1...PipelineSpec.maxThreads)
        try OptionRange.check("batch", batch, 1...1024, " (a ResNet-20 training step holds about 2.5 MB per image)")
        try OptionRange.check("steps", steps, 1...100_000)
        try OptionRange.check("warmup", warmup, 0...10_000)
        try OptionRange.check("latency-samples", latencySamples, 1...1_000_000)
        guard Architecture(rawValue: arch) != nil else {
            throw ValidationError("unknown --arch \(arch). Fix: use one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        ProcessMemory.configureAllocatorForTraining()
        Parallel.threads = threads
        guard let architecture = Architecture(rawValue: arch) else { throw ValidationError("unknown --arch \(arch)") }
        let model = ResNet(architecture, inputChannels: 1, classes: 10, seed: 0)
        let opt = SGD(groups: [ParameterGroup(model.namedParameters(), weightDecay: 5e-4)], learningRate: 0.1, momentum: 0.9)
        var rng = RNG(seed: 0)
        let batches = (0..<4).map { _ in Tensor.randomNormal([batch, 1, 28, 28], std: 1, rng: &rng) }
        let labels = (0..<batch).map { _ in Int32(rng.int(below: 10)) }

        model.setTraining(true)
        for i in 0..<warmup { TrainStep.run(model, opt, x: batches[i % 4], labels: labels) }
        var stepTimes: [Double] = []
        for i in 0..<steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            TrainStep.run(model, opt, x: batches[i % 4], labels: labels)
            stepTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let trainIPS = Double(batch) / median(stepTimes)

        model.setTraining(false)
        for i in 0..<3 { _ = TrainStep.infer(model, x: batches[i % 4]) }
        var inferTimes: [Double] = []
        for i in 0..<max(5, steps / 2) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = TrainStep.infer(model, x: batches[i % 4])
            inferTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let inferIPS = Double(batch) / median(inferTimes)

        let one = Tensor.randomNormal([1, 1, 28, 28], std: 1, rng: &rng)
        for _ in 0..<20 { _ = TrainStep.infer(model, x: one) }
        var lat: [Double] = []
        for _ in 0..<latencySamples {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = TrainStep.infer(model, x: one)
            lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        let result: [String: Any] = [
            "arch": arch,
            "batch": batch,
            "train_images_per_second": round1(trainIPS),
            "infer_images_per_second": round1(inferIPS),
            "latency_batch1_ms": round3(median(lat)),
            "peak_rss_bytes": ProcessMemory.peakResidentBytes,
            "blas_core": BLAS.coreName,
            "conv_kernels": Kernels.convKernelName,
            "openblas_coretype_env": ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "",
            "threads": threads,
            "parameters": model.parameterCount,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for k in result.keys.sorted() { print(k.padding(toLength: 26, withPad: " ", startingAt: 0), result[k]!) }
        }
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}
func round1(_ x: Double) -> Double { (x * 10).rounded() / 10 }
func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
