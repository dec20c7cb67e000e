// `aecnn profile` and `aecnn plan`: measure every deployable configuration of a pipeline, then choose the
// most accurate one that meets a deadline on a given uplink (docs/cli.md).

import ArgumentParser
import Foundation
import CoInference
import TensorCore
import Autograd
import Datasets
import Pipeline
import Checkpoint
import EdgeServer

struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure device/edge compute, coding times and bytes of every coded configuration, local computing and full offload (batch 1).")
    @OptionGroup var options: PipelineOptions
    @Option(help: "Test images measured (the first N).") var images = 200
    @Option(help: "Device-side times are multiplied by this (2: a device half as fast as this machine).") var deviceSpeedFactor = 1.0
    @Option(help: "A running `aecnn serve` of this pipeline: measure the server's decode and edge times and the per-request protocol overhead there (over loopback, no link emulation).") var server: String?
    @Option(help: "With --server: requests per configuration.") var requests = 30

    func validate() throws {
        try OptionRange.check("images", images, OptionRange.images)
        try OptionRange.check("device-speed-factor", deviceSpeedFactor, 0.001...1000)
        try OptionRange.check("requests", requests, 1...100_000)
    }

    func run() throws {
        let ctx = try options.context()
        guard images >= 1, deviceSpeedFactor > 0 else { throw ValidationError("--images must be ≥ 1 and --device-speed-factor > 0") }
        var candidates = try Profiler.profile(ctx, images: images, deviceSpeedFactor: deviceSpeedFactor)
        if let server { try measureServer(server, ctx: ctx, candidates: &candidates) }
        try Profiler.save(candidates, images: images, deviceSpeedFactor: deviceSpeedFactor, ctx: ctx)
        print("configuration                     accuracy  device ms  encode ms   bytes (p99)   decode ms  edge ms  overhead ms")
        for c in candidates {
            print(c.id.padding(toLength: 32, withPad: " ", startingAt: 0)
                  + String(format: " %7.2f%%  %9.3f  %9.3f  %7.0f (%5.0f)  %9.3f  %7.3f  %11.3f", 100 * c.accuracy, c.deviceMs, c.encodeMs, c.bytes, c.bytesP99,
                           c.decodeMs, c.edgeMs, c.overheadMs))
        }
        print("saved \(Profiler.url(ctx).path)")
    }
}

