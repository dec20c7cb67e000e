// The release build compiles the numeric targets for Haswell-class x86-64 (AVX2, FMA, BMI; Package.swift's
// `kernelFlags`), which doubles the width of their vector loops. On an older CPU that code would die with
// SIGILL; this check runs first, in code compiled without those flags, and exits with a message instead.

import Foundation

enum CPURequirement {
    /// /proc/cpuinfo flags the Haswell target's code may use.
    static let required = ["avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "popcnt", "abm"]

    /// Flags of `required` missing from a /proc/cpuinfo text (none when the file says nothing about x86 flags).
    static func missing(cpuinfo: String) -> [String] {
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        let flags = Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        return required.filter { !flags.contains($0) }
    }

    static func checkBeforeAnyWork() {
        #if arch(x86_64)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return }
        let lacking = missing(cpuinfo: text)
        guard !lacking.isEmpty else { return }
        FileHandle.standardError.write(Data(("aecnn: this build needs an x86-64 CPU with AVX2 and FMA (Intel Haswell, AMD Zen or newer); "
            + "this CPU lacks \(lacking.joined(separator: ", ")). Fix: build without \"-target-cpu\", \"haswell\" in Package.swift's kernelFlags\n").utf8))
        exit(1)
        #endif
    }
}
