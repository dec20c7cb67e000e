// The plan of `aecnn submit --slurm`, without a cluster: which instances become jobs and what each waits for
// (done upstreams: nothing; others: their jobs), jobs of an earlier submission still queued are kept rather
// than submitted twice, an instance another process holds is left out with everything downstream of it; the
// batch script's lines and quoting, as bash and sbatch read them, with hostile paths (refused, or each value
// one word); the options Slurm would refuse; paths nodes would not see; job ids read from files. The real
// cluster run is scripts/slurm-test.sh.

import XCTest
import Foundation
@testable import Pipeline
import PipelineSpec
import _TestSupport

final class SlurmPlanTests: XCTestCase {
    var root: URL!
    var data: URL!

    override func setUpWithError() throws {
        root = makeTemporaryDirectory("slurm-plan")
        data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 64, test: 32, side: 8)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    func context() throws -> RunContext {
        let extra = """
          train-attention: {epochs: 1, batch_size: 16}
          fine-tune: {epochs: 1, batch_size: 16}
          train-recovery: {epochs: 1, batch_size: 16}
        splits: [stem]
        ratios: [2, 4]
        aecnn: {recovery: {layers: 2, hidden: 4}, rank: {batch_size: 16, stability_batches: 3}}
        """
        let yaml = TinyDataset.pipelineYAML(name: "plan", dataDirectory: data, epochs: 1, extra: extra)
        return RunContext(spec: try PipelineSpec.parse(yaml: yaml, fileName: "plan.yaml"), checkpointsDirectory: root.appendingPathComponent("ckpt"), log: nil)
    }

    func testPlanWaitsOnlyForInstancesThatAreNotDone() throws {
        let ctx = try context()
        let fresh = try SlurmPlanner.plan([ctx], previous: nil, alive: []).jobs
        let all = StageRunner.allInstances(ctx.spec)
        XCTAssertEqual(fresh.map(\.instance), all)
        let names = fresh.map(\.instance.description)
        func waits(_ name: String, in plan: [SlurmPlanner.Planned]) -> [String] {
            plan.first { $0.instance.description == name }!.waitsFor.map { plan[$0].instance.description }
        }
        XCTAssertEqual(waits("train-base", in: fresh), [])
        XCTAssertEqual(waits("prune stem V=4", in: fresh), ["rank-channels stem", "train-base"])
        XCTAssertEqual(waits("fine-tune stem V=4", in: fresh), ["prune stem V=4"])
        XCTAssertTrue(names.firstIndex(of: "train-base")! < names.firstIndex(of: "prune stem V=4")!)

        // With train-base done, nothing waits for it and it is not submitted.
        try StageRunner.run(StageInstance("train-base"), ctx)
        let later = try SlurmPlanner.plan([ctx], previous: nil, alive: []).jobs
        XCTAssertEqual(later.count, all.count - 1)
        XCTAssertFalse(later.contains { $0.instance.stage == "train-base" })
        XCTAssertEqual(waits("train-attention stem", in: later), [])
        XCTAssertEqual(waits("prune stem V=4", in: later), ["rank-channels stem"])

        // A job of an earlier submission that Slurm still lists is kept (with its id), not submitted again;
        // one it no longer lists is submitted anew.
        let earlier = SlurmSubmission(pipeline: "plan", jobs: [
            SlurmJob(instance: "train-attention stem", seed: nil, jobID: "41", dependsOn: [], log: "x", command: [], submittedAt: "t"),
            SlurmJob(instance: "rank-channels stem", seed: nil, jobID: "42", dependsOn: ["41"], log: "x", command: [], submittedAt: "t"),
        ])
        let kept = try SlurmPlanner.plan([ctx], previous: earlier, alive: ["41"]).jobs
        XCTAssertEqual(kept.first { $0.instance.description == "train-attention stem" }?.existingJobID, "41")
        XCTAssertNil(kept.first { $0.instance.description == "rank-channels stem" }?.existingJobID)
        XCTAssertEqual(waits("rank-channels stem", in: kept), ["train-attention stem"])
    }

