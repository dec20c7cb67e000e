// Measurement, not a test: compressed size and single-core speed of every codec on the same symbols.
// The CLI prints the dictionary this returns. Speeds use the calling thread's CPU time (so other processes
// on a busy machine do not count against a codec); wall-clock figures are reported alongside. Compare
// codecs side by side within one run: absolute numbers drift between machines.

import Foundation

/// Benchmark of the feature-symbol codecs (zstd -1, zstd -19, adaptive order-0, context model).
public enum CoderBenchmark {
    /// The codecs measured, in report order.
    public static let codecs: [any SymbolCodec] = [
        ZstdSymbolCodec(level: 1), ZstdSymbolCodec(level: 19),
        ArithmeticSymbolCodec(model: .order0), ArithmeticSymbolCodec(model: .context3()),
        ArithmeticSymbolCodec(model: .context4()), ArithmeticSymbolCodec(model: .context()),
    ]

    /// Measures every codec on `symbols`.
    ///
    /// - Parameters:
    ///   - symbols: one or more tensors of `shape` back to back (e.g. a batch, image-major); each tensor is
    ///     encoded as its own payload, as a device would send it. Its length must be a non-zero multiple of
    ///     the shape's element count.
    ///   - shape: the shape of one tensor (`C × H × W`).
    ///   - bits: symbol width, 1 … 8.
    ///   - minSeconds: each encode/decode pass is repeated until it has run this long (at least once).
    ///   - codecs: the codecs to measure (default: all of `codecs`); `"vsZstd19"` needs zstd -19 among them.
    /// - Returns: `"elements"`, `"tensors"`, `"order0Entropy"` (bits/elem) and, per codec name,
    ///   a `[String: Any]` with `"bytes"`, `"bitsPerElement"`, `"encodeMBps"`, `"decodeMBps"`
    ///   (symbols per CPU second of the calling thread / 10^6, one byte per symbol), the same per wall-clock
    ///   second as `"encodeMBpsWall"`, `"decodeMBpsWall"`, `"vsZstd19"` (bytes ÷ zstd -19 bytes), and
    ///   `"roundTrip"` (Bool). On invalid arguments the dictionary holds only `"error"`.
    public static func run(symbols: [UInt8], shape: FeatureShape, bits: Int, minSeconds: Double = 0.3,
                           codecs: [any SymbolCodec] = CoderBenchmark.codecs) -> [String: Any] {
        guard let per = shape.elementCount, per > 0, symbols.count % per == 0, !symbols.isEmpty else {
            return ["error": "symbols.count \(symbols.count) is not a non-zero multiple of \(shape) elements"]
        }
        let tensors = symbols.count / per
        let chunks = (0..<tensors).map { Array(symbols[($0 * per)..<(($0 + 1) * per)]) }
        var result: [String: Any] = [
            "elements": symbols.count, "tensors": tensors, "shape": shape.description, "bits": bits,
            "order0Entropy": order0Entropy(symbols, alphabet: 1 << bits),
        ]
        var zstd19Bytes = 0
        var perCodec: [(String, [String: Any])] = []
        for codec in codecs {
            do {
                var payloads: [[UInt8]] = []
                let (encSeconds, encWall) = try timed(minSeconds) {
                    payloads = try chunks.map { try codec.encode($0, shape: shape, bits: bits) }
                }
                var decoded: [[UInt8]] = []
                let (decSeconds, decWall) = try timed(minSeconds) {
                    decoded = try payloads.map { try codec.decode($0, shape: shape, bits: bits) }
                }
                let bytes = payloads.reduce(0) { $0 + $1.count }
                if codec.name == "zstd-19" { zstd19Bytes = bytes }
                perCodec.append((codec.name, [
                    "bytes": bytes,
                    "bitsPerElement": Double(bytes * 8) / Double(symbols.count),
                    "encodeMBps": Double(symbols.count) / encSeconds / 1e6,
                    "decodeMBps": Double(symbols.count) / decSeconds / 1e6,
                    "encodeMBpsWall": Double(symbols.count) / encWall / 1e6,
                    "decodeMBpsWall": Double(symbols.count) / decWall / 1e6,
                    "roundTrip": decoded == chunks,
                ]))
            } catch {
                perCodec.append((codec.name, ["error": "\(error)"]))
            }
        }
        for (name, var r) in perCodec {
            if let b = r["bytes"] as? Int, zstd19Bytes > 0 { r["vsZstd19"] = Double(b) / Double(zstd19Bytes) }
            result[name] = r
        }
        return result
    }

