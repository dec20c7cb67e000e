// `aecnn serve`, `aecnn offload`, `aecnn bench-server`: the trained halves on two ends of a real HTTP
// connection (docs/cli.md, docs/serving.md).

import ArgumentParser
import Foundation
import CoInference
import TensorCore
import Autograd
import Datasets
import Pipeline
import FeatureCoding
import Checkpoint
import EdgeServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the edge halves of a pipeline's coded models over HTTP (POST /v1/infer, GET /v1/models, /health, /metrics).")
    @OptionGroup var options: PipelineOptions
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed at start).") var port = 8080
    @Option(help: "Serve only these configurations, split/V (repeatable), e.g. --only stem/16.") var only: [String] = []
    @Option(help: "Concurrent inferences; beyond it requests get 503 at once.") var maxInFlight = 8
    @Option(help: "Largest request body in bytes (a larger declared Content-Length is refused with 413 at once).") var maxBodyBytes = 4 << 20
    @Option(help: "Seconds a request body may take to arrive after its head (then 408).") var bodyTimeoutSeconds = 10.0

    func validate() throws {
        try OptionRange.check("port", port, 0...65_535)
        try OptionRange.check("max-in-flight", maxInFlight, 1...1024)
        try OptionRange.check("max-body-bytes", maxBodyBytes, 64...(1 << 30))
        try OptionRange.check("body-timeout-seconds", bodyTimeoutSeconds, 0.05...3600)
    }

    func run() async throws {
        let ctx = try options.context()
        let models = try loadEdgeModels(ctx, only: only)
        var o = EdgeServerOptions()
        o.host = host; o.port = port; o.maxInFlight = maxInFlight; o.maxBodyBytes = maxBodyBytes; o.bodyTimeoutSeconds = bodyTimeoutSeconds
        let ids = models.models.keys.sorted()
        try await EdgeHTTPServer.run(models, options: o) { bound in
            print("serving \(ids.count) model(s) of \(ctx.spec.name) on http://\(host):\(bound): \(ids.joined(separator: ", "))")
            fflush(stdout)
        }
    }
}

