// A pipeline as Slurm jobs: one `sbatch` job per stage instance that is not done, running the `aecnn stage …`
// command a user would type, with `--dependency=afterok:` on the jobs of its upstream instances that are not
// done either. This file plans the jobs and writes their scripts and the submission record; talking to Slurm
// (`sbatch`, `squeue`) is the command's part (`aecnn submit`), behind the `SlurmScheduler` protocol so that the
// plan is tested without a cluster.

import Foundation
import Checkpoint
import CoInference

/// The `#SBATCH` choices of a submission, each checked where it is parsed.
public struct SlurmOptions: Equatable, Sendable {
    public var partition: String?
    /// `--time`: minutes, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM` or `D-HH:MM:SS`.
    public var time: String?
    /// CPUs per job; nil: the pipeline's `threads` (each job runs with the pipeline's thread count).
    public var cpusPerTask: Int?
    /// `--mem`: a number with an optional K, M, G or T suffix (megabytes without one).
    public var mem: String?
    public var account: String?

    public init(partition: String? = nil, time: String? = nil, cpusPerTask: Int? = nil, mem: String? = nil, account: String? = nil) {
        self.partition = partition; self.time = time; self.cpusPerTask = cpusPerTask; self.mem = mem; self.account = account
    }

    /// The first option that Slurm would not take, as a message naming it, the value and the form expected.
    public func problem() -> String? {
        // \A and \z: the whole value (`$` would also match before a final newline).
        func matches(_ s: String, _ pattern: String) -> Bool { s.range(of: "\\A(?:" + pattern + ")\\z", options: .regularExpression) != nil }
        let name = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
        if let partition, !matches(partition, name) { return "--partition \(SlurmPlanner.shown(partition)): a partition name is letters, digits, '.', '_' and '-' (at most 64)" }
        if let account, !matches(account, name) { return "--account \(SlurmPlanner.shown(account)): an account name is letters, digits, '.', '_' and '-' (at most 64)" }
        if let time {
            let forms = ["[0-9]{1,6}", "[0-9]{1,6}:[0-5]?[0-9]", "[0-9]{1,4}:[0-5]?[0-9]:[0-5]?[0-9]", "[0-9]{1,3}-[0-9]{1,2}", "[0-9]{1,3}-[0-9]{1,2}:[0-5]?[0-9]", "[0-9]{1,3}-[0-9]{1,2}:[0-5]?[0-9]:[0-5]?[0-9]"]
            // Every number 0 (0, 0:00, 0-00, 00:00:00, …) is no time at all (Slurm reads it as no limit).
            if !forms.contains(where: { matches(time, $0) }) || time.allSatisfy({ "0:-".contains($0) }) {
                return "--time \(SlurmPlanner.shown(time)): expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (and more than 0), e.g. 02:00:00"
            }
        }
        if let cpusPerTask, !(1...4096).contains(cpusPerTask) { return "--cpus-per-task \(cpusPerTask): expected 1…4096" }
        if let mem, !matches(mem, "[1-9][0-9]{0,8}[KMGT]?") { return "--mem \(SlurmPlanner.shown(mem)): expected a positive number with an optional K, M, G or T suffix, e.g. 8G" }
        return nil
    }
}

/// One job of a submission.
public struct SlurmJob: Codable, Equatable, Sendable {
    /// The instance, as `aecnn status` names it ("fine-tune stem V=4").
    public var instance: String
    /// The seed's folder for pipelines with `seeds` (nil otherwise).
    public var seed: UInt64?
    /// Slurm's job id (filled in when submitted; "dry-run-N" in a dry run).
    public var jobID: String
    /// The job ids this job waits for (`afterok`).
    public var dependsOn: [String]
    /// The job's log file (`#SBATCH --output`, `%j` replaced by Slurm).
    public var log: String
    /// The command the job runs.
    public var command: [String]
    /// When it was submitted (ISO 8601).
    public var submittedAt: String

