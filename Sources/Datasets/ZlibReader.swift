// Reading a dataset file that may be gzip'd: a file starting with the gzip magic (1f 8b) is inflated with
// zlib, every other file is read as it is, so every reader here accepts `name` and `name.gz` alike.
// zlib's `inflate` is driven here rather than through `gzread`, which reports the end of the data without
// having read the gzip trailer when the data ends exactly where a read ends: here the data ends only when
// inflate has checked the trailer's CRC-32 and length. It turns every zlib and file-system failure into a
// DatasetError; it does not parse any format.

import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file opened for reading, gzip'd or plain. Internal: the format readers build on it.
final class ZlibReader {
    let path: String
    /// Size of the file on disk (compressed size for a gzip file).
    let fileSize: Int
    /// True when the file is plain (read as it is), false when it is gzip'd; decided when it is opened.
    private(set) var isPlain = true
    private let fd: Int32
    /// Bytes read from the file and not yet consumed: `pending` of them at `next`.
    private let input: UnsafeMutablePointer<UInt8>
    private static let inputCapacity = 1 << 17
    private var next: UnsafeMutablePointer<UInt8>
    private var pending = 0
    private var fileEnded = false
    /// The inflate state (gzip files only); allocated once so that zlib's back-pointer to it stays valid.
    private var stream: UnsafeMutablePointer<z_stream>?
    /// True between the start of a gzip member and its checked trailer.
    private var insideMember = false
    /// True once the data has ended (after the last member's trailer, or at a plain file's end).
    private var dataEnded = false

    /// Deflate cannot expand data by more than about 1032:1, so a gzip file of `n` bytes holds at most
    /// this many uncompressed bytes. Used to refuse impossible headers before allocating anything.
    static let maxDeflateRatio = 1032

