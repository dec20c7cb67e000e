// `aecnn profile` and `aecnn plan`: measure every deployable configuration of a pipeline, then choose the
// most accurate one that meets a deadline on a given uplink (docs/cli.md).

import ArgumentParser
import Foundation
import Pipeline
import Checkpoint

struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure device/edge compute, coding times and bytes of every coded configuration, local computing and full offload (batch 1).")
    @OptionGroup var options: PipelineOptions
    @Option(help: "Test images measured (the first N).") var images = 200
    @Option(help: "Device-side times are multiplied by this (2: a device half as fast as this machine).") var deviceSpeedFactor = 1.0

    func run() throws {
        let ctx = try options.context()
        guard images >= 1, deviceSpeedFactor > 0 else { throw ValidationError("--images must be ≥ 1 and --device-speed-factor > 0") }
        let candidates = try Profiler.profile(ctx, images: images, deviceSpeedFactor: deviceSpeedFactor)
        try Profiler.save(candidates, images: images, deviceSpeedFactor: deviceSpeedFactor, ctx: ctx)
        print("configuration                     accuracy  device ms  encode ms   bytes (p99)   decode ms  edge ms")
        for c in candidates {
            print(c.id.padding(toLength: 32, withPad: " ", startingAt: 0)
                  + String(format: " %7.2f%%  %9.3f  %9.3f  %7.0f (%5.0f)  %9.3f  %7.3f", 100 * c.accuracy, c.deviceMs, c.encodeMs, c.bytes, c.bytesP99, c.decodeMs, c.edgeMs))
        }
        print("saved \(Profiler.url(ctx).path)")
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