    func testAnInstanceAnotherProcessRunsIsLeftOutWithItsDownstream() throws {
        let ctx = try context()
        try StageRunner.run(StageInstance("train-base"), ctx)
        let attention = StageInstance("train-attention", split: "stem")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = ["-c", "exec -a aecnn-holder sleep 30"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        let lock = StageRunner.lockURL(attention, ctx)
        try FileManager.default.createDirectory(at: lock.deletingLastPathComponent(), withIntermediateDirectories: true)
        Thread.sleep(forTimeInterval: 0.2)
        try "\(holder.processIdentifier)\n".write(to: lock, atomically: true, encoding: .utf8)
        let (jobs, leftOut) = try SlurmPlanner.plan([ctx], previous: nil, alive: [])
        // Everything but train-base depends on the attention model except the baselines (none here).
        XCTAssertTrue(jobs.isEmpty, "\(jobs.map(\.instance))")
        XCTAssertTrue(leftOut[0].contains("train-attention stem: running in another process (pid \(holder.processIdentifier)"), leftOut[0])
        XCTAssertTrue(leftOut.contains { $0.hasPrefix("compare: waits for") }, "\(leftOut)")
    }

    func testScriptRunsTheUsersCommandAfterItsUpstreamJobs() throws {
        let ctx = try context()
        let i = StageInstance("fine-tune", split: "stem", ratio: 4)
        let command = SlurmPlanner.command(i, ctx, executable: "/opt/aecnn bin/aecnn", pipelinePath: "/shared/it's.yaml", checkpoints: "/shared/ckpt")
        XCTAssertEqual(command, ["/opt/aecnn bin/aecnn", "stage", "fine-tune", "--pipeline", "/shared/it's.yaml", "--checkpoints", "/shared/ckpt",
                                 "--split", "stem", "--ratio", "4"])
        let options = SlurmOptions(partition: "cpu", time: "02:00:00", cpusPerTask: nil, mem: "8G", account: "lab-1")
        let script = try SlurmPlanner.script(name: SlurmPlanner.jobName(i, ctx), log: SlurmPlanner.logPath(i, ctx), command: command,
                                         workingDirectory: "/shared/work", cpus: 2, options: options, dependencies: ["17", "18"])
        let lines = script.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "#!/bin/bash")
        for expected in ["#SBATCH --job-name=aecnn:plan:fine-tune:stem:4", "#SBATCH --cpus-per-task=2", "#SBATCH --partition=cpu",
                         "#SBATCH --time=02:00:00", "#SBATCH --mem=8G", "#SBATCH --account=lab-1",
                         "#SBATCH --dependency=afterok:17:18", "#SBATCH --kill-on-invalid-dep=yes", "cd /shared/work",
                         #"exec '/opt/aecnn bin/aecnn' stage fine-tune --pipeline '/shared/it'\''s.yaml' --checkpoints /shared/ckpt --split stem --ratio 4"#] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in\n\(script)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("#SBATCH --output=") && $0.hasSuffix("/.slurm/fine-tune--stem--4-%j.log") }, script)
        // No upstream job: no dependency lines.
        let first = try SlurmPlanner.script(name: "n", log: "/l", command: ["a"], workingDirectory: "/", cpus: 1, options: SlurmOptions(), dependencies: [])
        XCTAssertFalse(first.contains("--dependency"))
        XCTAssertFalse(first.contains("--partition"))
        // The quoting survives bash.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "printf '%s\\n' " + command.map(SlurmPlanner.shellQuoted).joined(separator: " ")]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), command.joined(separator: "\n") + "\n")
    }

    func testOptionsSlurmWouldRefuseAreNamed() {
        XCTAssertNil(SlurmOptions(partition: "gpu.a100", time: "1-12:00:00", cpusPerTask: 8, mem: "16G", account: "ml_lab").problem())
        for t in ["30", "30:00", "02:00:00", "2-0", "2-12:30", "0:01", "0-01", "00:00:01"] { XCTAssertNil(SlurmOptions(time: t).problem(), t) }
        var bad: [(SlurmOptions, String)] = [
            (SlurmOptions(partition: "cpu; rm -rf /"), "--partition"), (SlurmOptions(partition: ""), "--partition"),
            (SlurmOptions(time: "2h"), "--time"), (SlurmOptions(time: "0"), "--time"), (SlurmOptions(time: "1:99:00"), "--time"),
            (SlurmOptions(cpusPerTask: 0), "--cpus-per-task"), (SlurmOptions(cpusPerTask: 100_000), "--cpus-per-task"),
            (SlurmOptions(mem: "8GB"), "--mem"), (SlurmOptions(mem: "-1"), "--mem"), (SlurmOptions(account: "a b"), "--account"),
        ]
        // Every zero duration, in each form (Slurm reads a zero time limit as none).
        for t in ["000", "0:00", "00:00", "0:0:0", "00:00:00", "0-0", "0-00", "0-00:00", "0-00:00:00"] { bad.append((SlurmOptions(time: t), "--time")) }
        // A value ending in a line break is not the value it would be without it.
        for end in ["\n", "\r\n", "\r"] {
            bad += [(SlurmOptions(partition: "cpu" + end), "--partition"), (SlurmOptions(account: "lab" + end), "--account"),
                    (SlurmOptions(time: "02:00:00" + end), "--time"), (SlurmOptions(mem: "8G" + end), "--mem")]
        }
        for (options, name) in bad {
            let problem = options.problem()
            XCTAssertTrue(problem?.hasPrefix(name) == true, "\(options): \(problem ?? "accepted")")
            XCTAssertFalse(problem?.contains(where: \.isNewline) ?? false, "the message shows the value on one line: \(problem ?? "")")
        }
    }

    /// The words sbatch reads from an `#SBATCH` line, as its parser does (Slurm's src/sbatch/opt.c, get_argument):
    /// words end at white space; '…' and "…" group characters, white space and `#` included; a backslash makes
    /// the next character plain; an unquoted `#` ends the line. Nil for an unmatched quote (sbatch stops there).
    func sbatchWords(_ line: String) -> [String]? {
        let b = Array(line.utf8.dropFirst("#SBATCH".utf8.count))
        func space(_ c: UInt8) -> Bool { c == 0x20 || (0x09...0x0D).contains(c) }
        var words: [String] = [], i = 0
        while true {
            while i < b.count, space(b[i]) { i += 1 }
            var word: [UInt8] = [], quote: UInt8?, comment = false
            while i < b.count, quote != nil || !space(b[i]) {
                if b[i] == UInt8(ascii: "\\") {
                    i += 1
                    if i < b.count { word.append(b[i]); i += 1 }
                    continue
                }
                if let q = quote {
                    if b[i] == q { quote = nil; i += 1; continue }
                } else if b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") {
                    quote = b[i]; i += 1; continue
                } else if b[i] == UInt8(ascii: "#") {
                    comment = true; break
                }
                word.append(b[i]); i += 1
            }
            if quote != nil { return nil }
            if word.isEmpty { return words }
            words.append(String(decoding: word, as: UTF8.self))
            if comment || i >= b.count { return words }
        }
    }

