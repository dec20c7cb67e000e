// Shared helpers for the tests: temporary directories and approximate comparisons.

import Foundation
import TensorCore

public func makeTemporaryDirectory(_ label: String = "aecnn-test") -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Largest |a−b| / (atol + rtol·|b|) over all elements; ≤ 1 means close.
public func closeness(_ a: Tensor, _ b: Tensor, atol: Float = 1e-4, rtol: Float = 1e-3) -> Float {
    precondition(a.count == b.count, "closeness: \(a.shape) vs \(b.shape)")
    var worst: Float = 0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i]) / (atol + rtol * abs(b[i]))
        if d.isNaN { return .infinity }
        worst = max(worst, d)
    }
    return worst
}

/// Runs an executable to completion: its exit status, standard output and standard error.
public func runProcess(_ exe: URL, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    // Read both pipes to the end (stderr on another thread) so a chatty child never blocks on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let e = Box()
    let done = DispatchSemaphore(value: 0)
    let handle = err.fileHandleForReading
    Thread { e.data = handle.readDataToEndOfFile(); done.signal() }.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    done.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e.data, as: UTF8.self))
}
