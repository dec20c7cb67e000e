// One writer per unit of work. Each stage instance has its own lock (`StageRunner.lockURL`: under
// Checkpoints/<pipeline>/.locks/), so two processes can run different instances of one pipeline while a second
// process on the same instance is refused with the holder's pid, host and start time. The lock file holds
// those three lines, and a fourth with the Slurm job id when the holder runs as a Slurm job. A lock whose
// process is gone (killed with -9, machine restarted) is stale and is cleared when the holder ran on this
// host, or ran on another host as a Slurm job that `squeue` no longer lists; any other holder on another host
// (a shared file system) cannot be checked from here and is reported with the file to remove if that process
// is known to be gone.
// `PipelineLock(root:)` is the same lock over a whole folder (Checkpoints/<pipeline>/.lock).

import Foundation
import Checkpoint
#if canImport(Glibc)
import Glibc
#endif

public final class PipelineLock {
    public let url: URL
    /// The folder whose leftover temporaries of dead writers are removed once the lock is held.
    let workFolder: URL
    private var held = false

    /// The lock of a whole folder: `root/.lock`.
    public init(root: URL) { url = root.appendingPathComponent(".lock"); workFolder = root }

    /// A lock file guarding `workFolder`.
    public init(file: URL, guarding workFolder: URL) { url = file; self.workFolder = workFolder }

    /// Who holds a lock: the lock file's three lines.
    public struct Holder: CustomStringConvertible, Sendable {
        public var pid: Int32
        public var host: String?
        public var since: String?
        /// The Slurm job the holder runs in, if any.
        public var job: String?
        public var description: String {
            "pid \(pid)" + (host.map { " on \($0)" } ?? "") + (job.map { " (Slurm job \($0))" } ?? "") + (since.map { " since \($0)" } ?? "")
        }
        /// The holder runs on this host.
        var isLocal: Bool { host == nil || host == PipelineLock.hostName }
    }

    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        return gethostname(&buffer, buffer.count) == 0 ? String(cString: buffer) : "localhost"
    }()

    static func alive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        // A recycled pid running something else is not a holder.
        let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        return cmd.isEmpty || cmd.contains("aecnn") || cmd.contains("xctest")
    }

    static func readHolder(_ url: URL) -> Holder? {
        guard let data = try? SafeRead.contents(of: url, limit: 4096) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        func line(_ k: Int) -> String? { lines.count > k && !lines[k].isEmpty ? lines[k] : nil }
        return Holder(pid: Int32(lines.first ?? "") ?? 0, host: line(1), since: line(2), job: line(3))
    }

    /// The live holder of a lock file (a holder on another host counts as live unless it is a Slurm job that
    /// has ended), or nil.
    public static func holder(of url: URL) -> Holder? {
        guard let h = readHolder(url) else { return nil }
        return live(h) ? h : nil
    }

    static func live(_ h: Holder) -> Bool {
        if h.isLocal { return alive(h.pid) }
        if let job = h.job, slurmJobEnded(job) == true { return false }
        return true
    }

    /// Whether Slurm says the job has ended: true when `squeue` lists it in no active state (or no longer knows
    /// it), false when it is queued or running, nil when Slurm cannot be asked (no `squeue` here, or no answer)
    /// or the lock names no Slurm job id (`SlurmCommands.isJobID`).
    static func slurmJobEnded(_ job: String) -> Bool? {
        guard SlurmCommands.isJobID(job),
              let r = try? SlurmCommands.run("squeue", ["-h", "-o", "%i", "-j", job, "-t", SlurmCommands.activeStates]) else { return nil }
        if r.status == 0 { return !r.out.split(whereSeparator: \.isNewline).contains { $0.trimmingCharacters(in: .whitespaces) == job } }
        return r.err.contains("Invalid job id") ? true : nil
    }

    /// Take the lock or throw `StageError.locked`.
    public func acquire() throws {
        try FileIOError.createDirectory(at: url.deletingLastPathComponent(), detail: "Fix: Checkpoints must be a writable folder (choose one with --checkpoints DIR)")
        for _ in 0..<3 {
            let fd = open(url.path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
            if fd >= 0 {
                let since = ISO8601DateFormatter().string(from: Date())
                let job = ProcessInfo.processInfo.environment["SLURM_JOB_ID"].map { $0 + "\n" } ?? ""
                let text = "\(getpid())\n\(PipelineLock.hostName)\n\(since)\n" + job
                _ = text.withCString { write(fd, $0, strlen($0)) }
                fsync(fd)
                close(fd)
                held = true
                removeStaleTemporaries()
                return
            }
            // Anything but "it exists" is the file system refusing (read-only, permissions, a file where the
            // folder should be), not another process.
            guard errno == EEXIST else {
                throw FileIOError(path: url.path, operation: "create the lock", code: errno,
                                  detail: "Checkpoints must be a writable folder")
            }
            // Something that is not a lock file (a folder, a FIFO) is named as such, not taken for a holder.
            var st = stat()
            if lstat(url.path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
                throw StageError.invalidSettings("\(url.path) is \((st.st_mode & S_IFMT) == S_IFDIR ? "a folder" : "not a regular file"), where aecnn keeps a lock file. Fix: remove it (rm -r '\(url.path)') and rerun")
            }
            guard let holder = PipelineLock.readHolder(url) else { continue }
            if holder.pid == getpid() && holder.isLocal { held = true; return }
            if PipelineLock.live(holder) {
                throw StageError.locked(path: url.path, holder: holder.isLocal ? holder.description : "\(holder) (another host: if that process is gone, remove the lock file)")
            }
            try? FileManager.default.removeItem(at: url)   // stale: its process is gone
        }
        throw StageError.locked(path: url.path, holder: "a process that keeps recreating it")
    }

    /// Temporary files of atomic writes (`.NAME.tmp-PID-N`) left by a process killed mid-write: with the lock
    /// held no other writer is in this folder (or in `folder`, the instance's forced-rerun folder), so those of
    /// processes that are gone are removed.
    func removeStaleTemporaries(in folder: URL? = nil) {
        guard let walker = FileManager.default.enumerator(at: folder ?? workFolder, includingPropertiesForKeys: nil) else { return }
        for case let file as URL in walker {
            let name = file.lastPathComponent
            guard name.hasPrefix("."), let range = name.range(of: ".tmp-", options: .backwards) else { continue }
            let parts = name[range.upperBound...].split(separator: "-")
            guard parts.count == 2, let pid = Int32(parts[0]), UInt32(parts[1]) != nil,
                  pid != getpid(), !PipelineLock.alive(pid) else { continue }
            try? FileManager.default.removeItem(at: file)
        }
    }

    public func release() {
        if held { try? FileManager.default.removeItem(at: url); held = false }
    }

    deinit { release() }
}
