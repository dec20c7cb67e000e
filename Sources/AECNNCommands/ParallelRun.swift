// `aecnn run --jobs N`: up to N ready instances at once, each as its own `aecnn stage …` process (the command a
// user would type) with the pipeline's threads divided among them. Instances lock separately, so the
// children never share a unit of work; an instance is ready when all its inputs are done. Each child writes
// to its own log (`<seed root>/.jobs/<instance>.log`); this process prints when an instance starts and ends and
// a summary of the running ones (their latest progress line) every 15 s. Ctrl-C (or SIGTERM) stops every child;
// they resume as usual. A child that fails (or is killed) leaves its instance resumable: its downstream
// instances are not started, the others go on, and the command ends with status 1 naming it. Instances done
// with the pipeline's threads are not done with the children's (the thread count is part of the settings): it
// refuses, naming them, rather than train them again, unless told to (`--rerun-at-job-threads`).

import ArgumentParser
import Foundation
import Pipeline
import PipelineSpec
#if canImport(Glibc)
import Glibc
#endif

struct ParallelRun {
    let options: PipelineOptions
    let contexts: [RunContext]
    let jobs: Int
    /// Rerun, at the children's thread count, the instances done at the pipeline's (`--rerun-at-job-threads`).
    var rerunAtJobThreads = false

    /// One running child.
    struct Child {
        let process: Process
        let instance: StageInstance
        let context: RunContext
        let log: URL
        let started: Date
        var label: String
    }

    /// The thread count each child runs with.
    static func threadsPerJob(threads: Int, jobs: Int) throws -> Int {
        guard jobs <= threads else {
            throw ValidationError("--jobs \(jobs) is above the pipeline's threads (\(threads)): each instance needs at least one thread. Fix: --jobs 1…\(threads), or more threads with --threads")
        }
        return threads / jobs
    }

    /// Runs the pipeline; returns the contexts (at the children's thread count) whose results it produced.
    @discardableResult
    func run() throws -> [RunContext] {
        let threads = contexts[0].spec.threads
        let perJob = try Self.threadsPerJob(threads: threads, jobs: jobs)
        let say = { (line: String) in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        // States are judged at the children's thread count: "done" means done as they ran it.
        let states = try runContexts(pipeline: options.pipeline, checkpoints: options.checkpoints, threads: perJob, seed: options.seed, every: true)
        func label(_ ctx: RunContext, _ i: StageInstance) -> String { (states.count > 1 ? "seed \(ctx.spec.seed): " : "") + i.description }
        // The thread count is part of each training result's settings: an instance done with the pipeline's
        // threads is not done with the children's, and running it would replace finished work. Only when asked.
        if !rerunAtJobThreads {
            var finished: [String] = []
            for (ctx, child) in zip(contexts, states) {
                for i in StageRunner.allInstances(ctx.spec) where try StageRunner.state(i, ctx) == .done && StageRunner.state(i, child) != .done {
                    finished.append(label(ctx, i))
                }
            }
            if !finished.isEmpty {
                throw ValidationError("--jobs \(jobs) runs each instance with \(perJob) thread\(perJob == 1 ? "" : "s"), and these are done with \(threads) (the thread count is part of each result's settings), so it would train them again and replace their outputs: "
                                      + finished.prefix(5).joined(separator: ", ") + (finished.count > 5 ? " and \(finished.count - 5) more" : "")
                                      + ". Fix: run without --jobs to keep them (what is left then runs with \(threads) threads), or add --rerun-at-job-threads to rerun them with \(perJob)")
            }
        }
        say("--jobs \(jobs): up to \(jobs) instances at once, each with \(perJob) thread\(perJob == 1 ? "" : "s") (threads \(threads)\(threads % jobs == 0 ? "" : ", \(threads % jobs) left unused")); results are those of --threads \(perJob): `aecnn status --threads \(perJob)` shows them")
        let executable = selfExecutable
        let signals = SignalFlag([SIGINT, SIGTERM])

        var pending: [(RunContext, StageInstance)] = states.flatMap { ctx in StageRunner.allInstances(ctx.spec).map { (ctx, $0) } }
        var running: [Child] = []
        var failed: [String] = [], leftOut: [String] = []
        var blocked = Set<String>()          // "<seed root>|<instance>" of instances that will not run now
        func key(_ ctx: RunContext, _ i: StageInstance) -> String { ctx.root.path + "|" + i.description }
        var done = 0
        var lastSummary = Date()
        var changed = true

        while true {
            if changed && !signals.raised {
                changed = false
                var next: [(RunContext, StageInstance)] = []
                for (ctx, i) in pending {
                    let deps = StageRunner.definition(i.stage)?.dependencies(i, ctx.spec) ?? []
                    if let d = deps.first(where: { blocked.contains(key(ctx, $0)) }) {
                        blocked.insert(key(ctx, i))
                        leftOut.append("\(label(ctx, i)): not started, its input \(d) did not complete")
                        continue
                    }
                    if running.contains(where: { $0.context === ctx && deps.contains($0.instance) }) || running.count >= jobs
                        || running.contains(where: { $0.context === ctx && $0.instance == i }) {
                        next.append((ctx, i)); continue
                    }
                    var ready = true
                    for d in deps where try StageRunner.state(d, ctx) != .done { ready = false; break }
                    guard ready else { next.append((ctx, i)); continue }
                    if try StageRunner.state(i, ctx) == .done { continue }
                    if let holder = StageRunner.runningHolder(i, ctx) {
                        blocked.insert(key(ctx, i))
                        leftOut.append("\(label(ctx, i)): another process (\(holder)) is running it")
                        continue
                    }
                    running.append(try launch(i, ctx, executable: executable, threads: perJob, label: label(ctx, i)))
                    say("start \(label(ctx, i))  (log: \(running.last!.log.path))")
                }
                pending = next
            }
            if running.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.25)
            if signals.raised {
                for c in running where c.process.isRunning { kill(c.process.processIdentifier, SIGTERM) }
            }
            var still: [Child] = []
            for c in running {
                if c.process.isRunning { still.append(c); continue }
                let seconds = Int(Date().timeIntervalSince(c.started).rounded())
                if c.process.terminationReason == .exit && c.process.terminationStatus == 0 {
                    done += 1
                    say("done  \(c.label) in \(seconds) s")
                } else {
                    let how = c.process.terminationReason == .uncaughtSignal ? "killed by signal \(c.process.terminationStatus)" : "exit \(c.process.terminationStatus)"
                    blocked.insert(key(c.context, c.instance))
                    failed.append("\(c.label) (\(how); log: \(c.log.path); last line: \(Self.lastLine(c.log) ?? "none"))")
                    say("FAILED \(c.label) after \(seconds) s: \(how); log: \(c.log.path)")
                }
                changed = true
            }
            running = still
            if Date().timeIntervalSince(lastSummary) >= 15, !running.isEmpty {
                lastSummary = Date()
                let parts = running.map { c in "\(c.label): " + (Self.lastLine(c.log).map { String($0.suffix(110)) } ?? "starting") }
                say("[\(done) done, \(running.count) running, \(pending.count) waiting] " + parts.joined(separator: " | "))
            }
        }
        if signals.raised {
            say("interrupted: every child stopped; run the same command again to resume")
            throw ExitCode(130)
        }
        for line in leftOut { say("left: " + line) }
        if !failed.isEmpty {
            throw CommandFailure("\(failed.count) instance\(failed.count == 1 ? "" : "s") did not complete:\n  " + failed.joined(separator: "\n  ")
                                 + "\nFix: read the log; run the same command again to resume (what is done stays done)")
        }
        if !pending.isEmpty || !leftOut.isEmpty {
            say("\(pending.count + leftOut.count) instance(s) left to other processes: run this again when they are done")
        }
        return states
    }