extension Profile {
    /// Replaces decode and edge times by the server's own and adds the measured protocol overhead: the round
    /// trip minus the server's decode and compute, median over `requests` requests.
    func measureServer(_ server: String, ctx: RunContext, candidates: inout [PlanCandidate]) throws {
        let test = try ctx.testImages().subset(first: requests)
        let norm = try ctx.normalization()
        let (host, port) = try LinkClient.endpoint(server)
        func measure(_ path: String, _ bodies: [[UInt8]]) throws -> (decode: Double, compute: Double, overhead: Double, header: Double) {
            var d: [Double] = [], c: [Double] = [], o: [Double] = [], h: [Double] = []
            for body in bodies {
                let r = try LinkClient.request(server: server, method: "POST", path: path, body: body)
                guard r.status == 200, let answer = try? InferenceReply.decode(r.body) else {
                    throw ValidationError("\(server)\(path) answered \(r.status): \(String(decoding: r.body, as: UTF8.self)). Fix: serve this pipeline (aecnn serve --pipeline …)")
                }
                let sd = answer.serverDecodeMs, sc = answer.serverComputeMs
                d.append(sd); c.append(sc); o.append(r.seconds * 1000 - sd - sc)
                h.append(Double(LinkClient.requestHead(method: "POST", path: path, host: host, port: port, bodyCount: body.count).count))
            }
            return (median(d), median(c), median(o), h.reduce(0, +) / Double(max(h.count, 1)))
        }
        for k in candidates.indices {
            switch candidates[k].kind {
            case .local: continue
            case .fullOffload:
                let bodies = (0..<test.count).map { i in
                    PNGEncoder.encode(pixels: Array(test.pixels[(i * test.imageSize)..<((i + 1) * test.imageSize)]), channels: test.channels, height: test.height, width: test.width)
                }
                let m = try measure("/v1/infer-image", bodies)
                candidates[k].decodeMs = m.decode; candidates[k].edgeMs = m.compute; candidates[k].overheadMs = m.overhead
                candidates[k].headerBytes = m.header
            case .coInference:
                guard let config = candidates[k].configuration else { continue }
                let (l, model) = try deployedLink(ctx, config, pipelineFile: options.pipeline)
                var unused = RNG(seed: 0)
                let bodies = try (0..<test.count).map { i -> [UInt8] in
                    let (x, _) = try Batching.makeBatch(test, indices: i..<(i + 1), normalization: norm, augmentation: nil, rng: &unused)
                    return try l.encode(GradMode.withoutGrad { model.device(Variable(x)).value.array }).bytes
                }
                let m = try measure("/v1/infer", bodies)
                candidates[k].decodeMs = m.decode; candidates[k].edgeMs = m.compute; candidates[k].overheadMs = m.overhead
                candidates[k].headerBytes = m.header
            }
        }
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan",
        abstract: "Choose the most accurate configuration whose predicted completion time meets a deadline on an uplink (AECNN eq. 1–4).")
    @OptionGroup var options: PipelineOptions
    @Option(help: "Uplink rate in Mbit/s (3G 1.1, 4G 5.85, Wi-Fi 18.88 in the papers).") var uplinkMbps: Double
    @Option(help: "Deadline in ms.") var deadlineMs: Double
    @Option(help: "Round-trip time added to every transfer, ms.") var rttMs = 0.0
    @Option(help: "Bytes of the input image for full offload (default: the profiled PNG size).") var inputBytes: Double?
    @Flag(help: "Use p99 bytes instead of the mean.") var p99 = false
    @Option(help: "Write the completion-time figure (SVG, like the paper's Fig. 5) here.") var svg: String?

    func validate() throws {
        try OptionRange.check("uplink-mbps", uplinkMbps, OptionRange.mbps)
        try OptionRange.check("deadline-ms", deadlineMs, 0...86_400_000)
        try OptionRange.check("rtt-ms", rttMs, OptionRange.rttMs)
        if let inputBytes { try OptionRange.check("input-bytes", inputBytes, 1...1e9) }
    }

    func run() throws {
        let ctx = try options.context()
        guard uplinkMbps > 0, deadlineMs > 0, rttMs >= 0 else { throw ValidationError("--uplink-mbps and --deadline-ms must be > 0, --rtt-ms ≥ 0") }
        var candidates = try Profiler.load(ctx)
        if let b = inputBytes {
            for k in candidates.indices where candidates[k].kind == .fullOffload { candidates[k].bytes = b; candidates[k].bytesP99 = b }
        }
        let plan = Planner.plan(candidates, uplinkMbps: uplinkMbps, rttMs: rttMs, deadlineMs: deadlineMs, useP99: p99)
        print(plan.message)
        print("\nrank  configuration                     accuracy  predicted ms  meets")
        for (k, r) in plan.ranked.prefix(10).enumerated() {
            print(String(format: "%4d  ", k + 1) + r.candidate.id.padding(toLength: 32, withPad: " ", startingAt: 0)
                  + String(format: " %7.2f%%  %12.1f  %@", 100 * r.candidate.accuracy, r.ms, r.meets ? "yes" : "no"))
        }
        let file = svg.map { URL(fileURLWithPath: $0) } ?? Profiler.url(ctx).deletingLastPathComponent().appendingPathComponent("completion_time.svg")
        try AtomicFile.write(Data(Planner.figure(candidates, rttMs: rttMs, deadlineMs: deadlineMs,
                                                 title: "\(ctx.spec.name): completion time against uplink rate").utf8), to: file)
        FileHandle.standardError.write(Data("figure: \(file.path)\n".utf8))
        if plan.chosen == nil { throw ExitCode(3) }
    }
}