    enum CodingKeys: String, CodingKey {   // "job_id" in the file, as the snake_case coder writes and reads "jobId"
        case instance, seed, jobID = "jobId", dependsOn, log, command, submittedAt
    }

    public init(instance: String, seed: UInt64?, jobID: String, dependsOn: [String], log: String, command: [String], submittedAt: String) {
        self.instance = instance; self.seed = seed; self.jobID = jobID; self.dependsOn = dependsOn; self.log = log
        self.command = command; self.submittedAt = submittedAt
    }
}

/// `Checkpoints/NAME/submitted.json`: the jobs of the pipeline's submissions still worth knowing (those of the
/// last `aecnn submit` and the ones still queued or running from earlier).
public struct SlurmSubmission: Codable, Equatable, Sendable {
    public var pipeline: String
    public var jobs: [SlurmJob]

    public init(pipeline: String, jobs: [SlurmJob]) { self.pipeline = pipeline; self.jobs = jobs }

    public static func url(_ pipelineRoot: URL) -> URL { pipelineRoot.appendingPathComponent("submitted.json") }

    /// The record in `pipelineRoot`, or nil when there is none; an unreadable one, or one whose job ids are not
    /// Slurm's (they go to squeue and into `--dependency=afterok:`) or whose instance names would break the lines
    /// they are printed on, is an error naming the file and the value.
    public static func load(_ pipelineRoot: URL) throws -> SlurmSubmission? {
        let url = url(pipelineRoot)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let fix = "Fix: delete it (after cancelling its jobs still queued: squeue --me, scancel); `aecnn submit` then submits every instance that is not done"
        let record: SlurmSubmission
        do {
            record = try SnakeCaseJSON.decoder().decode(SlurmSubmission.self, from: SafeRead.contents(of: url, limit: SafeRead.recordLimit))
        } catch {
            throw StageError.invalidSettings("\(url.path) is not a submission record (\(error)). \(fix)")
        }
        for job in record.jobs {
            if let id = ([job.jobID] + job.dependsOn).first(where: { !SlurmCommands.isJobID($0) }) {
                throw StageError.invalidSettings("\(url.path): '\(SlurmPlanner.shown(id))' is not a Slurm job id (digits, with _N for an array task or +N for a heterogeneous component). \(fix)")
            }
            if let problem = SlurmPlanner.lineProblem(job.instance) {
                throw StageError.invalidSettings("\(url.path): the instance name \(SlurmPlanner.shown(job.instance)) \(problem). \(fix)")
            }
        }
        return record
    }

    public func save(_ pipelineRoot: URL) throws {
        let encoder = SnakeCaseJSON.encoder()
        encoder.outputFormatting.insert(.withoutEscapingSlashes)   // paths stay readable
        try AtomicFile.write(try encoder.encode(self), to: Self.url(pipelineRoot))
    }
}

/// Slurm's client commands, as `aecnn submit` and the locks ask them.
public enum SlurmCommands {
    /// The job states in which a job is queued or running (`squeue -t`): any other state, or a job `squeue` no
    /// longer knows, has ended.
    public static let activeStates = "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED,REQUEUED,RESIZING"

