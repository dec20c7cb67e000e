// Process memory facts (peak resident set) and the allocator setting the training loop relies on.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum ProcessMemory {
    /// Peak resident set size in bytes (VmHWM from /proc/self/status), or 0 if unavailable.
    public static var peakResidentBytes: Int { statusField("VmHWM:") }
    /// Current resident set size in bytes.
    public static var residentBytes: Int { statusField("VmRSS:") }

    private static func statusField(_ key: String) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix(key) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return 0
    }

    /// Keep freed activation buffers in the heap instead of returning them to the kernel: a training step
    /// allocates and frees the same few hundred megabytes every step, and fresh mmap'd pages must be faulted
    /// and zeroed each time (measured: a large share of a step). Call once at start-up.
    public static func configureAllocatorForTraining() {
        #if os(Linux)
        // glibc rejects (silently, returning 0) an mmap threshold above 32 MiB on 64-bit systems; an
        // activation of ResNet-20 at batch 128 is 6.4 MB, well under it.
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 32 << 20)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
        #endif
    }
}

#if os(Linux)
// <malloc.h> is not part of the Glibc module map; mallopt(3) has a stable C ABI.
@_silgen_name("mallopt")
private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