    /// Speeds compared in interleaved rounds, for a host whose speed drifts within seconds (as this project's
    /// VMs do): after coding every tensor once with every codec (sizes, round trip), each of `rounds` rounds
    /// times one encode and one decode pass of every codec over the same `tensorsPerPass` tensors (the next
    /// ones of the file each round; the codecs' order rotating), so the codecs of one round share the host's
    /// state of that moment.
    ///
    /// - Returns: the keys of `run` (with `"encodeMBps"` / `"decodeMBps"` the best round), plus per codec
    ///   `"encodeMBpsMedian"`, `"decodeMBpsMedian"`, and `"encodeVsFirst"` / `"decodeVsFirst"`: the median over
    ///   the rounds of its speed divided by the first codec's in the same round. `"error"` alone on invalid
    ///   arguments or when a codec fails.
    public static func interleaved(symbols: [UInt8], shape: FeatureShape, bits: Int, codecs: [any SymbolCodec],
                                   rounds: Int, tensorsPerPass: Int = 200) -> [String: Any] {
        guard let per = shape.elementCount, per > 0, symbols.count % per == 0, !symbols.isEmpty, !codecs.isEmpty, rounds >= 1 else {
            return ["error": "symbols.count \(symbols.count) is not a non-zero multiple of \(shape) elements, or no codec or round"]
        }
        let tensors = symbols.count / per
        let chunks = (0..<tensors).map { Array(symbols[($0 * per)..<(($0 + 1) * per)]) }
        var result: [String: Any] = [
            "elements": symbols.count, "tensors": tensors, "shape": shape.description, "bits": bits,
            "order0Entropy": order0Entropy(symbols, alphabet: 1 << bits), "rounds": rounds,
        ]
        var payloads: [[[UInt8]]] = []
        var perCodec: [[String: Any]] = []
        var zstd19Bytes = 0
        for codec in codecs {
            do {
                let p = try chunks.map { try codec.encode($0, shape: shape, bits: bits) }
                let back = try p.map { try codec.decode($0, shape: shape, bits: bits) }
                let bytes = p.reduce(0) { $0 + $1.count }
                if codec.name == "zstd-19" { zstd19Bytes = bytes }
                payloads.append(p)
                perCodec.append(["bytes": bytes, "bitsPerElement": Double(bytes * 8) / Double(symbols.count), "roundTrip": back == chunks])
            } catch {
                return ["error": "\(codec.name): \(error)"]
            }
        }
        let pass = min(max(tensorsPerPass, 1), tensors)
        var enc = [[Double]](repeating: [], count: codecs.count), dec = enc
        do {
            for r in 0..<rounds {
                let indices = (0..<pass).map { (r * pass + $0) % tensors }
                let mb = Double(pass * per) / 1e6
                for j in codecs.indices {
                    let i = (j + r) % codecs.count
                    var t0 = threadCPUSeconds()
                    for k in indices { _ = try codecs[i].encode(chunks[k], shape: shape, bits: bits) }
                    enc[i].append(mb / max(threadCPUSeconds() - t0, 1e-9))
                    t0 = threadCPUSeconds()
                    for k in indices { _ = try codecs[i].decode(payloads[i][k], shape: shape, bits: bits) }
                    dec[i].append(mb / max(threadCPUSeconds() - t0, 1e-9))
                }
            }
        } catch {
            return ["error": "\(error)"]
        }
        for (i, codec) in codecs.enumerated() {
            var c = perCodec[i]
            c["encodeMBps"] = enc[i].max()!
            c["decodeMBps"] = dec[i].max()!
            c["encodeMBpsMedian"] = median(enc[i])
            c["decodeMBpsMedian"] = median(dec[i])
            c["encodeVsFirst"] = medianRatio(enc[i], enc[0])
            c["decodeVsFirst"] = medianRatio(dec[i], dec[0])
            if zstd19Bytes > 0, let b = c["bytes"] as? Int { c["vsZstd19"] = Double(b) / Double(zstd19Bytes) }
            result[codec.name] = c
        }
        return result
    }

    /// `run` repeated `repeats` times (each repetition measures every codec in turn): per codec the best
    /// speeds of the repetitions, and `"encodeVsFirst"` / `"decodeVsFirst"`, the median over the repetitions
    /// of its speed divided by the first codec's in the same repetition. `"error"` alone as `run`'s.
    public static func repeated(symbols: [UInt8], shape: FeatureShape, bits: Int, codecs: [any SymbolCodec],
                                repeats: Int) -> [String: Any] {
        var runs: [[String: Any]] = []
        for _ in 0..<max(1, repeats) {
            let r = run(symbols: symbols, shape: shape, bits: bits, codecs: codecs)
            if r["error"] != nil { return r }
            runs.append(r)
        }
        var best = runs[0]
        func speeds(_ name: String, _ key: String) -> [Double] {
            runs.map { ($0[name] as? [String: Any])?[key] as? Double ?? 0 }
        }
        for c in codecs {
            guard var b = best[c.name] as? [String: Any], b["error"] == nil else { continue }
            for k in ["encodeMBps", "decodeMBps", "encodeMBpsWall", "decodeMBpsWall"] { b[k] = speeds(c.name, k).max() }
            b["encodeVsFirst"] = medianRatio(speeds(c.name, "encodeMBps"), speeds(codecs[0].name, "encodeMBps"))
            b["decodeVsFirst"] = medianRatio(speeds(c.name, "decodeMBps"), speeds(codecs[0].name, "decodeMBps"))
            best[c.name] = b
        }
        return best
    }

    /// The median of `x` (0 when empty).
    static func median(_ x: [Double]) -> Double {
        let s = x.sorted()
        if s.isEmpty { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// The median of `x[i] / y[i]` over the pairs with `y[i] > 0` (0 when there are none).
    static func medianRatio(_ x: [Double], _ y: [Double]) -> Double {
        median(zip(x, y).filter { $0.1 > 0 }.map { $0.0 / $0.1 })
    }

    /// (thread CPU seconds, wall seconds) per call of `body`, repeating until `minSeconds` of CPU time have passed.
    private static func timed(_ minSeconds: Double, _ body: () throws -> Void) throws -> (Double, Double) {
        let clock = ContinuousClock()
        var reps = 0
        let start = clock.now
        let cpuStart = threadCPUSeconds()
        var cpu = 0.0
        repeat {
            try body()
            reps += 1
            cpu = threadCPUSeconds() - cpuStart
        } while cpu < minSeconds
        let d = clock.now - start
        let wall = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        return (max(cpu, 1e-9) / Double(reps), max(wall, 1e-9) / Double(reps))
    }

    private static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