struct Offload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the device half here, send coded features to an edge server, report where the time goes.")
    @OptionGroup var options: PipelineOptions
    @Option(help: "The edge server, e.g. http://127.0.0.1:8080 (not needed with --mode local).") var server: String?
    @Option(help: "co-inference (default), local (the whole network here), full-offload (send the input image as PNG).") var mode = "co-inference"
    @Option(help: "split/V/codec/bits for co-inference, e.g. stem/16/arith-context/4.") var config: CodedConfiguration?
    @Option(name: .customLong("images"), help: "Test images to send (the first N of the pipeline's test set).") var count = 20
    @Option(help: "Emulated uplink rate in Mbit/s (3G 1.1, 4G 5.85, Wi-Fi 18.88).") var uplinkMbps: Double?
    @Option(help: "Emulated round-trip time in ms.") var rttMs = 0.0
    @Flag(help: "One JSON object per request and one for the total.") var json = false

    func validate() throws {
        try OptionRange.check("images", count, OptionRange.images)
        if let uplinkMbps { try OptionRange.check("uplink-mbps", uplinkMbps, OptionRange.mbps) }
        try OptionRange.check("rtt-ms", rttMs, OptionRange.rttMs)
    }

    func run() throws {
        let ctx = try options.context()
        Parallel.threads = 1
        guard ["co-inference", "local", "full-offload"].contains(mode) else { throw ValidationError("--mode is co-inference, local or full-offload") }
        if mode != "local" && server == nil { throw ValidationError("--server is needed for --mode \(mode)") }
        if mode != "co-inference" { return try runWhole(ctx) }
        guard let config, let server else { throw ValidationError("--config split/V/codec/bits is needed for co-inference") }
        let (link, model) = try deployedLink(ctx, config, pipelineFile: options.pipeline)
        let test = try ctx.testImages().subset(first: count)
        let norm = try ctx.normalization()
        var unused = RNG(seed: 0)
        // Untimed warm-up, as `aecnn profile` does (see `warmUp`).
        if test.count > 0 {
            let (x, _) = try Batching.makeBatch(test, indices: 0..<1, normalization: norm, augmentation: nil, rng: &unused)
            try warmUp { _ = try link.encode(GradMode.withoutGrad { model.device(Variable(x)).value.array }) }
        }
        var correct = 0
        var totals = [Double](repeating: 0, count: 5)   // device, encode, round trip, server decode, server compute
        var overshoot = 0.0
        var endToEnd: [Double] = []
        var bytesTotal = 0
        for k in 0..<test.count {
            let (x, labels) = try Batching.makeBatch(test, indices: k..<(k + 1), normalization: norm, augmentation: nil, rng: &unused)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let f = GradMode.withoutGrad { model.device(Variable(x)).value.array }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let (bytes, _) = try link.encode(f)
            let t2 = DispatchTime.now().uptimeNanoseconds
            let reply = try LinkClient.request(server: server, method: "POST", path: "/v1/infer", body: bytes,
                                               link: LinkEmulation(uplinkMbps: uplinkMbps, rttMs: rttMs))
            guard reply.status == 200, let answer = try? InferenceReply.decode(reply.body) else {
                throw ValidationError("the server answered \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
            }
            let device = Double(t1 - t0) / 1e6, encode = Double(t2 - t1) / 1e6, trip = reply.seconds * 1000
            let sdec = answer.serverDecodeMs, scomp = answer.serverComputeMs
            let predicted = answer.class
            if predicted == Int(labels[0]) { correct += 1 }
            totals[0] += device; totals[1] += encode; totals[2] += trip; totals[3] += sdec; totals[4] += scomp
            overshoot += reply.emulationOvershootSeconds * 1000
            bytesTotal += bytes.count
            let e2e = device + encode + trip
            endToEnd.append(e2e)
            if json {
                let line: [String: Any] = ["image": k, "label": Int(labels[0]), "class": predicted, "bytes": bytes.count, "device_ms": device,
                                           "encode_ms": encode, "round_trip_ms": trip, "server_decode_ms": sdec, "server_compute_ms": scomp, "end_to_end_ms": e2e]
                print(String(data: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), encoding: .utf8)!)
            } else {
                print(String(format: "image %4d  label %d  class %d  %5d B  device %.2f ms  encode %.2f ms  round trip %.2f ms (server decode %.2f, compute %.2f)  end to end %.2f ms",
                             k, Int(labels[0]), predicted, bytes.count, device, encode, trip, sdec, scomp, e2e))
            }
        }
        let n = Double(max(test.count, 1))
        let summary: [String: Any] = ["images": test.count, "accuracy": Double(correct) / n, "bytes_mean": Double(bytesTotal) / n,
                                      "device_ms_mean": totals[0] / n, "encode_ms_mean": totals[1] / n, "round_trip_ms_mean": totals[2] / n,
                                      "server_decode_ms_mean": totals[3] / n, "server_compute_ms_mean": totals[4] / n,
                                      "end_to_end_ms_mean": (totals[0] + totals[1] + totals[2]) / n,
                                      "end_to_end_ms_median": median(endToEnd), "emulation_overshoot_ms_mean": overshoot / n,
                                      "uplink_mbps": uplinkMbps ?? 0, "rtt_ms": rttMs]
        if json { print(String(data: try JSONSerialization.data(withJSONObject: ["total": summary], options: [.sortedKeys]), encoding: .utf8)!) }
        else {
            print(String(format: "%d images: accuracy %.2f %%, %.1f bytes each; mean device %.2f ms, encode %.2f ms, round trip %.2f ms (server decode %.2f, compute %.2f; link emulation late by %.2f), end to end %.2f ms (median %.2f)",
                         test.count, 100 * Double(correct) / n, Double(bytesTotal) / n, totals[0] / n, totals[1] / n, totals[2] / n, totals[3] / n, totals[4] / n,
                         overshoot / n, (totals[0] + totals[1] + totals[2]) / n, median(endToEnd)))
        }
    }
}

