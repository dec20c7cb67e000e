// `aecnn export-features`: the split tensor of the trained base model for the first N test images, uniformly
// quantised to 8 bits (or `--bits`) over [0, max] (max over all exported images: one fixed range, as a calibrated
// quantiser would use), written as raw bytes (image-major, then C×H×W) with a JSON sidecar describing it.
// For analysing features with other tools, and for measuring coders on real data.

import ArgumentParser
import Foundation
import TensorCore
import Autograd
import Datasets
import Pipeline
import Checkpoint
import FeatureCoding

struct ExportFeatures: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export-features",
        abstract: "Write the base model's split-point features of test images as 8-bit (or --bits) symbols (raw) plus a JSON description.")

    @OptionGroup var options: PipelineOptions
    @Option(help: "Split point.") var split = "stem"
    @Option(name: .customLong("images"), help: "Test images (the first N).") var count = 1000
    @Option(help: "Output file (raw UInt8); a .json sidecar is written next to it.") var out: String
    @Option(help: "Quantiser width, 1…8: symbols 0 … 2^bits − 1 over [0, max].") var bits = 8

    func validate() throws {
        guard (1...8).contains(bits) else { throw ValidationError("--bits \(bits) is not in 1…8. Fix: choose a width from 1 to 8") }
        try OptionRange.check("images", count, OptionRange.images)
    }

    func run() throws {
        let ctx = try options.context()
        Parallel.threads = ctx.spec.threads
        let model = try TrainBaseStage.loadModel(ctx)
        model.setTraining(false)
        let test = try ctx.testImages().subset(first: count)
        var unused = RNG(seed: 0)
        var features: [Tensor] = []
        for r in Batching.batchRanges(count: test.count, batchSize: 250) {
            let (x, _) = try Batching.makeBatch(test, indices: r, normalization: try ctx.normalization(), augmentation: nil, rng: &unused)
            features.append(try GradMode.withoutGrad { try model.forwardDevice(Variable(x), split: split).value })
        }
        var maxValue: Float = 0
        for f in features { for i in 0..<f.count { maxValue = max(maxValue, f[i]) } }
        let top = Float((1 << bits) - 1)
        let scale = maxValue > 0 ? top / maxValue : 0
        var bytes = [UInt8]()
        bytes.reserveCapacity(features.reduce(0) { $0 + $1.count })
        for f in features { for i in 0..<f.count { bytes.append(UInt8(min(top, max(0, (f[i] * scale).rounded())))) } }
        try AtomicFile.write(bytes, to: URL(fileURLWithPath: out))
        let shape = Array(features[0].shape.dropFirst())
        let meta: [String: Any] = ["pipeline": ctx.spec.name, "split": split, "images": test.count, "shape": shape,
                                   "dtype": "uint8", "layout": "image-major, then C×H×W",
                                   "quantization": ["bits": bits, "lo": 0, "hi": Double(maxValue)]]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted]),
                             to: URL(fileURLWithPath: out + ".json"))
        print("wrote \(bytes.count) bytes (\(test.count) × \(shape)) to \(out); range [0, \(maxValue)]")
    }
}

