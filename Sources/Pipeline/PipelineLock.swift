// One writer per pipeline: Checkpoints/<pipeline>/.lock holds the writer's pid. A lock whose process is gone
// (killed with -9, machine restarted) is stale and is cleared; a live one stops the second process with a
// message naming the pid.

import Foundation
import Checkpoint
#if canImport(Glibc)
import Glibc
#endif

public final class PipelineLock {
    public let url: URL
    private var held = false

    public init(root: URL) { url = root.appendingPathComponent(".lock") }

    static func alive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        // A recycled pid running something else is not a holder.
        let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        return cmd.isEmpty || cmd.contains("aecnn") || cmd.contains("xctest")
    }

    /// Take the lock or throw `StageError.locked`.
    public func acquire() throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        for _ in 0..<3 {
            let fd = open(url.path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
            if fd >= 0 {
                let text = "\(getpid())\n"
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
                throw FileIOError(path: url.path, operation: "create the pipeline lock", code: errno,
                                  detail: "Checkpoints must be a writable folder")
            }
            let holder = Int32(((try? String(contentsOf: url, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            if holder == getpid() { held = true; return }
            if PipelineLock.alive(holder) { throw StageError.locked(path: url.path, pid: holder) }
            try? FileManager.default.removeItem(at: url)   // stale: its process is gone
        }
        throw StageError.locked(path: url.path, pid: 0)
    }

    /// Temporary files of atomic writes (`.NAME.tmp-PID-N`) left by a process killed mid-write: with the lock
    /// held no other writer is in this pipeline, so those of processes that are gone are removed.
    func removeStaleTemporaries() {
        let root = url.deletingLastPathComponent()
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return }
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
