// FileIO: thin POSIX helpers (open, pread/write loops that retry EINTR and short transfers, fstat, fsync)
// shared by AtomicFile, SHA256 and the safetensors reader. Every failure is a `FileIOError` naming the path.
// It does no buffering policy of its own beyond what the callers ask for.

import Foundation
import Glibc  // Linux only, like the rest of the package

/// A file-system operation failed.
public struct FileIOError: Error, CustomStringConvertible, Equatable {
    /// The file or directory concerned.
    public let path: String
    /// What was being done ("open", "write", "rename", ...).
    public let operation: String
    /// The `errno` value, or 0 when the failure is not a system-call error.
    public let code: Int32
    /// Extra explanation, if any.
    public let detail: String

    public init(path: String, operation: String, code: Int32 = 0, detail: String = "") {
        self.path = path
        self.operation = operation
        self.code = code
        self.detail = detail
    }

    public var description: String {
        var s = "\(operation) failed for \(path)"
        if code != 0 { s += ": \(String(cString: strerror(code)))" }
        if !detail.isEmpty { s += ": \(detail)" }
        switch code {
        case ENOENT: s += " (check that the path exists and is spelled right)"
        case ENOTDIR: s += " (a component of the path is a regular file, not a directory)"
        case EACCES, EPERM: s += " (check the permissions of the file and its directory)"
        case ENOSPC: s += " (the disk is full: free some space and rerun)"
        case EROFS: s += " (the file system is read-only)"
        default: break
        }
        return s
    }
}

/// POSIX file helpers. All take and report paths, never trap.
enum FileIO {
    /// Opens `path`. A read-only open is non-blocking, so that a FIFO (or a device) where a file belongs does not
    /// hang in `open()` waiting for a writer; `size` then refuses anything but a regular file. On regular files
    /// O_NONBLOCK changes nothing.
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644, operation: String = "open") throws -> Int32 {
        let nonBlocking = (flags & O_ACCMODE) == O_RDONLY ? O_NONBLOCK : 0
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC | nonBlocking, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw FileIOError(path: path, operation: operation, code: errno)
        }
    }

    /// Size in bytes of an open file; anything but a regular file (a FIFO, a device, a directory) is an error.
    static func size(_ fd: Int32, path: String) throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileIOError(path: path, operation: "stat", code: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            let kind = [S_IFIFO: "a FIFO", S_IFDIR: "a directory", S_IFCHR: "a character device", S_IFBLK: "a block device",
                        S_IFSOCK: "a socket"][st.st_mode & S_IFMT] ?? "not a regular file"
            throw FileIOError(path: path, operation: "open", detail: "\(kind), where a regular file belongs")
        }
        return Int(st.st_size)
    }

    /// Write all of `bytes`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.write(fd, p, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(path: path, operation: "write", code: errno)
            }
            if n == 0 { throw FileIOError(path: path, operation: "write", detail: "wrote 0 bytes") }
            p += n
            left -= n
        }
    }

    /// Read exactly `count` bytes at `offset` into `dest`; a short file is an error.
    static func preadExactly(_ fd: Int32, into dest: UnsafeMutableRawPointer, count: Int, offset: Int, path: String) throws {
        var done = 0
        while done < count {
            let n = pread(fd, dest + done, min(count - done, 1 << 30), off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(path: path, operation: "read", code: errno)
            }
            if n == 0 {
                throw FileIOError(path: path, operation: "read",
                                  detail: "file ended after \(offset + done) bytes, expected at least \(offset + count)")
            }
            done += n
        }
    }

    static func fsync(_ fd: Int32, path: String) throws {
        while Glibc.fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw FileIOError(path: path, operation: "fsync", code: errno)
        }
    }

    /// fsync a directory so that entries created, renamed or removed in it are durable.
    static func fsyncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    /// Call `body` with consecutive chunks of the file (each valid only during the call).
    static func forEachChunk(of url: URL, chunkSize: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let path = url.path
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        _ = try size(fd, path: path)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { buf.deallocate() }
        while true {
            let n = read(fd, buf, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(path: path, operation: "read", code: errno)
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(start: buf, count: n))
        }
    }

    /// Create `dir` and any missing ancestors, fsyncing each parent so the new entries are durable.
    static func createDirectories(_ dir: String) throws {
        var missing: [String] = []
        var cur = dir
        while true {
            var st = stat()
            if stat(cur, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw FileIOError(path: cur, operation: "create directory \(dir)", code: ENOTDIR)
                }
                break
            }
            if errno != ENOENT { throw FileIOError(path: cur, operation: "create directory \(dir)", code: errno) }
            missing.append(cur)
            let parent = (cur as NSString).deletingLastPathComponent
            if parent == cur || parent.isEmpty { break }
            cur = parent
        }
        for d in missing.reversed() {
            if mkdir(d, 0o755) != 0 && errno != EEXIST {
                throw FileIOError(path: d, operation: "create directory", code: errno)
            }
            let parent = (d as NSString).deletingLastPathComponent
            try fsyncDirectory(parent.isEmpty ? "." : parent)
        }
    }
}

extension FileIOError {
    /// Creates a folder and its parents; a failure is a `FileIOError` with the system's reason (read-only file
    /// system, permissions, a file in the way) rather than Foundation's text.
    public static func createDirectory(at url: URL, detail: String = "") throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch let error as NSError {
            let underlying = (error.userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
            var code = underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil } ?? 0
            if code == 0, error.domain == NSCocoaErrorDomain {   // Foundation's own codes for the usual causes
                code = [NSFileWriteVolumeReadOnlyError: EROFS, NSFileWriteNoPermissionError: EACCES,
                        NSFileWriteOutOfSpaceError: ENOSPC, NSFileNoSuchFileError: ENOENT][error.code] ?? 0
            }
            throw FileIOError(path: url.path, operation: "create the folder", code: code,
                              detail: code == 0 ? [error.localizedDescription, detail].filter { !$0.isEmpty }.joined(separator: "; ") : detail)
        }
    }
}

/// Whole-file reads of files that should be small (a comparison.json, a frame, a result): the file's kind is
/// checked before anything blocks (a FIFO is refused, not waited on) and its size before anything is read (a
/// huge file is refused, not loaded).
public enum SafeRead {
    /// The most a record aecnn writes (result.json, failed.json, a ranking, a submission record, a quantiser
    /// file) may hold: far above any real one.
    public static let recordLimit = 64 << 20

    /// The contents of the regular file at `url`, at most `limit` bytes.
    /// - Throws: `FileIOError` naming the file: missing, unreadable, not a regular file, or larger than `limit`.
    public static func contents(of url: URL, limit: Int) throws -> Data {
        let path = url.path
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        let size = try FileIO.size(fd, path: path)
        guard size <= limit else {
            throw FileIOError(path: path, operation: "read", detail: "the file is \(size) bytes, more than the \(limit) bytes such a file may have")
        }
        var data = Data(count: size)
        try data.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress, size > 0 else { return }
            try FileIO.preadExactly(fd, into: base, count: size, offset: 0, path: path)
        }
        return data
    }
}
