// Choosing OpenBLAS's kernel family. OpenBLAS reads OPENBLAS_CORETYPE when the library loads, before any
// Swift code runs, so the only way to change it is to re-execute the process with a new environment.
//
// Policy (AECNN_BLAS_CORE):
//   auto (default)  on a CPU with AVX-512 (avx512f in /proc/cpuinfo), re-exec once with SkylakeX kernels
//                   when the environment forces an older family (e.g. OPENBLAS_CORETYPE=Haswell) or when
//                   OpenBLAS's own detection settled on one. The second case is real: Debian's OpenBLAS
//                   0.3.21 does not know Xeon model 207 (Emerald Rapids) and falls back to Prescott (SSE3)
//                   kernels, which train ResNet-20 2.7x slower than SkylakeX on that CPU (114 vs 306
//                   img/s, `aecnn bench --threads 2`). Otherwise leave the environment alone.
//   keep            never touch OPENBLAS_CORETYPE.
//   <name>          re-exec with OPENBLAS_CORETYPE=<name> (e.g. Haswell to reproduce the forced setting;
//                   naming an AVX-512 family on a CPU without AVX-512 is refused rather than dying of SIGILL).
// The chosen core is recorded in every manifest: results are bit-reproducible only with the same core and
// thread count.

import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

enum BLASCoreSelection {
    static let avx512Families: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    static func cpuHasAVX512() -> Bool {
        guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return s.contains(" avx512f")
    }

    /// What the process should re-execute with, or nil to carry on. Pure, so the policy is testable.
    /// - policy: AECNN_BLAS_CORE (nil = auto); current: OPENBLAS_CORETYPE (nil = unset);
    ///   detected: the family OpenBLAS loaded; hasAVX512: the CPU's flag.
    static func decide(policy rawPolicy: String?, current: String?, detected: String, hasAVX512: Bool) -> (core: String?, warning: String?) {
        let policy = (rawPolicy ?? "auto").lowercased()
        switch policy {
        case "keep":
            return (nil, nil)
        case "auto":
            guard hasAVX512 else { return (nil, nil) }
            let inUse = current ?? detected
            guard !avx512Families.contains(inUse.lowercased()) else { return (nil, nil) }
            return ("SkylakeX", nil)
        default:
            if avx512Families.contains(policy) && !hasAVX512 {
                return (nil, "aecnn: AECNN_BLAS_CORE=\(policy) needs AVX-512, which this CPU lacks; keeping \(current ?? "OpenBLAS's own choice (\(detected))")")
            }
            let wanted = rawPolicy ?? policy   // the name as the user spelled it
            return (wanted == current ? nil : wanted, nil)
        }
    }

    static func applyBeforeAnyWork() {
        let env = ProcessInfo.processInfo.environment
        if env["AECNN_BLAS_REEXEC"] != nil { return }   // already re-executed once
        let current = env["OPENBLAS_CORETYPE"]
        let decision = decide(policy: env["AECNN_BLAS_CORE"], current: current,
                              detected: BLAS.coreName,   // OpenBLAS has already loaded and chosen by now
                              hasAVX512: cpuHasAVX512())
        if let w = decision.warning { FileHandle.standardError.write(Data((w + "\n").utf8)) }
        guard let wanted = decision.core else { return }
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        setenv("AECNN_BLAS_REEXEC", "1", 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", &cargs)
        // execv only returns on failure: carry on with the kernels already loaded.
        FileHandle.standardError.write(Data("aecnn: could not re-execute to select BLAS kernels (\(String(cString: strerror(errno)))); continuing\n".utf8))
    }
}
