// A model measured through the real link: each test image goes device half → quantiser → codec → frame bytes →
// decoder → dequantiser → edge half, for every codec × bit width, and each configuration gets a `CodedRow`:
// accuracy and per-image predictions; frame bytes per image (mean, p50, p99) and payload bytes; bits per sent
// element; compression ratio against the float32 split tensor (payload and whole frames); encode and decode
// time per image (one core); the order-0 entropy of the symbols. What `encode-features` measures for AECNN and
// `encode-bottlenetpp` for BottleNet++'s channel symbols, so that both are on one rate axis through the same
// quantiser, coders and frames.

import Foundation
import CoInference
import TensorCore
import Autograd
import Datasets
import FeatureCoding
import PipelineSpec

enum CodedMeasurement {
    struct Configuration {
        var codec: CodingSettings.Codec
        var bits: Int
        var link: FeatureLink
    }

    struct Tally {
        var frameBytes: [Int] = [], payloadBytes = 0, encodeSeconds = 0.0, decodeSeconds = 0.0
        var correct = 0, histogram = [Int](repeating: 0, count: 256)
        var predicted: [Int] = []
    }

    /// Measures every configuration on the pipeline's whole test set. `send` maps a normalised batch to what the
    /// device quantises and sends (`carriedShape` per image); `receive` maps what arrives (dequantised, same
    /// shape) to logits. `splitShape` is the float32 split tensor the ratios are against. Returns the rows and
    /// the accuracy without quantisation or coding.
    static func measure(_ name: String, ctx: RunContext, point: OperatingPoint, ranges: CodingSettings.RangeMode, configs: [Configuration],
                        carriedShape: [Int], splitShape: [Int], send: (Variable) -> Tensor, receive: (Tensor) -> Tensor) throws -> (rows: [CodedRow], floatAccuracy: Double) {
        let norm = try ctx.normalization()
        let test = try ctx.testImages()
        var tallies = [Tally](repeating: Tally(), count: configs.count)
        var floatCorrect = 0
        var unused = RNG(seed: 0)
        let per = carriedShape.reduce(1, *)
        let started = Date()
        for r in Batching.batchRanges(count: test.count, batchSize: 250) {
            let (x, labels) = try Batching.makeBatch(test, indices: r, normalization: norm, augmentation: nil, rng: &unused)
            let f = GradMode.withoutGrad { send(Variable(x)) }
            let n = labels.count
            GradMode.withoutGrad {
                for (p, y) in zip(argmaxRows(receive(f)), labels) where p == Int(y) { floatCorrect += 1 }
            }
            let src = f.array
            let perImage = (0..<n).map { s in Array(src[(s * per)..<((s + 1) * per)]) }   // once, for every configuration
            for (k, cfg) in configs.enumerated() {
                let received = Tensor(uninitialized: f.shape)
                let dst = received.buffer
                for s in 0..<n {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let (bytes, symbols) = try cfg.link.encode(perImage[s])
                    let t1 = DispatchTime.now().uptimeNanoseconds
                    let (decoded, frame) = try cfg.link.decode(bytes)
                    let t2 = DispatchTime.now().uptimeNanoseconds
                    guard frame.symbols == symbols else {
                        throw StageError.invalidSettings("\(cfg.link.codec) did not reproduce the symbols of test image \(r.lowerBound + s): a codec bug")
                    }
                    tallies[k].frameBytes.append(bytes.count)
                    tallies[k].payloadBytes += frame.payloadSize ?? bytes.count
                    tallies[k].encodeSeconds += Double(t1 - t0) / 1e9
                    tallies[k].decodeSeconds += Double(t2 - t1) / 1e9
                    for sym in symbols { tallies[k].histogram[Int(sym)] += 1 }
                    for j in 0..<per { dst[s * per + j] = decoded[j] }
                }
                GradMode.withoutGrad {
                    let p = argmaxRows(receive(received))
                    tallies[k].predicted += p
                    for (p, y) in zip(p, labels) where p == Int(y) { tallies[k].correct += 1 }
                }
            }
            ctx.log?(String(format: "%@: %d/%d test images, %.0f s", name, r.upperBound, test.count, Date().timeIntervalSince(started)))
        }

        let images = test.count
        let floatBitsPerImage = 32.0 * Double(splitShape.reduce(1, *))
        let floatAccuracy = Double(floatCorrect) / Double(max(images, 1))
        var rows: [CodedRow] = []
        for (k, cfg) in configs.enumerated() {
            let t = tallies[k]
            let sorted = t.frameBytes.sorted()
            func pct(_ p: Double) -> Int { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))] }
            let meanFrame = Double(sorted.reduce(0, +)) / Double(max(images, 1))
            let payloadBitsPerElement = 8.0 * Double(t.payloadBytes) / Double(max(images * per, 1))
            let total = t.histogram.reduce(0, +)
            let entropy = t.histogram.reduce(0.0) { acc, c in c == 0 ? acc : acc - Double(c) / Double(total) * log2(Double(c) / Double(total)) }
            // 32·C·H·W float bits over the payload bits of K·H'·W' elements (= V·32 / bits per element when K = C/V
            // at the split's own resolution).
            let sameResolution = Array(carriedShape.dropFirst()) == Array(splitShape.dropFirst())
            let ratio = sameResolution
                ? 32 * Double(splitShape[0]) / max(payloadBitsPerElement * Double(carriedShape[0]), 1e-12)
                : floatBitsPerImage / max(payloadBitsPerElement * Double(per), 1e-12)
            var row = CodedRow(
                split: point.split, ratio: point.ratio, codec: cfg.codec, codecId: cfg.link.codec.description, bits: cfg.bits, ranges: ranges,
                accuracy: Double(t.correct) / Double(max(images, 1)), floatAccuracy: floatAccuracy,
                frameBytesMean: meanFrame, frameBytesP50: pct(0.5), frameBytesP99: pct(0.99),
                payloadBytesMean: Double(t.payloadBytes) / Double(max(images, 1)),
                bitsPerElement: payloadBitsPerElement, order0EntropyBits: entropy,
                compressionRatio: ratio,
                compressionRatioFrame: floatBitsPerImage / max(8 * meanFrame, 1e-12),
                encodeMsPerImage: 1000 * t.encodeSeconds / Double(max(images, 1)),
                decodeMsPerImage: 1000 * t.decodeSeconds / Double(max(images, 1)),
                encodeMbPerS: Double(images * per) / max(t.encodeSeconds, 1e-12) / 1e6,
                decodeMbPerS: Double(images * per) / max(t.decodeSeconds, 1e-12) / 1e6,
                carriedShape: carriedShape, splitShape: splitShape)
            row.predictions = try ctx.predictions(t.predicted)
            rows.append(row)
        }
        return (rows, floatAccuracy)
    }
}
