// Fast kernels against their naive references on odd shapes: batch 1 and 3, 1 and 7 channels,
// non-square maps, stride 1 and 2, padding 0 and 1, with one and two worker threads and several tile sizes.

import XCTest
import TensorCore
import Autograd
import _TestSupport

final class KernelReferenceTests: XCTestCase {
    var rng = RNG(seed: 99)

    /// Every convolution backend, and for oneDNN one image per call as well as the default sub-batches
    /// (which leave a remainder sub-batch on odd slices).
    static let backends: [(ConvBackend, subBatchBytes: Int)] = [(.gemm, 0), (.onednn, 1), (.onednn, Kernels.convSubBatchBytes)]

    func forEachBackend(_ body: (String) -> Void) {
        let saved = (Kernels.convBackend, Kernels.convSubBatchBytes)
        defer { (Kernels.convBackend, Kernels.convSubBatchBytes) = saved }
        for (backend, bytes) in Self.backends {
            Kernels.convBackend = backend
            if bytes > 0 { Kernels.convSubBatchBytes = bytes }
            body("\(backend) sub-batch bytes \(bytes)")
        }
    }

    func testConv2dMatchesReference() {
        forEachBackend { backend in
            for tile in backend.hasPrefix("gemm") ? [1, 200, 196_608] : [196_608] { convMatchesReference(tile: tile, backend) }
        }
    }

    /// oneDNN's kernels, not its reference loops or the GEMM fallback, run every ResNet-20 convolution.
    func testOneDNNServesResNetShapes() {
        for (cin, cout, size, k, stride) in [(1, 16, 28, 3, 1), (16, 16, 28, 3, 1), (16, 32, 28, 3, 2), (16, 32, 28, 1, 2),
                                             (32, 32, 14, 3, 1), (32, 64, 14, 3, 2), (64, 64, 7, 3, 1), (1, 1, 28, 3, 1)] {
            let g = ConvGeometry(cin: cin, h: size, w: size, cout: cout, kh: k, kw: k, stride: stride, pad: k / 2)
            XCTAssertTrue(Kernels.convRunsOnOneDNN(g, batch: 128), "\(cin)->\(cout) \(size)px k\(k) s\(stride)")
        }
    }

    func convMatchesReference(tile: Int, _ backend: String) {
        let savedTile = Kernels.convTileElements
        defer { Kernels.convTileElements = savedTile; Parallel.threads = 1 }
        for threads in [1, 2] {
            do {
                Parallel.threads = threads
                Kernels.convTileElements = tile
                for n in [1, 3] { for (cin, cout) in [(1, 7), (7, 1), (3, 4)] {
                    for (h, w) in [(5, 7), (8, 8)] { for k in [1, 3] { for stride in [1, 2] { for pad in [0, 1] {
                        let x = Tensor.randomNormal([n, cin, h, w], std: 1, rng: &rng)
                        let wt = Tensor.randomNormal([cout, cin, k, k], std: 1, rng: &rng)
                        let b = Tensor.randomNormal([cout], std: 1, rng: &rng)
                        let fast = Kernels.conv2d(x, wt, b, stride: stride, pad: pad)
                        let ref = Kernels.conv2dReference(x, wt, b, stride: stride, pad: pad)
                        XCTAssertEqual(fast.shape, ref.shape)
                        XCTAssertLessThan(closeness(fast, ref), 1, "n\(n) c\(cin)->\(cout) \(h)x\(w) k\(k) s\(stride) p\(pad) t\(threads) tile\(tile) \(backend)")
                    } } } }
                } }
            }
        }
    }

