// Explicit 16-lane vector loads and stores for the hot element-wise loops. Scalar loops with a comparison
// (ReLU and its gradient) compile to branches per element; written on SIMD16 with `replacing(with:where:)`
// they become masked vector selects (swift-notes: pointwise max runs lane by lane, select does not).

@inlinable @inline(__always)
public func vload(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inlinable @inline(__always)
public func vload(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inlinable @inline(__always)
public func vstore(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// y[i] = f(a[i]) for i in range, 16 lanes at a time, scalar tail through the same function.
@inlinable @inline(__always)
public func simdMap(_ a: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                    _ f: (SIMD16<Float>) -> SIMD16<Float>) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound { vstore(f(vload(a + i)), y + i); i += 16 }
    let tail = range.upperBound - i
    if tail > 0 {
        // Through a zero-padded stack buffer: per-lane SIMD inserts are far slower than this.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buf in
            let p = buf.baseAddress!
            p.initialize(repeating: 0, count: 16)
            p.update(from: a + i, count: tail)
            vstore(f(vload(p)), p)
            (y + i).update(from: p, count: tail)
        }
    }
}

/// y[i] = f(a[i], b[i]) for i in range.
@inlinable @inline(__always)
public func simdMap(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    _ range: Range<Int>, _ f: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound { vstore(f(vload(a + i), vload(b + i)), y + i); i += 16 }
    let tail = range.upperBound - i
    if tail > 0 {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { buf in
            let p = buf.baseAddress!, q = p + 16
            p.initialize(repeating: 0, count: 32)
            p.update(from: a + i, count: tail)
            q.update(from: b + i, count: tail)
            vstore(f(vload(p), vload(q)), p)
            (y + i).update(from: p, count: tail)
        }
    }
}

/// y[i] = f(a[i], b[i], c[i]) for i in range.
@inlinable @inline(__always)
public func simdMap3(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
                     _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                     _ f: (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound { vstore(f(vload(a + i), vload(b + i), vload(c + i)), y + i); i += 16 }
    let tail = range.upperBound - i
    if tail > 0 {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { buf in
            let p = buf.baseAddress!, q = p + 16, r = p + 32
            p.initialize(repeating: 0, count: 48)
            p.update(from: a + i, count: tail)
            q.update(from: b + i, count: tail)
            r.update(from: c + i, count: tail)
            vstore(f(vload(p), vload(q), vload(r)), p)
            (y + i).update(from: p, count: tail)
        }
    }
}

/// Copy n floats between non-overlapping buffers without a libc call: short rows (im2col copies rows of
/// 7 to 56 floats thousands of times per image) pay more for the call than for the copy. Rows of 16 or
/// more finish with one overlapping vector.
@inlinable @inline(__always)
public func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    if n >= 16 {
        var i = 0
        while i + 16 <= n { vstore(vload(src + i), dst + i); i += 16 }
        if i < n { vstore(vload(src + n - 16), dst + n - 16) }
    } else {
        var i = 0
        while i < n { dst[i] = src[i]; i += 1 }
    }
}

/// Zero n floats without a libc call (see `copyFloats`).
@inlinable @inline(__always)
public func zeroFloats(_ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    if n >= 16 {
        var i = 0
        while i + 16 <= n { vstore(SIMD16<Float>(), dst + i); i += 16 }
        if i < n { vstore(SIMD16<Float>(), dst + n - 16) }
    } else {
        var i = 0
        while i < n { dst[i] = 0; i += 1 }
    }
}