/// `aecnn bench-coders`: every codec on features written by `export-features` (each image its own payload),
/// one core: bits per element, ratio to zstd -19, encode/decode MB/s (symbols per CPU second), and each codec's
/// speed relative to the first one measured, as the median over the repetitions of the ratio within one
/// repetition — on a host whose speed drifts, that ratio is steadier than either codec's best.
struct BenchCoders: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-coders",
        abstract: "Measure the feature coders on an export-features file: size, ratio to zstd -19, encode/decode MB/s.")

    @Argument(help: "A file written by `aecnn export-features` (its .json sidecar is read too).") var input: String
    @Option(help: "Best of this many repetitions (the least disturbed run on a shared machine); each repetition measures every codec in turn.") var repeats = 3
    @Option(help: "Instead of --repeats: this many interleaved rounds, each an encode and a decode pass of every codec over the same 200 tensors (steadier relative speeds on a drifting host).") var rounds = 0
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Option(name: .customLong("codec"), help: "Measure only this codec (repeatable): \(CoderBenchmark.codecs.map(\.name).joined(separator: ", ")).")
    var only: [String] = []

    func run() throws {
        let (best, codecs) = try measure()
        if json {
            print(String(data: try JSONSerialization.data(withJSONObject: best, options: [.sortedKeys]), encoding: .utf8)!)
            return
        }
        let how = rounds > 0 ? "best of \(rounds) interleaved rounds" : "best of \(repeats)"
        print("\(best["tensors"] ?? 0) tensors of \(best["shape"] ?? "?"), \(best["bits"] ?? "?") bits, order-0 entropy "
              + String(format: "%.3f", best["order0Entropy"] as? Double ?? 0) + " bits/element; \(how), one core; "
              + "speed × \(codecs[0].name): median over the \(rounds > 0 ? "rounds" : "repetitions")")
        print("codec            bits/elem  vs zstd-19  encode MB/s  decode MB/s  encode ×  decode ×")
        for c in codecs {
            guard let r = best[c.name] as? [String: Any] else { continue }
            print(c.name.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + String(format: " %9.3f  ", r["bitsPerElement"] as? Double ?? 0)
                  + ((r["vsZstd19"] as? Double).map { String(format: "%10.3f", $0) } ?? "       n/a")
                  + String(format: "  %11.1f  %11.1f  %8.2f  %8.2f", r["encodeMBps"] as? Double ?? 0, r["decodeMBps"] as? Double ?? 0,
                           r["encodeVsFirst"] as? Double ?? 0, r["decodeVsFirst"] as? Double ?? 0))
        }
    }

    /// The benchmark's dictionary (`CoderBenchmark.repeated`, or `.interleaved` with `--rounds`) and the
    /// codecs in report order.
    func measure() throws -> ([String: Any], [any SymbolCodec]) {
        let unknown = only.filter { n in !CoderBenchmark.codecs.contains { $0.name == n } }
        guard unknown.isEmpty else {
            throw ValidationError("unknown codec \(unknown.joined(separator: ", ")). Fix: choose from \(CoderBenchmark.codecs.map(\.name).joined(separator: ", "))")
        }
        // In the order given (the first is the reference of the relative speeds), each once.
        var seen = Set<String>()
        let codecs = only.isEmpty ? CoderBenchmark.codecs
            : only.filter { seen.insert($0).inserted }.map { n in CoderBenchmark.codecs.first { $0.name == n }! }
        let metaURL = URL(fileURLWithPath: input + ".json")
        guard let metaData = try? SafeRead.contents(of: metaURL, limit: SafeRead.recordLimit),
              let meta = try? JSONSerialization.jsonObject(with: metaData) as? [String: Any],
              let shape = meta["shape"] as? [Int], shape.count == 3 else {
            throw ValidationError("\(metaURL.path) is missing or has no shape [C, H, W]. Fix: write the features with `aecnn export-features --out \(input)`")
        }
        let bytes: Data
        do { bytes = try SafeRead.contents(of: URL(fileURLWithPath: input), limit: 4 << 30) } catch { throw ValidationError("\(error)") }
        let quantization = meta["quantization"] as? [String: Any]
        let bits = quantization?["bits"] as? Int ?? 8
        guard (1...8).contains(bits) else {
            throw ValidationError("\(metaURL.path): quantization.bits \(bits) is not in 1…8. Fix: write the features with `aecnn export-features --out \(input)`")
        }
        if bits < 8, let i = bytes.firstIndex(where: { Int($0) >> bits != 0 }) {
            throw ValidationError("\(input): symbol \(i) is \(bytes[i]), not below 2^\(bits) as \(metaURL.lastPathComponent) says. Fix: correct quantization.bits in the sidecar")
        }
        let fshape = FeatureShape(channels: shape[0], height: shape[1], width: shape[2])
        let r = rounds > 0
            ? CoderBenchmark.interleaved(symbols: [UInt8](bytes), shape: fshape, bits: bits, codecs: codecs, rounds: rounds)
            : CoderBenchmark.repeated(symbols: [UInt8](bytes), shape: fshape, bits: bits, codecs: codecs, repeats: repeats)
        if let e = r["error"] { throw ValidationError("\(input): \(e)") }
        return (r, codecs)
    }
}
