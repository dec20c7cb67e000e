// AtomicFile: replace a file so that readers (and a crash at any moment) see either the old contents or the
// new ones, never a mix: write a temporary file in the same directory, fsync it, rename it over the target,
// fsync the directory. Also `appendLine` for JSON-lines logs. It does not lock: two concurrent writers of the
// same target each produce a complete file and the last rename wins.

import Foundation
import Glibc  // Linux only, like the rest of the package

/// Crash-safe whole-file writes and durable line appends.
public enum AtomicFile {
    /// Buffered byte sink handed to the body of `write(to:_:)`. Valid only during that call.
    public final class Output {
        fileprivate let fd: Int32
        fileprivate let path: String
        private var buffer: UnsafeMutableRawPointer
        private var used = 0
        private static let capacity = 1 << 20
        /// Bytes written so far.
        public private(set) var byteCount = 0

        fileprivate init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
            self.buffer = UnsafeMutableRawPointer.allocate(byteCount: Output.capacity, alignment: 64)
        }

        deinit { buffer.deallocate() }

        /// Append raw bytes.
        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            byteCount += bytes.count
            if used + bytes.count <= Output.capacity {
                if let b = bytes.baseAddress, bytes.count > 0 { (buffer + used).copyMemory(from: b, byteCount: bytes.count) }
                used += bytes.count
                return
            }
            try flush()
            if bytes.count >= Output.capacity / 2 {
                try FileIO.writeAll(fd, bytes, path: path)
            } else if let b = bytes.baseAddress {
                buffer.copyMemory(from: b, byteCount: bytes.count)
                used = bytes.count
            }
        }

        /// Append the bytes of an array, `Data` or other contiguous collection.
        public func write<C: ContiguousBytes>(_ bytes: C) throws {
            try bytes.withUnsafeBytes { try write($0) }
        }

        fileprivate func flush() throws {
            if used > 0 { try FileIO.writeAll(fd, UnsafeRawBufferPointer(start: buffer, count: used), path: path) }
            used = 0
        }
    }

    /// Atomically replace (or create) the file at `url` with `data`. See `write(to:_:)`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(data) }
    }

    /// Atomically replace (or create) the file at `url` with `bytes`. See `write(to:_:)`.
    public static func write(_ bytes: [UInt8], to url: URL) throws {
        try write(to: url) { try $0.write(bytes) }
    }

    /// Atomically replace (or create) the file at `url` with whatever `body` writes into the `Output`.
    ///
    /// Missing parent directories are created. The bytes go to `.NAME.tmp-PID-RANDOM` in the target's directory,
    /// which is fsynced, renamed over `url`, and then the directory is fsynced. If `body` or any step up to the
    /// rename throws, the temporary file is removed and the old file (if any) is untouched. If only the final
    /// directory fsync fails the new contents are in place but may not survive a power loss; the error is thrown.
    /// - Throws: `FileIOError` naming the path and the failed operation, or whatever `body` throws.
    /// - Returns: the number of bytes written.
    @discardableResult
    public static func write(to url: URL, _ body: (Output) throws -> Void) throws -> Int {
        let target = url.standardizedFileURL.path
        let dir = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        guard !name.isEmpty, name != "/" else {
            throw FileIOError(path: target, operation: "atomic write", detail: "the path names no file")
        }
        try FileIO.createDirectories(dir.isEmpty ? "." : dir)
        let tmp = (dir as NSString).appendingPathComponent(".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = try FileIO.open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644, operation: "create temporary file")
        var renamed = false
        var open = true
        defer {
            if open { close(fd) }
            if !renamed { unlink(tmp) }
        }
        let out = Output(fd: fd, path: tmp)
        try body(out)
        try out.flush()
        try FileIO.fsync(fd, path: tmp)
        open = false
        if close(fd) != 0 { throw FileIOError(path: tmp, operation: "close", code: errno) }
        if rename(tmp, target) != 0 {
            throw FileIOError(path: target, operation: "rename \(tmp) to", code: errno)
        }
        renamed = true
        try FileIO.fsyncDirectory(dir.isEmpty ? "." : dir)
        return out.byteCount
    }

    /// Append one line (a newline is added) to the file at `url`, creating it and its directories if missing.
    ///
    /// The line is written with one `write` on an `O_APPEND` descriptor, so concurrent appenders do not
    /// interleave within a line. Meant for JSON-lines metrics.
    /// - Parameters:
    ///   - line: the text, without a newline; a line containing `\n` or `\r` is rejected.
    ///   - sync: fsync the file after writing (slower; use for records that must survive a crash).
    /// - Throws: `FileIOError`.
    public static func appendLine(_ line: String, to url: URL, sync: Bool = false) throws {
        let path = url.standardizedFileURL.path
        guard !line.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
            throw FileIOError(path: path, operation: "append line",
                              detail: "the line contains a newline; encode it as one JSON line")
        }
        let dir = (path as NSString).deletingLastPathComponent
        try FileIO.createDirectories(dir.isEmpty ? "." : dir)
        let fd = try FileIO.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        try bytes.withUnsafeBytes { try FileIO.writeAll(fd, $0, path: path) }
        if sync { try FileIO.fsync(fd, path: path) }
    }
}
