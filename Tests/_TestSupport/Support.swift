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

/// Runs an executable, killing it (SIGKILL) when it has not exited within `timeout` seconds: its exit status,
/// output, and whether it had to be killed — for tests of inputs that once made a command hang.
public func runProcess(_ exe: URL, _ args: [String], timeout: Double) throws -> (status: Int32, out: String, err: String, timedOut: Bool) {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let o = Box(), e = Box()
    let done = DispatchGroup()
    for (handle, box) in [(out.fileHandleForReading, o), (err.fileHandleForReading, e)] {
        done.enter()
        Thread { box.data = handle.readDataToEndOfFile(); done.leave() }.start()
    }
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    let timedOut = p.isRunning
    if timedOut { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    done.wait()
    return (p.terminationStatus, String(decoding: o.data, as: UTF8.self), String(decoding: e.data, as: UTF8.self), timedOut)
}
