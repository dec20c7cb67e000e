// A caching allocator for tensor storage and kernel scratch buffers.
//
// A training step allocates and frees the same set of sizes every step (activations, gradients, im2col
// tiles). Returned to glibc, large blocks go back to the kernel and come back as fresh pages that must be
// faulted and zeroed: measured at over half a million page faults per few seconds of ResNet-20 training.
// Keeping freed blocks on exact-size free lists makes the steady state allocation-free. The cache is
// bounded (`limitBytes`); beyond it, blocks are freed normally.

import Foundation

public enum BufferPool {
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    private static let lock = NSLock()
    /// Upper bound on bytes held in the cache.
    nonisolated(unsafe) public static var limitBytes = 768 << 20
    /// Blocks smaller than this go straight to malloc (glibc serves them well).
    static let minimumBytes = 16 << 10

    @inline(__always)
    static func roundedBytes(_ floats: Int) -> Int { max(64, (floats * 4 + 63) & ~63) }

    /// Storage for `count` floats, 64-byte aligned, uninitialised.
    public static func acquire(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = roundedBytes(count)
        if bytes >= minimumBytes {
            lock.lock()
            if var list = free[bytes], let p = list.popLast() {
                free[bytes] = list
                cachedBytes -= bytes
                lock.unlock()
                return p.bindMemory(to: Float.self, capacity: count)
            }
            lock.unlock()
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let p = raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        return p.bindMemory(to: Float.self, capacity: max(count, 16))
    }

    /// Give back storage obtained from `acquire` with the same `count`.
    public static func release(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let bytes = roundedBytes(count)
        if bytes >= minimumBytes {
            lock.lock()
            if cachedBytes + bytes <= limitBytes {
                free[bytes, default: []].append(UnsafeMutableRawPointer(p))
                cachedBytes += bytes
                lock.unlock()
                return
            }
            lock.unlock()
        }
        Foundation.free(p)
    }

    /// Return every cached block to the system.
    public static func drain() {
        lock.lock()
        for (_, list) in free { for p in list { Foundation.free(p) } }
        free = [:]
        cachedBytes = 0
        lock.unlock()
    }

    /// Bytes currently cached.
    public static var cached: Int { lock.lock(); defer { lock.unlock() }; return cachedBytes }
}