extension Offload {
    /// Local computing or full offload, on the same images and with the same report.
    func runWhole(_ ctx: RunContext) throws {
        let base = try TrainBaseStage.loadModel(ctx)
        base.setTraining(false)
        let test = try ctx.testImages().subset(first: count)
        let norm = try ctx.normalization()
        var unused = RNG(seed: 0)
        if mode == "local", test.count > 0 {   // untimed warm-up, as `aecnn profile` does
            let (x, _) = try Batching.makeBatch(test, indices: 0..<1, normalization: norm, augmentation: nil, rng: &unused)
            warmUp { _ = GradMode.withoutGrad { base(Variable(x)) } }
        }
        var correct = 0, bytesTotal = 0
        var totalDevice = 0.0, totalEncode = 0.0, totalTrip = 0.0, overshoot = 0.0
        var endToEnd: [Double] = []
        for k in 0..<test.count {
            let label = Int(test.labels[k])
            var predicted = -1, device = 0.0, encode = 0.0, trip = 0.0, bytes = 0
            if mode == "local" {
                let (x, _) = try Batching.makeBatch(test, indices: k..<(k + 1), normalization: norm, augmentation: nil, rng: &unused)
                let t0 = DispatchTime.now().uptimeNanoseconds
                let logits = GradMode.withoutGrad { base(Variable(x)).value.array }
                device = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                predicted = logits.firstIndex(of: logits.max()!)!
            } else {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let png = PNGEncoder.encode(pixels: Array(test.pixels[(k * test.imageSize)..<((k + 1) * test.imageSize)]),
                                            channels: test.channels, height: test.height, width: test.width)
                encode = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                bytes = png.count
                let reply = try LinkClient.request(server: server!, method: "POST", path: "/v1/infer-image", body: png,
                                                   link: LinkEmulation(uplinkMbps: uplinkMbps, rttMs: rttMs))
                guard reply.status == 200, let answer = try? InferenceReply.decode(reply.body) else {
                    throw ValidationError("the server answered \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
                }
                trip = reply.seconds * 1000
                overshoot += reply.emulationOvershootSeconds * 1000
                predicted = answer.class
            }
            if predicted == label { correct += 1 }
            totalDevice += device; totalEncode += encode; totalTrip += trip; bytesTotal += bytes
            endToEnd.append(device + encode + trip)
            if json {
                let line: [String: Any] = ["image": k, "label": label, "class": predicted, "bytes": bytes, "device_ms": device, "encode_ms": encode,
                                           "round_trip_ms": trip, "end_to_end_ms": device + encode + trip]
                print(String(data: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), encoding: .utf8)!)
            }
        }
        let n = Double(max(test.count, 1))
        let summary: [String: Any] = ["mode": mode, "images": test.count, "accuracy": Double(correct) / n, "bytes_mean": Double(bytesTotal) / n,
                                      "device_ms_mean": totalDevice / n, "encode_ms_mean": totalEncode / n, "round_trip_ms_mean": totalTrip / n,
                                      "end_to_end_ms_mean": (totalDevice + totalEncode + totalTrip) / n, "end_to_end_ms_median": median(endToEnd),
                                      "emulation_overshoot_ms_mean": overshoot / n,
                                      "uplink_mbps": uplinkMbps ?? 0, "rtt_ms": rttMs]
        if json { print(String(data: try JSONSerialization.data(withJSONObject: ["total": summary], options: [.sortedKeys]), encoding: .utf8)!) }
        else {
            print(String(format: "%@, %d images: accuracy %.2f %%, %.1f bytes each; mean device %.2f ms, encode %.2f ms, round trip %.2f ms (link emulation late by %.2f), end to end %.2f ms (median %.2f)",
                         mode, test.count, 100 * Double(correct) / n, Double(bytesTotal) / n, totalDevice / n, totalEncode / n, totalTrip / n,
                         overshoot / n, (totalDevice + totalEncode + totalTrip) / n, median(endToEnd)))
        }
    }
}

