// Choosing OpenBLAS's kernel family. OpenBLAS reads OPENBLAS_CORETYPE when the library loads, before any
// Swift code runs, so the only way to change it is to re-execute the process with a new environment.
//
// Policy (AECNN_BLAS_CORE):
//   auto (default)  on a CPU with AVX-512 (avx512f in /proc/cpuinfo) whose environment forces an older
//                   kernel family (e.g. OPENBLAS_CORETYPE=Haswell), re-exec once with SkylakeX kernels;
//                   otherwise leave the environment alone.
//   keep            never touch OPENBLAS_CORETYPE.
//   <name>          re-exec with OPENBLAS_CORETYPE=<name> (e.g. Haswell to reproduce the forced setting;
//                   naming an AVX-512 family on a CPU without AVX-512 is refused rather than dying of SIGILL).
// The chosen core is recorded in every manifest: results are bit-reproducible only with the same core and
// thread count.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum BLASCoreSelection {
    static let avx512Families: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    static func cpuHasAVX512() -> Bool {
        guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return s.contains(" avx512f")
    }

    static func applyBeforeAnyWork() {
        let env = ProcessInfo.processInfo.environment
        if env["AECNN_BLAS_REEXEC"] != nil { return }   // already re-executed once
        let policy = (env["AECNN_BLAS_CORE"] ?? "auto").lowercased()
        let current = env["OPENBLAS_CORETYPE"]
        var wanted: String?
        switch policy {
        case "keep":
            return
        case "auto":
            guard cpuHasAVX512(), let c = current, !avx512Families.contains(c.lowercased()) else { return }
            wanted = "SkylakeX"
        default:
            if avx512Families.contains(policy) && !cpuHasAVX512() {
                FileHandle.standardError.write(Data("aecnn: AECNN_BLAS_CORE=\(policy) needs AVX-512, which this CPU lacks; keeping \(current ?? "OpenBLAS's own choice")\n".utf8))
                return
            }
            wanted = env["AECNN_BLAS_CORE"]
        }
        guard let wanted, wanted != current else { return }
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
