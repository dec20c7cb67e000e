// Reading a dataset file through zlib's gz* interface, which decompresses gzip and passes plain files through
// unchanged, so every reader here accepts `name` and `name.gz` alike.
// It turns every zlib and file-system failure into a DatasetError; it does not parse any format.

import CZlib
import Foundation

/// A file opened for reading through zlib (gzip'd or plain). Internal: the format readers build on it.
final class ZlibReader {
    let path: String
    /// Size of the file on disk (compressed size for a gzip file).
    let fileSize: Int
    private let file: gzFile

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
        // The size of the file itself, not of a symbolic link to it.
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let size = (try? FileManager.default.attributesOfItem(atPath: resolved)[.size] as? NSNumber)?.intValue ?? 0
        guard let f = gzopen(path, "rb") else {
            let reason = String(cString: strerror(errno))
            throw DatasetError(.unreadable, path: path, expected: "a readable file", found: "open failed: \(reason)",
                               hint: "check the file's permissions")
        }
        self.path = path
        self.fileSize = size
        self.file = f
        _ = gzbuffer(f, 1 << 17)  // before the first read; larger reads than the 8 KiB default
    }

    deinit { gzclose(file) }

    /// True when the file is plain (zlib copies it through). Meaningful only after the first read.
    var isPlain: Bool { gzdirect(file) != 0 }

    /// Most uncompressed bytes the rest of the file can hold, given that `consumed` have been read already.
    func maxRemainingBytes(afterReading consumed: Int) -> Int {
        if isPlain { return max(0, fileSize - consumed) }
        let (bound, overflow) = fileSize.multipliedReportingOverflow(by: ZlibReader.maxDeflateRatio)
        return overflow ? Int.max : bound + 1024
    }

    /// Read up to `count` bytes into `buffer`; fewer only at the end of the data.
    /// Throws `.corruptGzip` if the gzip stream is damaged or ends early, `.unreadable` on an I/O error.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var done = 0
        while done < count {
            let want = UInt32(min(count - done, 1 << 30))
            let n = gzread(file, buffer + done, want)
            if n < 0 { try throwZlibError(); break }
            if n == 0 { break }
            done += Int(n)
        }
        if done < count { try checkStreamState() }
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

    /// After a short read: a gzip stream that stopped early leaves Z_BUF_ERROR; a clean end leaves Z_OK.
    private func checkStreamState() throws {
        var err: Int32 = 0
        let message = gzerror(file, &err).map { String(cString: $0) } ?? ""
        if err == Z_OK || err == Z_STREAM_END { return }
        if err == Z_BUF_ERROR {
            throw DatasetError(.corruptGzip, path: path, expected: "a complete gzip stream",
                               found: "the stream ends early (\(message))",
                               hint: "the file is truncated: download or decompress it again")
        }
        try throwZlibError()
    }

    private func throwZlibError() throws {
        var err: Int32 = 0
        let message = gzerror(file, &err).map { String(cString: $0) } ?? "unknown error"
        if err == Z_ERRNO {
            throw DatasetError(.unreadable, path: path, expected: "a readable file",
                               found: "read failed: \(String(cString: strerror(errno)))", hint: "check the disk and the file")
        }
        throw DatasetError(.corruptGzip, path: path, expected: "a valid gzip stream", found: message,
                           hint: "the file is damaged: download it again, or store it uncompressed")
    }
}
