// Thin, typed wrappers over OpenBLAS: single-precision GEMM and the library's self-description.
// Row-major throughout, as the rest of the engine is.

import CBLAS

public enum BLAS {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major. lda/ldb/ldc default to the packed widths.
    @inlinable
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                             b: UnsafePointer<Float>, ldb: Int? = nil,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
        let la = lda ?? (transA ? m : k)
        let lb = ldb ?? (transB ? k : n)
        let lc = ldc ?? n
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(la), b, Int32(lb), beta, c, Int32(lc))
    }

    /// The kernel family OpenBLAS chose (e.g. "Haswell", "SkylakeX", "Cooperlake").
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// OpenBLAS build configuration string.
    public static var config: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }
}