    /// The fast backward against the naive definition: inputGrad and weightGrad as sums over the reference
    /// conv's terms, computed through the reference forward with unit perturbations is too slow, so use the
    /// adjoint identity ⟨conv(x), gy⟩ = ⟨x, inputGrad⟩ and ⟨conv(x; W), gy⟩ = ⟨W, weightGrad⟩ (conv is linear).
    func testConv2dBackwardSatisfiesAdjointIdentities() {
        defer { Parallel.threads = 1 }
        forEachBackend { backend in for threads in [1, 2] {
            Parallel.threads = threads
            for (n, cin, cout, h, w, k, s, p) in [(3, 7, 2, 5, 7, 3, 2, 1), (1, 1, 7, 6, 6, 3, 1, 0), (3, 4, 3, 7, 5, 1, 1, 0)] {
                let x = Tensor.randomNormal([n, cin, h, w], std: 1, rng: &rng)
                let wt = Tensor.randomNormal([cout, cin, k, k], std: 1, rng: &rng)
                let y = Kernels.conv2dReference(x, wt, nil, stride: s, pad: p)
                let gy = Tensor.randomNormal(y.shape, std: 1, rng: &rng)
                let r = Kernels.conv2dBackward(gy, x, wt, stride: s, pad: p, needInput: true, needBias: true)
                let lhs = Kernels.dot(y.data, gy.data, y.count)
                XCTAssertEqual(Kernels.dot(x.data, r.input!.data, x.count), lhs, accuracy: 1e-3 * max(1, abs(lhs)))
                XCTAssertEqual(Kernels.dot(wt.data, r.weight!.data, wt.count), lhs, accuracy: 1e-3 * max(1, abs(lhs)))
                var gySum = [Double](repeating: 0, count: cout)
                let plane = y.shape[2] * y.shape[3]
                for i in 0..<n { for c in 0..<cout { gySum[c] += Kernels.sum(gy.data + (i * cout + c) * plane, plane) } }
                for c in 0..<cout { XCTAssertEqual(Double(r.bias![c]), gySum[c], accuracy: 1e-3, backend) }
                // Frozen weights or an input without gradient: the other result is unchanged.
                let onlyW = Kernels.conv2dBackward(gy, x, wt, stride: s, pad: p, needInput: false, needBias: false)
                XCTAssertNil(onlyW.input)
                XCTAssertTrue(onlyW.weight!.bitwiseEqual(r.weight!), backend)
                let onlyX = Kernels.conv2dBackward(gy, x, wt, stride: s, pad: p, needInput: true, needBias: false, needWeight: false)
                XCTAssertNil(onlyX.weight)
                XCTAssertTrue(onlyX.input!.bitwiseEqual(r.input!), backend)
            }
        } }
    }

    /// The two backends agree on a ResNet-20-sized layer with a batch that leaves remainder sub-batches.
    func testBackendsAgreeOnAResNetLayer() {
        defer { Parallel.threads = 1 }
        let x = Tensor.randomNormal([37, 16, 28, 28], std: 1, rng: &rng)
        let wt = Tensor.randomNormal([32, 16, 3, 3], std: 0.3, rng: &rng)
        var results: [(Tensor, Tensor, Tensor)] = []
        forEachBackend { _ in
            Parallel.threads = 2
            let y = Kernels.conv2d(x, wt, nil, stride: 2, pad: 1)
            let gy = Tensor(shape: y.shape, values: (0..<y.count).map { Float(($0 * 7919) % 23) / 23 - 0.5 })
            let r = Kernels.conv2dBackward(gy, x, wt, stride: 2, pad: 1, needInput: true, needBias: false)
            results.append((y, r.input!, r.weight!))
        }
        for r in results.dropFirst() {
            XCTAssertLessThan(closeness(r.0, results[0].0), 1)
            XCTAssertLessThan(closeness(r.1, results[0].1), 1)
            XCTAssertLessThan(closeness(r.2, results[0].2), 1)
        }
    }

    func testConvTranspose2dMatchesReference() {
        for (n, cin, cout, h, w, k, s, p) in [(1, 1, 7, 3, 5, 2, 2, 0), (3, 7, 1, 4, 4, 3, 2, 1), (3, 2, 3, 5, 3, 3, 1, 1)] {
            let x = Tensor.randomNormal([n, cin, h, w], std: 1, rng: &rng)
            let wt = Tensor.randomNormal([cin, cout, k, k], std: 1, rng: &rng)
            let b = Tensor.randomNormal([cout], std: 1, rng: &rng)
            let fast = Kernels.convTranspose2d(x, wt, b, stride: s, pad: p)
            let ref = Kernels.convTranspose2dReference(x, wt, b, stride: s, pad: p)
            XCTAssertEqual(fast.shape, ref.shape)
            XCTAssertLessThan(closeness(fast, ref), 1)
        }
    }

    /// Work is split by index, never by timing: the same thread count gives the same bits every time,
    /// forward and backward (the weight-gradient partials are reduced in worker order).
    func testRepeatedRunsAreBitIdenticalAtAFixedThreadCount() {
        defer { Parallel.threads = 1 }
        let x = Tensor.randomNormal([7, 3, 9, 9], std: 1, rng: &rng)
        let wt = Tensor.randomNormal([5, 3, 3, 3], std: 1, rng: &rng)
        forEachBackend { _ in for threads in [1, 2] {
            Parallel.threads = threads
            let a = Kernels.conv2d(x, wt, nil, stride: 1, pad: 1)
            let gy = Tensor.randomNormal(a.shape, std: 1, rng: &rng)
            let ga = Kernels.conv2dBackward(gy, x, wt, stride: 1, pad: 1, needInput: true, needBias: true)
            for _ in 0..<3 {
                XCTAssertTrue(Kernels.conv2d(x, wt, nil, stride: 1, pad: 1).bitwiseEqual(a))
                let gb = Kernels.conv2dBackward(gy, x, wt, stride: 1, pad: 1, needInput: true, needBias: true)
                XCTAssertTrue(gb.weight!.bitwiseEqual(ga.weight!))
                XCTAssertTrue(gb.input!.bitwiseEqual(ga.input!))
            }
        } }
    }
}