    /// Whether `s` is a Slurm job id, as sbatch and squeue write them: digits, with `_N` for a task of a job array
    /// or `+N` for a component of a heterogeneous job. Ids read from files are checked with it before they reach
    /// a Slurm command or a job script.
    public static func isJobID(_ s: String) -> Bool {
        s.utf8.count <= 40 && s.range(of: #"\A[0-9]+(_[0-9]+)?(\+[0-9]+)?\z"#, options: .regularExpression) != nil
    }

    /// Runs a Slurm client command found on PATH: (exit status, stdout, stderr), or nil when it is not there.
    public static func run(_ name: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, out: String, err: String)? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { String($0) + "/" + name }
        guard let tool = paths.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = inp
        try p.run()
        if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
        try? inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

/// What `aecnn submit` needs from Slurm.
public protocol SlurmScheduler {
    /// Submits a job script; returns the job id.
    func submit(script: String) throws -> String
    /// Of these job ids, those still queued or running.
    func alive(_ jobIDs: [String]) throws -> Set<String>
}

/// The plan of a submission: which instances become jobs, and on which jobs each waits.
public enum SlurmPlanner {
    /// A job to submit (or one already queued, `existing`), with the indices of the planned jobs it waits for.
    public struct Planned {
        public var instance: StageInstance
        public var context: RunContext
        public var existingJobID: String?
        public var waitsFor: [Int]
    }

    /// Every instance of `contexts` that is not done, in dependency order. An instance whose job from an earlier
    /// submission is still queued or running (`alive`) is kept with its job id, not submitted again; one that
    /// another process is running (its lock is held), and everything downstream of it, is left out and named in
    /// `leftOut`.
    public static func plan(_ contexts: [RunContext], previous: SlurmSubmission?, alive: Set<String>) throws -> (jobs: [Planned], leftOut: [String]) {
        var jobs: [Planned] = []
        var leftOut: [String] = []
        for ctx in contexts {
            var index: [StageInstance: Int] = [:]
            var skipped = Set<StageInstance>()
            let seed = ctx.spec.seeds == nil ? nil : ctx.spec.seed
            for i in StageRunner.allInstances(ctx.spec) {
                let deps = StageRunner.definition(i.stage)?.dependencies(i, ctx.spec) ?? []
                if let d = deps.first(where: { skipped.contains($0) }) {
                    skipped.insert(i)
                    leftOut.append("\(label(i, seed)): waits for \(d), which another process is running")
                    continue
                }
                let earlier = previous?.jobs.first { $0.instance == i.description && $0.seed == seed && alive.contains($0.jobID) }
                if earlier == nil {
                    if try StageRunner.state(i, ctx) == .done { continue }
                    if let holder = StageRunner.runningHolder(i, ctx) {
                        skipped.insert(i)
                        leftOut.append("\(label(i, seed)): running in another process (\(holder))")
                        continue
                    }
                }
                let waits = deps.compactMap { index[$0] }
                index[i] = jobs.count
                jobs.append(Planned(instance: i, context: ctx, existingJobID: earlier?.jobID, waitsFor: waits))
            }
        }
        return (jobs, leftOut)
    }

    static func label(_ i: StageInstance, _ seed: UInt64?) -> String { seed.map { "seed \($0): \(i)" } ?? i.description }

    /// The command a job runs: the `aecnn stage` command a user would type, with absolute paths.
    public static func command(_ i: StageInstance, _ ctx: RunContext, executable: String, pipelinePath: String, checkpoints: String) -> [String] {
        var c = [executable, "stage", i.stage, "--pipeline", pipelinePath, "--checkpoints", checkpoints]
        if ctx.spec.seeds != nil { c += ["--seed", String(ctx.spec.seed)] }
        if let s = i.split { c += ["--split", s] }
        if let r = i.ratio { c += ["--ratio", String(r)] }
        if let v = i.variant { c += ["--variant", v.description] }
        return c
    }

    /// The job's name: `aecnn:<pipeline>[:seed-K]:<stage>[:split][:V][:variant]` (names are checked path-safe
    /// where the pipeline is parsed, so no quoting is needed).
    public static func jobName(_ i: StageInstance, _ ctx: RunContext) -> String {
        (["aecnn", ctx.spec.name] + (ctx.spec.seeds == nil ? [] : ["seed-\(ctx.spec.seed)"]) + [i.stage] + i.pathParts).joined(separator: ":")
    }

    /// The job's log: `<seed root>/.slurm/<stage>[--split][--V][--variant]-%j.log`.
    public static func logPath(_ i: StageInstance, _ ctx: RunContext) -> String {
        ctx.root.appendingPathComponent(".slurm", isDirectory: true)
            .appendingPathComponent(i.fileStem + "-%j.log").path
    }

    /// The batch script of one job: the `#SBATCH` lines, each written by `directive`, then `set -euo pipefail`,
    /// `cd` to the working folder and `exec` of the command, each word written by `shellWord`. A value neither can
    /// write is refused, naming it and the fix.
    public static func script(name: String, log: String, command: [String], workingDirectory: String, cpus: Int,
                              options: SlurmOptions, dependencies: [String]) throws -> String {
        let checkpointsFix = "choose a checkpoints folder (--checkpoints) whose path has no such character"
        // Slurm expands `%` in --output (`%j`: the job id) and reads `%%` as one `%`: the folder's own are doubled.
        let cut = log.lastIndex(of: "/").map { log.index(after: $0) } ?? log.startIndex
        let output = log[..<cut].replacingOccurrences(of: "%", with: "%%") + log[cut...]
        var lines = ["#!/bin/bash",
                     try directive("job-name", name, what: "the job name \(shown(name))", fix: "rename the pipeline"),
                     try directive("output", output, what: "the job log \(shown(log))", fix: checkpointsFix),
                     try directive("ntasks", "1", what: "the task count", fix: ""),
                     try directive("cpus-per-task", String(cpus), what: "--cpus-per-task", fix: "")]
        if let p = options.partition { lines.append(try directive("partition", p, what: "--partition \(shown(p))", fix: "pass a partition name sinfo lists")) }
        if let t = options.time { lines.append(try directive("time", t, what: "--time \(shown(t))", fix: "pass e.g. --time 02:00:00")) }
        if let m = options.mem { lines.append(try directive("mem", m, what: "--mem \(shown(m))", fix: "pass e.g. --mem 8G")) }
        if let a = options.account { lines.append(try directive("account", a, what: "--account \(shown(a))", fix: "pass an account name sacctmgr lists")) }
        if !dependencies.isEmpty {
            let after = "afterok:" + dependencies.joined(separator: ":")
            lines.append(try directive("dependency", after, what: "the dependency \(shown(after))", fix: ""))
            // A failed upstream cancels this job instead of leaving it pending forever; `aecnn submit` again
            // resubmits what is not done.
            lines.append(try directive("kill-on-invalid-dep", "yes", what: "--kill-on-invalid-dep", fix: ""))
        }
        let commandFix = "choose paths (--checkpoints, --pipeline, the aecnn binary) without such characters"
        lines += ["set -euo pipefail",
                  "cd " + (try shellWord(workingDirectory, what: "the working folder \(shown(workingDirectory))", fix: "run aecnn submit from a folder whose path has no such character")),
                  "exec " + (try command.map { try shellWord($0, what: "the job's command word \(shown($0))", fix: commandFix) }).joined(separator: " ")]
        return lines.joined(separator: "\n") + "\n"
    }

    /// One `#SBATCH --option=value` line. sbatch reads the directives up to the first command line, each line up
    /// to its newline, and splits it into words at white space; `'…'` and `"…"` group characters (white space and
    /// `#` included), a backslash makes the next character plain, and an unquoted `#` ends the line. A value with
    /// anything but letters, digits and `/._-=:,+@%` is therefore written in double quotes with `"` escaped. A value
    /// no directive can carry is refused, naming `what` it is and the `fix`: one with a character no script line
    /// can hold (`lineProblem`), or with a backslash (Slurm drops backslashes from a log's path, and then expands
    /// no `%j` in it).
    public static func directive(_ option: String, _ value: String, what: String, fix: String) throws -> String {
        var problem = lineProblem(value)
        if problem == nil, value.contains("\\") { problem = "holds a backslash" }
        if let problem {
            throw StageError.invalidSettings("\(what) \(problem), which sbatch cannot take in `#SBATCH --\(option)`" + (fix.isEmpty ? "" : ". Fix: \(fix)"))
        }
        if isPlain(value) { return "#SBATCH --\(option)=\(value)" }
        return "#SBATCH --\(option)=\"" + value.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// `s` as one bash word of a script line: `shellQuoted`, after refusing a value that would not stay on its line
    /// (`lineProblem`), naming `what` it is and the `fix`.
    static func shellWord(_ s: String, what: String, fix: String) throws -> String {
        if let problem = lineProblem(s) { throw StageError.invalidSettings("\(what) \(problem), which a job script cannot hold on one line. Fix: \(fix)") }
        return shellQuoted(s)
    }

    /// `s` as one bash word.
    public static func shellQuoted(_ s: String) -> String {
        if isPlain(s) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Whether `s` is a word that neither bash nor sbatch's directives read specially: letters, digits and
    /// `/._-=:,+@%`, at least one.
    static func isPlain(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._-=:,+@%".contains($0)) }
    }

    /// Why `value` cannot be written into one line of a job script, or nil: it holds a control character (a
    /// newline would start a line of its own — a shell command —, sbatch refuses a script with a NUL or a carriage
    /// return before a newline, and the others garble the line) or a Unicode line or paragraph separator.
    public static func lineProblem(_ value: String) -> String? {
        guard let c = value.unicodeScalars.first(where: breaksLine) else { return nil }
        let names: [UInt32: String] = [0x0A: "a newline", 0x0D: "a carriage return", 0x00: "a NUL", 0x09: "a tab",
                                       0x85: "a next-line character", 0x2028: "a line separator", 0x2029: "a paragraph separator"]
        return "holds " + (names[c.value] ?? "a control character") + " (U+" + String(format: "%04X", c.value) + ")"
    }

    static func breaksLine(_ c: Unicode.Scalar) -> Bool {
        [.control, .lineSeparator, .paragraphSeparator].contains(c.properties.generalCategory)
    }

    /// `s` for a message: the characters `lineProblem` names as `\u{…}`, so that a value cannot break or colour
    /// the line it is shown on.
    public static func shown(_ s: String) -> String {
        s.unicodeScalars.map { breaksLine($0) ? "\\u{" + String($0.value, radix: 16, uppercase: true) + "}" : String($0) }.joined()
    }

    /// Why `path` cannot be shared with compute nodes, or nil: a relative path (resolved against the
    /// submission's folder it would name another folder on a node whose working directory differs), or a folder
    /// on a node-local file system (tmpfs, ramfs) or under /tmp, /var/tmp, /dev/shm or /run, which each node has
    /// its own of. `allowLocal` (a single-node cluster) accepts the latter.
    public static func nodeLocalProblem(_ what: String, _ path: String, allowLocal: Bool) -> String? {
        guard path.hasPrefix("/") else { return "\(what) \(path) is relative" }
        if allowLocal { return nil }
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        for prefix in ["/tmp/", "/var/tmp/", "/dev/shm/", "/run/"] where (standardized + "/").hasPrefix(prefix) {
            return "\(what) \(standardized) is under \(prefix), which every node has its own of"
        }
        // The file system type of the longest mount point above the path (/proc/self/mounts).
        if let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) {
            var best: (point: String, type: String)?
            for line in mounts.split(whereSeparator: \.isNewline) {
                let f = line.split(separator: " ")
                guard f.count >= 3 else { continue }
                let point = String(f[1]).replacingOccurrences(of: "\\040", with: " ")
                let inside = point == "/" || standardized == point || standardized.hasPrefix(point + "/")
                if inside, point.count >= (best?.point.count ?? -1) { best = (point, String(f[2])) }
            }
            if let best, ["tmpfs", "ramfs"].contains(best.type) {
                return "\(what) \(standardized) is on a \(best.type) (\(best.point)), which is local to each node"
            }
        }
        return nil
    }
}
