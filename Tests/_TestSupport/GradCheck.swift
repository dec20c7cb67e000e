// Central finite-difference gradient checks for ops built on Autograd.
// Loss = Σ out · r for a fixed random r, so every output element gets a distinct weight.

import TensorCore
import Autograd

public struct GradCheckResult: CustomStringConvertible {
    public var worst: Float
    public var where_: String
    public var description: String { "worst relative error \(worst) at \(where_)" }
}

/// Compare analytic gradients of every input with central differences.
/// - inputs: leaves (requiresGrad true for those to check)
/// - f: builds the output from the inputs (called many times; must be deterministic)
public func gradCheck(_ inputs: [Variable], eps: Float = 1e-2, seed: UInt64 = 1,
                      maxElementsPerInput: Int = 60, _ f: ([Variable]) -> Variable) -> GradCheckResult {
    var rng = RNG(seed: seed)
    let out0 = f(inputs)
    let r = Tensor.randomNormal(out0.shape, std: 1, rng: &rng)
    func loss() -> Double {
        let out = GradMode.withoutGrad { f(inputs) }
        var s = 0.0
        for i in 0..<out.value.count { s += Double(out.value[i]) * Double(r[i]) }
        return s
    }
    for x in inputs { x.grad = nil }
    let out = f(inputs)
    let l = sum(out * Variable(r))
    l.backward()
    var worst: Float = 0, at = "-"
    for (k, x) in inputs.enumerated() where x.requiresGrad {
        guard let g = x.grad else { return GradCheckResult(worst: .infinity, where_: "input \(k) got no gradient") }
        let n = x.value.count
        let stride = max(1, n / maxElementsPerInput)
        var i = 0
        while i < n {
            let saved = x.value[i]
            x.value[i] = saved + eps
            let lp = loss()
            x.value[i] = saved - eps
            let lm = loss()
            x.value[i] = saved
            let numeric = Float((lp - lm) / Double(2 * eps))
            let err = abs(numeric - g[i]) / max(1e-2, abs(numeric) + abs(g[i]))
            if err > worst { worst = err; at = "input \(k) element \(i): analytic \(g[i]) numeric \(numeric)" }
            i += stride
        }
    }
    return GradCheckResult(worst: worst, where_: at)
}
