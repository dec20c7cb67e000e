// Process-wide parallelism setting and a deterministic parallel-for.
// Work is split into contiguous chunks by index only, never by timing, so a result that reduces partial
// sums in chunk order is bit-identical from run to run at the same thread count.

import Dispatch
import CBLAS

public enum Parallel {
    nonisolated(unsafe) private static var _threads = 1

    /// Worker count used by the kernels (default 1). Setting it also pins OpenBLAS to one thread:
    /// the kernels split work themselves and call single-threaded BLAS inside each worker.
    public static var threads: Int {
        get { _threads }
        set {
            _threads = max(1, newValue)
            openblas_set_num_threads(1)
        }
    }

    /// The contiguous range of `0..<n` that chunk `k` of `chunks` covers.
    @inlinable
    public static func chunkRange(_ k: Int, of chunks: Int, total n: Int) -> Range<Int> {
        let base = n / chunks, extra = n % chunks
        let lo = k * base + min(k, extra)
        return lo..<(lo + base + (k < extra ? 1 : 0))
    }

    /// Run `body(chunkIndex, range)` over `0..<n` split into at most `threads` contiguous chunks.
    /// Chunks are smaller than `minChunk` only when n itself is.
    @inlinable
    public static func forChunks(_ n: Int, minChunk: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        if n <= 0 { return }
        let chunks = max(1, min(threads, n / max(1, minChunk)))
        if chunks == 1 { body(0, 0..<n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            body(k, chunkRange(k, of: chunks, total: n))
        }
    }

    /// How many chunks `forChunks(n, minChunk:)` will use.
    @inlinable
    public static func chunkCount(_ n: Int, minChunk: Int = 1) -> Int {
        n <= 0 ? 0 : max(1, min(threads, n / max(1, minChunk)))
    }
}