    /// Starts `aecnn stage` for one instance, its output going to its log.
    func launch(_ i: StageInstance, _ ctx: RunContext, executable: String, threads: Int, label: String) throws -> Child {
        let logs = ctx.root.appendingPathComponent(".jobs", isDirectory: true)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let log = logs.appendingPathComponent(i.fileStem + ".log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        handle.write(Data("== \(ISO8601DateFormatter().string(from: Date())) \(i)\n".utf8))
        var arguments = ["stage", i.stage, "--pipeline", options.pipeline, "--checkpoints", options.checkpoints, "--threads", String(threads)]
        if ctx.spec.seeds != nil { arguments += ["--seed", String(ctx.spec.seed)] }
        if let s = i.split { arguments += ["--split", s] }
        if let r = i.ratio { arguments += ["--ratio", String(r)] }
        if let v = i.variant { arguments += ["--variant", v.description] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try? handle.close()
        return Child(process: p, instance: i, context: ctx, log: log, started: Date(), label: label)
    }

    /// The last non-empty line of a log (its tail only).
    static func lastLine(_ url: URL) -> String? {
        guard let h = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? h.close() }
        let size = h.seekToEndOfFile()
        h.seek(toFileOffset: size > 4096 ? size - 4096 : 0)
        let text = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        return text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).last.map(String.init)
    }
}

/// This binary, for child processes and job scripts that run `aecnn` again.
var selfExecutable: String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// A failure while running, reported with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Set by the signal handler; read by the scheduling loop.
nonisolated(unsafe) private var signalRaised: sig_atomic_t = 0

/// Set once any of the signals arrives (a handler replaces the default action of ending the process). A
/// handler, unlike an ignored signal, is reset to the default in the children `exec` starts, so they can be
/// stopped.
struct SignalFlag {
    init(_ signals: [Int32]) {
        for s in signals { signal(s) { _ in signalRaised = 1 } }
    }

    var raised: Bool { signalRaised != 0 }
}
