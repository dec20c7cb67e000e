// Softmax cross-entropy averaged over the batch, from logits [N, K] and integer labels.

import TensorCore
import Foundation

/// Mean over the batch of −log softmax(logits)[label]; returns a [1] tensor.
public func softmaxCrossEntropy(_ logits: Variable, labels: [Int32]) -> Variable {
    let n = logits.shape[0], k = logits.shape[1]
    precondition(labels.count == n, "softmaxCrossEntropy: \(labels.count) labels for \(n) rows")
    let probs = Tensor(uninitialized: [n, k])
    var loss = 0.0
    for i in 0..<n {
        let row = logits.value.data + i * k, pr = probs.data + i * k
        var mx = row[0]
        for j in 1..<k where row[j] > mx { mx = row[j] }
        var z = 0.0
        for j in 0..<k { let e = exp(Double(row[j] - mx)); pr[j] = Float(e); z += e }
        for j in 0..<k { pr[j] = Float(Double(pr[j]) / z) }
        loss += -(Double(row[Int(labels[i])] - mx) - log(z))
    }
    let y = Tensor(shape: [1], values: [Float(loss / Double(n))])
    return Variable(op: y, parents: [logits]) { gy in
        // logitsGrad = (softmax − onehot) / N
        let g = Tensor(uninitialized: [n, k])
        let s = gy.data[0] / Float(n)
        for i in 0..<n {
            for j in 0..<k { g.data[i * k + j] = probs.data[i * k + j] * s }
            g.data[i * k + Int(labels[i])] -= s
        }
        logits.accumulate(g)
    }
}

/// Index of the largest logit per row.
public func argmaxRows(_ t: Tensor) -> [Int] {
    let n = t.shape[0], k = t.shape[1]
    return (0..<n).map { i in
        var best = 0
        for j in 1..<k where t.data[i * k + j] > t.data[i * k + best] { best = j }
        return best
    }
}