    /// Open `path`; `missingHint` is the fix offered when the file does not exist.
    init(path: String, missingHint: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError(.missingFile, path: path, expected: "an existing file", found: "no such file",
                               hint: missingHint)
        }
        if isDirectory.boolValue {
            throw DatasetError(.unreadable, path: path, expected: "a regular file", found: "a directory",
                               hint: "point the dataset path at the folder holding the files, not at a file name")
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw DatasetError(.unreadable, path: path, expected: "a readable file", found: "open failed: \(reason)",
                               hint: "check the file's permissions")
        }
        // The size of the file opened (through a symbolic link, its target's).
        var info = stat()
        self.fileSize = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        self.path = path
        self.fd = fd
        input = .allocate(capacity: ZlibReader.inputCapacity)
        next = input
        // Gzip when the first two bytes are the magic (as zlib's gzread decides); then inflate with a gzip wrapper.
        var plain = true
        do {
            while pending < 2, try fill() > 0 {}
            plain = !(pending >= 2 && input[0] == 0x1F && input[1] == 0x8B)
        } catch {
            input.deallocate()
            close(fd)
            throw error
        }
        isPlain = plain
        if !plain {
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            guard inflateInit2_(s, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                s.deallocate()
                input.deallocate()
                close(fd)
                throw DatasetError(.unreadable, path: path, expected: "memory to decompress the file", found: "zlib could not start",
                                   hint: "free some memory and retry")
            }
            stream = s
        }
    }

    deinit {
        if let s = stream {
            inflateEnd(s)
            s.deallocate()
        }
        input.deallocate()
        close(fd)
    }

    /// Most uncompressed bytes the rest of the file can hold, given that `consumed` have been read already.
    func maxRemainingBytes(afterReading consumed: Int) -> Int {
        if isPlain { return max(0, fileSize - consumed) }
        let (bound, overflow) = fileSize.multipliedReportingOverflow(by: ZlibReader.maxDeflateRatio)
        return overflow ? Int.max : bound + 1024
    }

    /// Read up to `count` bytes into `buffer`; fewer only at the end of the data.
    /// Throws `.corruptGzip` if the gzip stream is damaged or ends early (its trailer included: the data of a
    /// gzip file ends only after its CRC-32 and length have been checked), `.unreadable` on an I/O error.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        let out = buffer.assumingMemoryBound(to: UInt8.self)
        var done = 0
        while done < count, !dataEnded {
            if pending == 0, try fill() == 0 {
                if insideMember {
                    throw DatasetError(.corruptGzip, path: path, expected: "a complete gzip stream",
                                       found: "the stream ends early (the file ends before the end of the compressed data or of its 8-byte trailer)",
                                       hint: "the file is truncated: download or decompress it again")
                }
                dataEnded = true
                break
            }
            guard let s = stream else {   // plain: the buffered bytes, then straight from the file
                let n = min(pending, count - done)
                (out + done).update(from: next, count: n)
                next += n; pending -= n; done += n
                if pending == 0, count - done >= ZlibReader.inputCapacity {
                    let got = try readFile(into: out + done, count: count - done)
                    if got == 0 { fileEnded = true }
                    done += got
                }
                continue
            }
            if !insideMember {
                // After a member: another one must follow; anything else after the first is ignored, as zlib's
                // gzread does (trailing bytes, such as padding).
                while pending < 2, !fileEnded, try fill() > 0 {}
                guard pending >= 2, next[0] == 0x1F, next[1] == 0x8B else { dataEnded = true; break }
                guard inflateReset(s) == Z_OK else { try inflateFailed(Z_STREAM_ERROR) }
                insideMember = true
            }
            s.pointee.next_in = next
            s.pointee.avail_in = UInt32(pending)
            s.pointee.next_out = out + done
            s.pointee.avail_out = UInt32(min(count - done, Int(UInt32.max)))
            let status = inflate(s, Z_NO_FLUSH)
            let produced = Int(UInt32(min(count - done, Int(UInt32.max))) - s.pointee.avail_out)
            next += pending - Int(s.pointee.avail_in)
            pending = Int(s.pointee.avail_in)
            done += produced
            switch status {
            case Z_STREAM_END: insideMember = false   // the trailer's CRC-32 and length matched
            case Z_OK, Z_BUF_ERROR: continue
            default: try inflateFailed(status)
            }
        }
        return done
    }

    /// Read exactly `count` bytes as an array, or fewer if the data ends first.
    func readBytes(_ count: Int) throws -> [UInt8] {
        var got = 0
        let bytes = try [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            defer { initialized = got }  // bytes the read wrote are initialised even if it throws
            if count > 0 { got = try read(into: buf.baseAddress!, count: count) }
        }
        return bytes
    }

    /// True if at least one more byte can be read (the file is longer than expected).
    func hasMoreData() throws -> Bool {
        var byte: UInt8 = 0
        return try read(into: &byte, count: 1) == 1
    }

    /// Read everything left, in chunks, allocating only as data actually arrives.
    func readToEnd() throws -> [UInt8] {
        var out = [UInt8]()
        if isPlain { out.reserveCapacity(fileSize) }
        let chunkSize = 1 << 20
        let chunk = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }
        while true {
            let got = try read(into: chunk.baseAddress!, count: chunkSize)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<got]))
            if got < chunkSize { return out }
        }
    }

    /// Moves the unconsumed bytes to the front of the input buffer and reads more after them; returns how
    /// many were read (0 at the end of the file).
    private func fill() throws -> Int {
        if fileEnded { return 0 }
        if next != input, pending > 0 { input.update(from: next, count: pending) }
        next = input
        let got = try readFile(into: input + pending, count: ZlibReader.inputCapacity - pending)
        if got == 0 { fileEnded = true }
        pending += got
        return got
    }

    /// One `read` of the file (retried when interrupted).
    private func readFile(into buffer: UnsafeMutablePointer<UInt8>, count: Int) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw DatasetError(.unreadable, path: path, expected: "a readable file",
                               found: "read failed: \(String(cString: strerror(errno)))", hint: "check the disk and the file")
        }
    }

    private func inflateFailed(_ status: Int32) throws -> Never {
        let message = stream?.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
        if status == Z_MEM_ERROR {
            throw DatasetError(.unreadable, path: path, expected: "memory to decompress the file", found: message,
                               hint: "free some memory and retry")
        }
        throw DatasetError(.corruptGzip, path: path, expected: "a valid gzip stream", found: message,
                           hint: "the file is damaged: download it again, or store it uncompressed")
    }
}
