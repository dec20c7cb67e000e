// Fully connected layer: x [N, In] · Wᵀ + b, weight [Out, In] (PyTorch layout), bias [Out].

import TensorCore

public func linear(_ x: Variable, weight: Variable, bias: Variable?) -> Variable {
    let n = x.shape[0], inF = x.shape[1], outF = weight.shape[0]
    precondition(weight.shape[1] == inF, "linear: input has \(inF) features, weight expects \(weight.shape[1])")
    let xv = x.value, wv = weight.value
    let y = Tensor(uninitialized: [n, outF])
    BLAS.sgemm(transB: true, m: n, n: outF, k: inF, a: xv.data, b: wv.data, c: y.data)
    if let b = bias?.value { for i in 0..<n { for j in 0..<outF { y.data[i * outF + j] += b.data[j] } } }
    var parents = [x, weight]
    if let bias { parents.append(bias) }
    return Variable(op: y, parents: parents) { gy in
        if x.requiresGrad {   // inputGrad = dy · W
            let gx = Tensor(uninitialized: xv.shape)
            BLAS.sgemm(m: n, n: inF, k: outF, a: gy.data, b: wv.data, c: gx.data)
            x.accumulate(gx)
        }
        if weight.requiresGrad {   // weightGrad = dyᵀ · x
            let gw = Tensor(uninitialized: wv.shape)
            BLAS.sgemm(transA: true, m: outF, n: inF, k: n, a: gy.data, b: xv.data, c: gw.data)
            weight.accumulate(gw)
        }
        if let bias, bias.requiresGrad {
            let gb = Tensor(zeros: [outF])
            for i in 0..<n { for j in 0..<outF { gb.data[j] += gy.data[i * outF + j] } }
            bias.accumulate(gb)
        }
    }
}