struct BenchServer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-server",
        abstract: "Load test: concurrent clients send frames to an edge server for a bounded time; a share may be malformed.")
    @Option(help: "The edge server.") var server: String
    @Option(help: "A frame file to send (from aecnn encode).") var frame: String
    @Option(help: "Concurrent clients.") var clients = 16
    @Option(help: "Seconds to run.") var seconds = 10.0
    @Option(help: "Share of requests that are malformed (a flipped byte, a truncation, or garbage), 0…1.") var malformed = 0.0

    func validate() throws {
        try OptionRange.check("clients", clients, 1...1024)
        try OptionRange.check("seconds", seconds, 0.1...3600)
        try OptionRange.check("malformed", malformed, 0...1)
    }
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        let good: [UInt8]
        do { good = [UInt8](try SafeRead.contents(of: URL(fileURLWithPath: frame), limit: FeatureBitstreamLimits().maxBytes)) } catch { throw ValidationError("\(error)") }
        guard clients >= 1, clients <= 256, seconds > 0, seconds <= 600, (0...1).contains(malformed) else {
            throw ValidationError("--clients 1…256, --seconds up to 600, --malformed 0…1")
        }
        let lock = NSLock()
        var latencies: [Double] = [], goodOK = 0, goodFailed = 0, badRejected = 0, badAccepted = 0, transportErrors = 0
        let deadline = Date().addingTimeInterval(seconds)
        DispatchQueue.concurrentPerform(iterations: clients) { c in
            var rng = RNG(seed: UInt64(c) &+ 1)
            while Date() < deadline {
                var body = good
                let bad = Double(rng.uniform()) < malformed
                if bad {
                    switch rng.int(below: 3) {
                    case 0: body[rng.int(below: body.count)] ^= UInt8(1 + rng.int(below: 255))
                    case 1: body = Array(body.prefix(rng.int(below: body.count)))
                    default: body = (0..<(1 + rng.int(below: 300))).map { _ in UInt8(rng.int(below: 256)) }
                    }
                }
                do {
                    let r = try LinkClient.request(server: server, method: "POST", path: "/v1/infer", body: body)
                    lock.lock()
                    if bad { if r.status >= 400 && r.status < 500 { badRejected += 1 } else { badAccepted += 1 } }
                    else if r.status == 200 { goodOK += 1; latencies.append(r.seconds * 1000) } else { goodFailed += 1 }
                    lock.unlock()
                } catch {
                    lock.lock(); transportErrors += 1; lock.unlock()
                }
            }
        }
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(p * Double(latencies.count - 1)))] }
        let result: [String: Any] = ["clients": clients, "seconds": seconds, "ok": goodOK, "well_formed_failed": goodFailed,
                                     "malformed_rejected_4xx": badRejected, "malformed_accepted": badAccepted, "transport_errors": transportErrors,
                                     "throughput_per_second": Double(goodOK) / seconds, "p50_ms": pct(0.5), "p99_ms": pct(0.99)]
        if json { print(String(data: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), encoding: .utf8)!) }
        else {
            print(String(format: "%d clients, %.0f s: %d ok (%.1f/s), p50 %.2f ms, p99 %.2f ms; well-formed failed %d; malformed rejected %d, accepted %d; transport errors %d",
                         clients, seconds, goodOK, Double(goodOK) / seconds, pct(0.5), pct(0.99), goodFailed, badRejected, badAccepted, transportErrors))
        }
        if goodFailed > 0 || transportErrors > 0 || badAccepted > 0 { throw ExitCode(1) }
    }
}

/// The edge models of a pipeline: every (split, V) whose encode-features stage is done (or those in `only`,
/// as "split/V"), and the base network for full offload.
func loadEdgeModels(_ ctx: RunContext, only: [String] = []) throws -> EdgeModels {
    guard ctx.spec.coding != nil else {
        throw StageError.invalidSettings("\(ctx.spec.name) has no coding: section: there is nothing to serve")
    }
    // An --only entry that is no configuration of this pipeline is a typo, not a stage still to run.
    let points = try EncodeFeaturesStage.aecnnInstances(ctx.spec).map { try $0.requirePoint() }
    let configurations = points.map { "\($0.split)/\($0.ratio)" }
    for name in only where !configurations.contains(name) {
        throw StageError.invalidSettings("--only \(name) is not a configuration of \(ctx.spec.name). Fix: use split/V from \(configurations.joined(separator: ", "))")
    }
    var deployed: [(model: DeployedModel, rows: [CodedRow])] = []
    for point in points {
        let inst = StageInstance(EncodeFeaturesStage.name, point)
        let name = "\(point.split)/\(point.ratio)"
        if !only.isEmpty && !only.contains(name) { continue }
        guard try StageRunner.state(inst, ctx) == .done else {
            if only.contains(name) {
                throw StageError.missingInput(stage: "serve", path: StageRunner.directory(inst, ctx).path, runFirst: inst.commandArguments + " --pipeline <file>")
            }
            continue
        }
        deployed.append((try DeployedModel.load(ctx, split: point.split, ratio: point.ratio),
                         try EncodeFeaturesStage.requireOutput(inst, ctx, for: "serve").rows))
    }
    guard !deployed.isEmpty else {
        throw StageError.missingInput(stage: "serve", path: ctx.root.path, runFirst: "encode-features --pipeline <file> (or aecnn run)")
    }
    let test = try ctx.testImages()
    return try EdgeModels(pipeline: ctx.spec.name, deployed: deployed, base: try TrainBaseStage.loadModel(ctx),
                          classNames: (try? ctx.datasetKindNames()) ?? [], inputShape: [test.channels, test.height, test.width],
                          normalization: try ctx.normalization(), threads: ctx.spec.threads)
}

