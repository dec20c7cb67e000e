// `aecnn submit --slurm`: every stage instance that is not done becomes one sbatch job running the `aecnn stage`
// command a user would type, after the jobs of its upstream instances (`afterok`). The plan and the scripts
// are `SlurmPlanner`'s; this file talks to Slurm through its commands.

import ArgumentParser
import Foundation
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit every stage instance that is not done as a Slurm job, each after the jobs of its upstream instances.",
        discussion: """
        Each job runs `aecnn stage NAME --pipeline P --checkpoints C [--seed K] [--split S] [--ratio V] [--variant X]` \
        with absolute paths: Checkpoints, the pipeline file, the dataset and this binary must be on a file system \
        every node sees. Jobs whose upstream instances are done wait for nothing; the others wait (afterok) for \
        their upstream jobs, and are cancelled if one fails. Prints instance → job id and writes \
        Checkpoints/NAME/submitted.json. Run it again after failures: it submits only what is not done, and \
        keeps jobs of earlier submissions that are still queued or running. docs/scale.md, Slurm.
        """)

    @OptionGroup var options: PipelineOptions
    @Flag(help: "Submit to Slurm with sbatch (the scheduler submit knows).") var slurm = false
    @Option(help: "Slurm partition.") var partition: String?
    @Option(help: "Time limit per job: minutes, HH:MM:SS or D-HH:MM:SS.") var time: String?
    @Option(name: .customLong("cpus-per-task"), help: "CPUs per job (default: the pipeline's threads, which every job runs with).") var cpusPerTask: Int?
    @Option(help: "Memory per job, e.g. 8G.") var mem: String?
    @Option(help: "Slurm account to charge.") var account: String?
    @Flag(name: .customLong("dry-run"), help: "Print the job scripts; submit nothing.") var dryRun = false
    @Flag(name: .customLong("allow-local-paths"), help: "Accept paths under /tmp, /dev/shm and the like (a single-node cluster, whose one node shares them).") var allowLocalPaths = false

    var slurmOptions: SlurmOptions {
        SlurmOptions(partition: partition, time: time, cpusPerTask: cpusPerTask, mem: mem, account: account)
    }

    func validate() throws {
        guard slurm else { throw ValidationError("aecnn submit needs --slurm (the one scheduler it knows). Fix: aecnn submit --pipeline P --slurm [--dry-run]") }
        if let problem = slurmOptions.problem() { throw ValidationError(problem) }
    }

    func run() throws {
        let contexts = try options.contexts()
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ p: String) -> String { URL(fileURLWithPath: p, relativeTo: URL(fileURLWithPath: cwd, isDirectory: true)).standardizedFileURL.path }
        let checkpoints = absolute(options.checkpoints)
        let pipelinePath = absolute(options.pipeline)
        let executable = absolute(selfExecutable)
        let spec = contexts[0].spec
        // Written into every job script (the log, under Checkpoints, into an #SBATCH line), each with its fix.
        let scripted = [("the working folder", cwd, "run aecnn submit from another folder"), ("Checkpoints", checkpoints, "--checkpoints DIR"),
                        ("the pipeline file", pipelinePath, "--pipeline FILE"), ("the aecnn binary", executable, "move the binary")]
        for (what, path, fix) in scripted {
            if let problem = SlurmPlanner.lineProblem(path) {
                throw ValidationError("\(what) \(SlurmPlanner.shown(path)) \(problem), which no line of a job script can hold. Fix: choose a path without control characters (\(fix))")
            }
        }
        for (what, path) in scripted.map({ ($0.0, $0.1) }) + [("the dataset", absolute(spec.dataset.path))] {
            if let problem = SlurmPlanner.nodeLocalProblem(what, path, allowLocal: allowLocalPaths) {
                throw ValidationError("\(problem): the jobs run on nodes that must see it at the same path. Fix: put it on the cluster's shared file system (or pass --allow-local-paths on a single-node cluster)")
            }
        }
        let cpus = cpusPerTask ?? spec.threads
        if cpus < spec.threads {
            FileHandle.standardError.write(Data("note: each job runs with \(spec.threads) threads (the pipeline's threads, part of every training result's settings) on \(cpus) CPU\(cpus == 1 ? "" : "s"): they will share them\n".utf8))
        }

        let root = contexts[0].pipelineRoot
        let scheduler: SlurmScheduler = dryRun ? DryRunScheduler() : SbatchScheduler()
        let previous = try SlurmSubmission.load(root)
        let alive = try previous.map { p in try scheduler.alive(p.jobs.map(\.jobID)) } ?? []
        let (planned, leftOut) = try SlurmPlanner.plan(contexts, previous: previous, alive: alive)
        if planned.isEmpty {
            print(leftOut.isEmpty ? "every instance of \(spec.name) is done: nothing to submit" : "nothing to submit now:")
            for line in leftOut { print("  " + line) }
            return
        }
        let stamp = ISO8601DateFormatter().string(from: Date())
        var jobs: [SlurmJob] = []
        var fresh = Set<String>()
        for p in planned {
            let seed = p.context.spec.seeds == nil ? nil : p.context.spec.seed
            if let id = p.existingJobID, let earlier = previous?.jobs.first(where: { $0.jobID == id }) {
                jobs.append(earlier)
                continue
            }
            var command = SlurmPlanner.command(p.instance, p.context, executable: executable, pipelinePath: pipelinePath, checkpoints: checkpoints)
            if let t = options.threads { command += ["--threads", String(t)] }
            let log = SlurmPlanner.logPath(p.instance, p.context)
            let dependencies = p.waitsFor.map { jobs[$0].jobID }
            let script = try SlurmPlanner.script(name: SlurmPlanner.jobName(p.instance, p.context), log: log, command: command,
                                             workingDirectory: cwd, cpus: cpus, options: slurmOptions, dependencies: dependencies)
            if dryRun {
                print("# \(seed.map { "seed \($0): " } ?? "")\(p.instance)")
                print(script)
            } else {
                // Slurm does not create the log's folder.
                try FileManager.default.createDirectory(at: URL(fileURLWithPath: log).deletingLastPathComponent(), withIntermediateDirectories: true)
            }
            let id = try scheduler.submit(script: script)
            fresh.insert(id)
            jobs.append(SlurmJob(instance: p.instance.description, seed: seed, jobID: id, dependsOn: dependencies, log: log,
                                 command: command, submittedAt: stamp))
        }
        print(table(jobs, fresh: fresh))
        for line in leftOut { print("left out: " + line) }
        if dryRun {
            print("dry run: \(fresh.count) job script\(fresh.count == 1 ? "" : "s") printed, nothing submitted")
        } else {
            try SlurmSubmission(pipeline: spec.name, jobs: jobs).save(root)
            print("\(fresh.count) job\(fresh.count == 1 ? "" : "s") submitted, \(jobs.count - fresh.count) still queued from earlier; recorded in \(SlurmSubmission.url(root).path)")
        }
    }

    func table(_ jobs: [SlurmJob], fresh: Set<String>) -> String {
        let rows = jobs.map { j in
            [(j.seed.map { "seed \($0): " } ?? "") + j.instance, j.jobID + (fresh.contains(j.jobID) ? "" : " (earlier)"),
             j.dependsOn.isEmpty ? "-" : "afterok:" + j.dependsOn.joined(separator: ":")]
        }
        let header = ["instance", "job", "after"]
        let widths = (0..<3).map { c in ([header] + rows).map { $0[c].count }.max()! }
        func line(_ r: [String]) -> String { (0..<3).map { r[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// Slurm through `sbatch --parsable` and `squeue`.
struct SbatchScheduler: SlurmScheduler {
    func submit(script: String) throws -> String {
        let (status, out, err) = try Self.runTool("sbatch", ["--parsable"], input: script)
        let id = out.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard status == 0, SlurmCommands.isJobID(id) else {
            throw ValidationError("sbatch refused the job (exit \(status)): \(err.trimmingCharacters(in: .whitespacesAndNewlines))\(out.isEmpty ? "" : " " + out). Fix: check the options (--partition, --time, --account) with your cluster's sinfo and sacctmgr; jobs submitted before it stay queued and are recorded on the next submit")
        }
        return id
    }

    func alive(_ jobIDs: [String]) throws -> Set<String> {
        guard !jobIDs.isEmpty else { return [] }
        let user = getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "root"
        // Queued or running only (a job Slurm still remembers after it ended is not alive).
        let (status, out, err) = try Self.runTool("squeue", ["-h", "-o", "%i", "-u", user, "-t", SlurmCommands.activeStates])
        guard status == 0 else { throw ValidationError("squeue failed (exit \(status)): \(err.trimmingCharacters(in: .whitespacesAndNewlines)). Fix: check that Slurm's controller answers (sinfo)") }
        let listed = Set(out.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) })
        return Set(jobIDs).intersection(listed)
    }

    /// Runs a Slurm client command; its absence is the user's error, with the fix.
    static func runTool(_ name: String, _ arguments: [String], input: String? = nil) throws -> (Int32, String, String) {
        guard let r = try SlurmCommands.run(name, arguments, input: input) else {
            throw ValidationError("\(name) is not on PATH: aecnn submit --slurm runs where Slurm's client commands do (a login node). Fix: run it there, or add --dry-run to only print the job scripts")
        }
        return (r.status, r.out, r.err)
    }
}

/// `--dry-run`: numbers the jobs instead of submitting them; asks Slurm which earlier jobs are alive when its
/// commands are there (and takes none as alive otherwise).
final class DryRunScheduler: SlurmScheduler {
    private var next = 0
    func submit(script: String) throws -> String {
        next += 1
        return "dry-run-\(next)"
    }
    func alive(_ jobIDs: [String]) throws -> Set<String> { (try? SbatchScheduler().alive(jobIDs)) ?? [] }
}