    /// bash's reading of the `cd …` and `exec …` lines: the words after `cd` and after `exec`.
    func bashWords(_ line: String) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "printf '%s\\0' " + line.drop { $0 != " " }]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// Whether `bash -n` accepts the script.
    func bashAccepts(_ script: String) throws -> Bool {
        let file = root.appendingPathComponent("job-\(UUID().uuidString).sh")
        try Data(script.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-n", file.path]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// Paths with the characters a security probe tries (quotes, `$(…)`, backticks, `#`, `%`, white space, `..`,
    /// line breaks, other control characters, very long names) in the checkpoints folder (so in the log of an
    /// `#SBATCH --output` line), the working folder, the pipeline file and the binary: the script is refused with
    /// a message naming the value and the fix, or it passes `bash -n`, every `#SBATCH` line is one word to sbatch
    /// (`--option=value`, the log as given with the folder's `%` doubled), and after them come exactly
    /// `set -euo pipefail`, `cd` and `exec`, whose words bash reads back as given.
    func testHostilePathsAreRefusedOrWrittenAsOneWordEach() throws {
        let ctx = try context()
        let i = StageInstance("fine-tune", split: "stem", ratio: 4)
        let hostile = ["a/b/../../c", "it's", "say \"hi\"", "$(touch PWNED)", "`touch PWNED`", "two  words", "#hash", "100%done %j",
                       "semi;&|<>*?~{}[]!^", "-dash", "émoji 👍", String(repeating: "n", count: 255), String(repeating: "l/", count: 600),
                       "back\\slash", "new\nline", "ck\ntouch /tmp/PWNED\n", "wd $(touch X)\ntouch Y '\"", "cr\rhere", "crlf\r\n", "tab\there",
                       "nul\0x", "esc\u{1B}[31m", "del\u{7F}", "nel\u{85}", "ls\u{2028}", "ps\u{2029}"]
        for h in hostile {
            let checkpoints = root.appendingPathComponent("ck " + h).path
            let hctx = RunContext(spec: ctx.spec, checkpointsDirectory: URL(fileURLWithPath: checkpoints, isDirectory: true), log: nil)
            let log = SlurmPlanner.logPath(i, hctx)
            let command = SlurmPlanner.command(i, hctx, executable: "/opt/" + h + "/aecnn", pipelinePath: "/shared/" + h + ".yaml", checkpoints: checkpoints)
            let workingDirectory = "/work/" + h
            let refusable = SlurmPlanner.lineProblem(h) != nil || h.contains("\\")
            let script: String
            do {
                script = try SlurmPlanner.script(name: SlurmPlanner.jobName(i, hctx), log: log, command: command, workingDirectory: workingDirectory,
                                                 cpus: 2, options: SlurmOptions(partition: "cpu", time: "1:00:00"), dependencies: ["17", "18_2"])
            } catch {
                let message = "\(error)"
                XCTAssertTrue(refusable, "\(SlurmPlanner.shown(h)) refused: \(message)")
                XCTAssertTrue(message.contains(SlurmPlanner.shown(h)) && message.contains("Fix: "), message)
                XCTAssertFalse(message.unicodeScalars.contains(where: SlurmPlanner.breaksLine), "the message holds the raw value: \(SlurmPlanner.shown(message))")
                continue
            }
            XCTAssertFalse(refusable, "\(SlurmPlanner.shown(h)) accepted:\n\(script)")
            XCTAssertTrue(try bashAccepts(script), "bash -n refuses the script for \(h):\n\(script)")
            let lines = script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let directives = lines.dropFirst().prefix { $0.hasPrefix("#SBATCH ") }
            XCTAssertEqual(lines.count, 1 + directives.count + 4, script)
            let folder = String(log[..<log.lastIndex(of: "/")!])
            var expected = ["--job-name=" + SlurmPlanner.jobName(i, hctx),
                            "--output=" + folder.replacingOccurrences(of: "%", with: "%%") + "/fine-tune--stem--4-%j.log",
                            "--ntasks=1", "--cpus-per-task=2", "--partition=cpu", "--time=1:00:00", "--dependency=afterok:17:18_2", "--kill-on-invalid-dep=yes"]
            for line in directives {
                guard let words = sbatchWords(line) else { XCTFail("unmatched quote for sbatch: \(line)"); continue }
                XCTAssertEqual(words.count, 1, "sbatch reads \(words) from \(line)")
                XCTAssertEqual(words.first, expected.first, line)
                expected = Array(expected.dropFirst())
            }
            XCTAssertEqual(expected, [], script)
            let rest = Array(lines.suffix(4))
            XCTAssertEqual(rest[0], "set -euo pipefail")
            XCTAssertTrue(rest[1].hasPrefix("cd ") && rest[2].hasPrefix("exec ") && rest[3].isEmpty, script)
            XCTAssertEqual(try bashWords(rest[1]), [workingDirectory])
            XCTAssertEqual(try bashWords(rest[2]), command)
        }
    }

    /// `aecnn submit --dry-run` run by the binary from a hostile working folder, with a hostile checkpoints folder
    /// or pipeline file: it ends with status 2 and a message naming the path and the fix, or prints scripts that
    /// each pass `bash -n` and end in exactly `set -euo pipefail`, `cd …`, `exec …`; it writes nothing.
    func testSubmitDryRunWithHostilePathsRefusesOrPrintsSafeScripts() throws {
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let yaml = TinyDataset.pipelineYAML(name: "hostile", dataDirectory: data, epochs: 1, extra: "splits: [stem]\nratios: [2]\n")
        let safe = root.appendingPathComponent("safe")
        try FileManager.default.createDirectory(at: safe, withIntermediateDirectories: true)
        try yaml.write(to: safe.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        func tree() -> [String: Date] {
            var all: [String: Date] = [:]
            for path in (try? FileManager.default.subpathsOfDirectory(atPath: root.path)) ?? [] {
                all[path] = (try? FileManager.default.attributesOfItem(atPath: root.path + "/" + path))?[.modificationDate] as? Date ?? .distantPast
            }
            return all
        }
        let names = ["q'uo\"te $(touch PWNED) `touch PWNED` #1 100%j", "dot ../..", String(repeating: "n", count: 255),
                     "wd $(touch X)\ntouch Y '\"", "ck\ntouch PWNED\n", "cr\r", "ls\u{2028}x"]
        for name in names {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try yaml.write(to: folder.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
            // (working folder, --pipeline, --checkpoints): each in turn the hostile one.
            let cases = [(folder, safe.appendingPathComponent("p.yaml").path, "Checkpoints"),
                         (safe, folder.appendingPathComponent("p.yaml").path, safe.appendingPathComponent("ck").path),
                         (safe, "p.yaml", folder.appendingPathComponent("ck").path)]
            for (cwd, pipeline, checkpoints) in cases {
                let before = tree()
                let p = Process()
                p.executableURL = exe
                p.arguments = ["submit", "--pipeline", pipeline, "--checkpoints", checkpoints, "--slurm", "--dry-run", "--allow-local-paths", "--time", "10"]
                p.currentDirectoryURL = cwd
                let out = Pipe(), err = Pipe()
                p.standardOutput = out; p.standardError = err
                try p.run()
                let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                let label = "\(SlurmPlanner.shown(name)) as \(cwd == folder ? "working folder" : pipeline.hasPrefix(folder.path) ? "pipeline folder" : "checkpoints folder")"
                XCTAssertEqual(tree(), before, "\(label): the dry run wrote files")
                if SlurmPlanner.lineProblem(name) != nil {
                    XCTAssertEqual(p.terminationStatus, 2, "\(label): \(message)\n\(printed)")
                    XCTAssertTrue(message.contains(SlurmPlanner.shown(name)) && message.contains("Fix: "), "\(label): \(message)")
                    XCTAssertFalse(message.contains(name), "\(label): the message holds the raw path: \(message)")
                    continue
                }
                XCTAssertEqual(p.terminationStatus, 0, "\(label): \(message)")
                let scripts = printed.components(separatedBy: "#!/bin/bash\n").dropFirst()
                XCTAssertGreaterThan(scripts.count, 3, printed)
                for body in scripts {
                    let script = "#!/bin/bash\n" + body
                    let lines = script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                    let directives = lines.dropFirst().prefix { $0.hasPrefix("#SBATCH ") }
                    let rest = Array(lines.dropFirst(1 + directives.count).prefix(3))
                    XCTAssertEqual(rest.count, 3, script)
                    XCTAssertEqual(rest.first, "set -euo pipefail", script)
                    XCTAssertTrue(rest.count == 3 && rest[1].hasPrefix("cd ") && rest[2].hasPrefix("exec "), script)
                    // What follows is the next script's "# instance" line, a blank line, or the summary table.
                    if let after = lines.dropFirst(1 + directives.count + 3).first(where: { !$0.isEmpty }) {
                        XCTAssertTrue(after.hasPrefix("# ") || after.hasPrefix("instance"), "\(label): a line after exec: \(after)")
                    }
                    for line in directives { XCTAssertEqual(sbatchWords(line)?.count, 1, "\(label): \(line)") }
                    XCTAssertTrue(try bashAccepts(lines.prefix(1 + directives.count + 3).joined(separator: "\n") + "\n"), "\(label): bash -n refuses\n\(script)")
                    XCTAssertEqual(try bashWords(rest[1]), [cwd.standardizedFileURL.path], script)
                }
            }
        }
    }

    func testSbatchDirectivesAreQuotedAsSbatchReadsThem() throws {
        XCTAssertEqual(try SlurmPlanner.directive("output", "/a/b-%j.log", what: "the log", fix: "f"), "#SBATCH --output=/a/b-%j.log")
        XCTAssertEqual(try SlurmPlanner.directive("output", "/a b/it's \"q\" #1", what: "the log", fix: "f"), #"#SBATCH --output="/a b/it's \"q\" #1""#)
        XCTAssertEqual(sbatchWords(try SlurmPlanner.directive("output", "/a b/it's \"q\" #1", what: "the log", fix: "f")), [#"--output=/a b/it's "q" #1"#])
        // The oracle itself: sbatch's reading of unquoted and escaped values.
        XCTAssertEqual(sbatchWords(#"#SBATCH --output=/a b"#), ["--output=/a", "b"])
        XCTAssertEqual(sbatchWords(#"#SBATCH --output=/a#b"#), ["--output=/a"])
        XCTAssertEqual(sbatchWords(##"#SBATCH --output=/a\ b\#c 'd e'"##), ["--output=/a b#c", "d e"])
        XCTAssertNil(sbatchWords(#"#SBATCH --output=/it's"#))
        for value in ["/a\nb", "/a\rb", "/a\0b", "/a\u{85}", "/a\u{2028}", "/a\u{2029}", "/a\\b"] {
            XCTAssertThrowsError(try SlurmPlanner.directive("output", value, what: "the job log \(SlurmPlanner.shown(value))", fix: "choose another folder")) {
                XCTAssertTrue("\($0)".contains("#SBATCH --output") && "\($0)".contains("Fix: choose another folder"), "\($0)")
            }
        }
        XCTAssertThrowsError(try SlurmPlanner.script(name: "n", log: "/l", command: ["a"], workingDirectory: "/", cpus: 1, options: SlurmOptions(),
                                                     dependencies: ["17\n#SBATCH --wrap=x"])) { XCTAssertTrue("\($0)".contains("#SBATCH --dependency"), "\($0)") }
        for id in ["1", "1234567", "12_3", "12+1"] { XCTAssertTrue(SlurmCommands.isJobID(id), id) }
        for id in ["", "dry-run-1", "1 2", "1\n", "½", "٣", "-1", "1_", "1;2", "12_[1-3]", String(repeating: "9", count: 41)] {
            XCTAssertFalse(SlurmCommands.isJobID(id), id)
        }
    }

    func testPathsNodesWouldNotSeeAreRefused() {
        XCTAssertNotNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "Checkpoints", allowLocal: true))
        XCTAssertNotNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "/tmp/run/Checkpoints", allowLocal: false))
        XCTAssertNotNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "/dev/shm/x", allowLocal: false))
        XCTAssertNil(SlurmPlanner.nodeLocalProblem("Checkpoints", "/tmp/run/Checkpoints", allowLocal: true))
        // A path that does not exist yet, right under "/": judged by the root file system's type, whatever folder the
        // tests run from (a clone under /tmp included). Accepted unless the root itself is a tmpfs or ramfs.
        let fresh = "/aecnn-slurm-plan-test-\(UUID().uuidString)/Checkpoints"
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        var rootType: String?
        for line in mounts.split(whereSeparator: \.isNewline) {
            let fields: [Substring] = line.split(separator: " ")
            if fields.count >= 3, fields[1] == "/" { rootType = String(fields[2]) }
        }
        let problem = SlurmPlanner.nodeLocalProblem("Checkpoints", fresh, allowLocal: false)
        if let rootType, ["tmpfs", "ramfs"].contains(rootType) {
            XCTAssertNotNil(problem, "root is a \(rootType)")
        } else {
            XCTAssertNil(problem, "root file system \(rootType ?? "unknown")")
        }
    }

    func testSubmissionRecordRoundTripsAndACorruptOneIsNamed() throws {
        let dir = root.appendingPathComponent("record")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertNil(try SlurmSubmission.load(dir))
        let record = SlurmSubmission(pipeline: "p", jobs: [SlurmJob(instance: "prune stem V=2", seed: 1, jobID: "7", dependsOn: ["5", "6"],
                                                                    log: "/a/b-%j.log", command: ["/x/aecnn", "stage"], submittedAt: "2026-12-02T00:00:00Z")])
        try record.save(dir)
        XCTAssertEqual(try SlurmSubmission.load(dir), record)
        XCTAssertTrue(try String(contentsOf: SlurmSubmission.url(dir), encoding: .utf8).contains("\"/a/b-%j.log\""))
        try "{".write(to: SlurmSubmission.url(dir), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SlurmSubmission.load(dir)) { XCTAssertTrue("\($0)".contains("submitted.json"), "\($0)") }
        // Written by another process: job ids that are not Slurm's (they reach squeue and --dependency) and
        // instance names that break lines are refused, naming the file and the fix.
        var arrays = record
        arrays.jobs[0].jobID = "7_1"
        arrays.jobs[0].dependsOn = ["5+0"]
        try arrays.save(dir)
        XCTAssertEqual(try SlurmSubmission.load(dir), arrays)
        for (id, dependsOn, instance) in [("7\n#SBATCH --wrap=x", ["5"], "prune"), ("7", ["5:6"], "prune"), ("7", ["$(touch x)"], "prune"),
                                          ("", [], "prune"), ("7", [], "prune\n\u{1B}[2J")] {
            var hostile = record
            hostile.jobs[0].jobID = id
            hostile.jobs[0].dependsOn = dependsOn
            hostile.jobs[0].instance = instance
            try hostile.save(dir)
            XCTAssertThrowsError(try SlurmSubmission.load(dir)) {
                let message = "\($0)"
                XCTAssertTrue(message.contains(SlurmSubmission.url(dir).path) && message.contains("Fix: delete it"), message)
                XCTAssertFalse(message.contains(where: \.isNewline), message)
            }
        }
    }

    /// A lock naming something that is not a Slurm job id is not asked of squeue (here a stand-in that answers
    /// "Invalid job id" to anything, which would make the lock look stale).
    func testALockWithoutASlurmJobIDIsNotAskedOfSqueue() throws {
        let bin = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let squeue = bin.appendingPathComponent("squeue")
        try "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n".write(to: squeue, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: squeue.path)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        setenv("PATH", bin.path + ":" + path, 1)
        defer { setenv("PATH", path, 1) }
        XCTAssertEqual(PipelineLock.slurmJobEnded("12"), true)
        for id in ["½", "٣", "12 13", "-h"] { XCTAssertNil(PipelineLock.slurmJobEnded(id), id) }
    }
}
