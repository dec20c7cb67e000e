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
