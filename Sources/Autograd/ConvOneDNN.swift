// Convolution through oneDNN's direct kernels (JIT-compiled for the CPU's instruction set), with the
// engine's NCHW tensors at the boundary.
//
// Each worker takes its contiguous slice of the batch, as the GEMM path does, and runs oneDNN on one thread
// in sub-batches of a few images: the plain NCHW sub-batch is reordered into the kernel's blocked layout
// (e.g. nChw16c), convolved, and reordered back. Sub-batches keep the source, destination and their blocked
// copies in the core's cache (one 28×28×16 image is 50 KB), which measured 1.6× faster per image than one
// whole-batch call. Weight gradients are summed per worker over its sub-batches in order, then over workers
// in order, so a result is bit-identical run to run at a given thread count, like the GEMM path.
//
// A plan (primitive descriptors, primitives, reorders, buffer sizes) is built once per shape and
// sub-batch size and cached. oneDNN's own OpenMP threads are never used: every call first sets the
// calling thread's OpenMP thread count to 1, so a primitive runs on the worker that calls it.
// A shape for which oneDNN offers only its reference implementation is left to the GEMM path.

import CDNNL
import TensorCore
import Foundation

/// Which convolution kernels `Kernels.conv2d` and `Kernels.conv2dBackward` use.
public enum ConvBackend: String, Sendable, CaseIterable {
    /// oneDNN's direct convolution where it has a fast kernel for the shape, else `gemm`.
    case onednn
    /// im2col tiles and single-threaded sgemm (OpenBLAS).
    case gemm
}

/// A oneDNN object that failed to build.
struct OneDNNFailure: Error { let what: String; let status: dnnl_status_t }

@inline(__always)
private func check(_ s: dnnl_status_t, _ what: @autoclosure () -> String) throws {
    if s != dnnl_success { throw OneDNNFailure(what: what(), status: s) }
}

enum OneDNN {
    static let engine: dnnl_engine_t? = {
        var e: dnnl_engine_t?
        return dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success ? e : nil
    }()

    /// The instruction set oneDNN's kernels are generated for (part of what makes results reproducible).
    static var isaName: String {
        switch dnnl_get_effective_cpu_isa() {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx512_mic: return "avx512_mic"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        default: return "isa-\(dnnl_get_effective_cpu_isa().rawValue)"
        }
    }

    /// One stream per worker slot (a CPU stream holds no data; separate ones keep concurrent calls apart).
    private static let lock = NSLock()
    nonisolated(unsafe) private static var streams: [dnnl_stream_t] = []
    static func stream(_ slot: Int) -> dnnl_stream_t? {
        lock.lock(); defer { lock.unlock() }
        guard let engine else { return nil }
        while streams.count <= slot {
            var s: dnnl_stream_t?
            guard dnnl_stream_create(&s, engine, UInt32(dnnl_stream_default_flags.rawValue)) == dnnl_success,
                  let s else { return nil }
            streams.append(s)
        }
        return streams[slot]
    }

    /// Keep oneDNN on the calling thread (an OpenMP setting of this thread only).
    @inline(__always) static func singleThreaded() { omp_set_num_threads(1) }

    static func plainDesc(_ dims: [Int], _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let d = dims.map { Int64($0) }
        _ = dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, dnnl_f32, tag)
        return md
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        var a = a, b = b
        return dnnl_memory_desc_equal(&a, &b) != 0
    }

    static func floats(_ md: dnnl_memory_desc_t) -> Int {
        var md = md
        return (dnnl_memory_desc_get_size(&md) + 3) / 4
    }

    /// Run `primitive` with (argument, descriptor, pointer) triples.
    static func execute(_ primitive: dnnl_primitive_t, _ stream: dnnl_stream_t,
                        _ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) {
        var mems: [dnnl_exec_arg_t] = []
        mems.reserveCapacity(args.count)
        for (arg, md, ptr) in args {
            var md = md
            var m: dnnl_memory_t?
            let s = dnnl_memory_create(&m, &md, engine, ptr)
            precondition(s == dnnl_success, "oneDNN: memory object (status \(s.rawValue))")
            mems.append(dnnl_exec_arg_t(arg: arg, memory: m))
        }
        let s = dnnl_primitive_execute(primitive, stream, Int32(mems.count), mems)
        for m in mems { dnnl_memory_destroy(m.memory) }
        precondition(s == dnnl_success, "oneDNN: primitive execution failed (status \(s.rawValue))")
    }
}

/// A reorder between two layouts of one tensor, or nothing when they are the same.
final class Reorder {
    let from: dnnl_memory_desc_t, to: dnnl_memory_desc_t
    let primitive: dnnl_primitive_t?

    init(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t) throws {
        self.from = from; self.to = to
        if OneDNN.equal(from, to) { primitive = nil; return }
        var f = from, t = to
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&pd, &f, OneDNN.engine, &t, OneDNN.engine, nil), "reorder descriptor")
        defer { dnnl_primitive_desc_destroy(pd) }
        var p: dnnl_primitive_t?
        try check(dnnl_primitive_create(&p, pd), "reorder")
        primitive = p
    }

    var isIdentity: Bool { primitive == nil }

    /// Copy `src` (layout `from`) into `dst` (layout `to`).
    func run(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ stream: dnnl_stream_t) {
        guard let primitive else { return }
        OneDNN.execute(primitive, stream, [(DNNL_ARG_FROM, from, UnsafeMutableRawPointer(mutating: src)), (DNNL_ARG_TO, to, dst)])
    }

    deinit { if let primitive { dnnl_primitive_destroy(primitive) } }
}

/// One pass (forward, backward-data or backward-weights) for one sub-batch size.
final class ConvPass {
    let primitive: dnnl_primitive_t
    let implementation: String
    let scratchFloats: Int
    let scratchDesc: dnnl_memory_desc_t
    /// The layouts the kernel chose for its arguments, by argument id.
    let descs: [Int32: dnnl_memory_desc_t]

    init(_ opDesc: UnsafeRawPointer, hint: dnnl_primitive_desc_t?, args: [(Int32, dnnl_query_t, Int32)],
         pdOut: UnsafeMutablePointer<dnnl_primitive_desc_t?>? = nil) throws {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&pd, opDesc, attr, OneDNN.engine, hint), "convolution descriptor")
        var keep = false
        defer { if !keep { dnnl_primitive_desc_destroy(pd) } }
        var info: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info)
        implementation = info.map { String(cString: $0) } ?? "unknown"
        var d: [Int32: dnnl_memory_desc_t] = [:]
        for (arg, q, index) in args {
            guard let md = dnnl_primitive_desc_query_md(pd, q, index) else { throw OneDNNFailure(what: "query", status: dnnl_invalid_arguments) }
            d[arg] = md.pointee
        }
        descs = d
        if let s = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) {
            scratchDesc = s.pointee
            scratchFloats = OneDNN.floats(s.pointee)
        } else {
            scratchDesc = dnnl_memory_desc_t(); scratchFloats = 0
        }
        var p: dnnl_primitive_t?
        try check(dnnl_primitive_create(&p, pd), "convolution primitive")
        primitive = p!
        if let pdOut { pdOut.pointee = pd; keep = true }
    }

    /// Whether oneDNN has a real kernel here (its reference loops are slower than the GEMM path).
    var isFast: Bool { !implementation.hasPrefix("ref") }

    func run(_ stream: dnnl_stream_t, _ args: [(Int32, UnsafeMutableRawPointer)], scratch: UnsafeMutableRawPointer?) {
        var list = args.map { ($0.0, descs[$0.0]!, $0.1) }
        if scratchFloats > 0, let scratch { list.append((DNNL_ARG_SCRATCHPAD, scratchDesc, scratch)) }
        OneDNN.execute(primitive, stream, list)
    }

    deinit { dnnl_primitive_destroy(primitive) }
}

/// Everything needed to run one convolution shape on sub-batches of `n` images.
final class ConvPlan {
    let forward: ConvPass, backwardData: ConvPass, backwardWeights: ConvPass
    // Plain layouts at the engine's boundary.
    let plainSrc: dnnl_memory_desc_t, plainDst: dnnl_memory_desc_t, plainWeights: dnnl_memory_desc_t
    // Reorders in and out of the kernels' layouts.
    let srcIn: Reorder, dstOut: Reorder, weightsIn: Reorder
    let diffDstIn: Reorder, diffSrcOut: Reorder, weightsInBackward: Reorder
    let srcInWeights: Reorder, diffDstInWeights: Reorder, diffWeightsOut: Reorder

    init(_ g: ConvGeometry, n: Int, bias: Bool) throws {
        guard OneDNN.engine != nil else { throw OneDNNFailure(what: "engine", status: dnnl_runtime_error) }
        OneDNN.singleThreaded()
        let src = [n, g.cin, g.h, g.w], dst = [n, g.cout, g.hout, g.wout], wei = [g.cout, g.cin, g.kh, g.kw]
        plainSrc = OneDNN.plainDesc(src, dnnl_nchw)
        plainDst = OneDNN.plainDesc(dst, dnnl_nchw)
        plainWeights = OneDNN.plainDesc(wei, dnnl_oihw)
        var anySrc = OneDNN.plainDesc(src, dnnl_format_tag_any)
        var anyDst = OneDNN.plainDesc(dst, dnnl_format_tag_any)
        var anyWei = OneDNN.plainDesc(wei, dnnl_format_tag_any)
        var biasDesc = OneDNN.plainDesc([g.cout], dnnl_x)
        let strides: [Int64] = [Int64(g.stride), Int64(g.stride)], pads: [Int64] = [Int64(g.pad), Int64(g.pad)]
        // Right padding so that the output size is exact for strides that do not divide evenly.
        let padR: [Int64] = [Int64((g.hout - 1) * g.stride + g.kh - g.h - g.pad), Int64((g.wout - 1) * g.stride + g.kw - g.w - g.pad)]

        var fd = dnnl_convolution_desc_t()
        try withUnsafeMutablePointer(to: &biasDesc) { b in
            try check(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &anySrc, &anyWei,
                                                         bias ? UnsafePointer(b) : nil, &anyDst, strides, pads, padR), "forward")
        }
        var fwdPD: dnnl_primitive_desc_t?
        var forwardArgs: [(Int32, dnnl_query_t, Int32)] = [(DNNL_ARG_SRC, dnnl_query_src_md, 0), (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, 0),
                                                           (DNNL_ARG_DST, dnnl_query_dst_md, 0)]
        if bias { forwardArgs.append((DNNL_ARG_BIAS, dnnl_query_weights_md, 1)) }
        forward = try ConvPass(&fd, hint: nil, args: forwardArgs,
                               pdOut: &fwdPD)
        defer { dnnl_primitive_desc_destroy(fwdPD) }
        var bdd = dnnl_convolution_desc_t()
        try check(dnnl_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &anySrc, &anyWei, &anyDst,
                                                           strides, pads, padR), "backward data")
        backwardData = try ConvPass(&bdd, hint: fwdPD, args: [(DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, 0),
                                                              (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, 0), (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0)])
        var bwd = dnnl_convolution_desc_t()
        try check(dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &anySrc, &anyWei, nil, &anyDst,
                                                              strides, pads, padR), "backward weights")
        backwardWeights = try ConvPass(&bwd, hint: fwdPD, args: [(DNNL_ARG_SRC, dnnl_query_src_md, 0),
                                                                 (DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, 0),
                                                                 (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0)])
        srcIn = try Reorder(from: plainSrc, to: forward.descs[DNNL_ARG_SRC]!)
        dstOut = try Reorder(from: forward.descs[DNNL_ARG_DST]!, to: plainDst)
        weightsIn = try Reorder(from: plainWeights, to: forward.descs[DNNL_ARG_WEIGHTS]!)
        diffDstIn = try Reorder(from: plainDst, to: backwardData.descs[DNNL_ARG_DIFF_DST]!)
        diffSrcOut = try Reorder(from: backwardData.descs[DNNL_ARG_DIFF_SRC]!, to: plainSrc)
        weightsInBackward = try Reorder(from: plainWeights, to: backwardData.descs[DNNL_ARG_WEIGHTS]!)
        srcInWeights = try Reorder(from: plainSrc, to: backwardWeights.descs[DNNL_ARG_SRC]!)
        diffDstInWeights = try Reorder(from: plainDst, to: backwardWeights.descs[DNNL_ARG_DIFF_DST]!)
        diffWeightsOut = try Reorder(from: backwardWeights.descs[DNNL_ARG_DIFF_WEIGHTS]!, to: plainWeights)
    }

    var isFast: Bool { forward.isFast && backwardData.isFast && backwardWeights.isFast }

    /// Floats of each kernel-layout buffer.
    var srcFloats: Int { OneDNN.floats(forward.descs[DNNL_ARG_SRC]!) }
    var dstFloats: Int { OneDNN.floats(forward.descs[DNNL_ARG_DST]!) }
}

extension Kernels {
    /// The convolution kernels in use (process-wide; `AECNN_CONV=gemm` selects the GEMM path at start-up).
    nonisolated(unsafe) public static var convBackend: ConvBackend =
        ProcessInfo.processInfo.environment["AECNN_CONV"].flatMap(ConvBackend.init(rawValue:)) ?? .onednn

    /// Bytes of plain source + destination a oneDNN sub-batch aims for.
    nonisolated(unsafe) public static var convSubBatchBytes = 1_600_000

    /// The kernels and instruction set of oneDNN, for results and training states.
    public static var convKernelName: String {
        convBackend == .onednn ? "oneDNN \(dnnl_version().pointee.major).\(dnnl_version().pointee.minor).\(dnnl_version().pointee.patch) \(OneDNN.isaName)" : "gemm"
    }

    private static let planLock = NSLock()
    nonisolated(unsafe) private static var plans: [PlanKey: ConvPlan?] = [:]
    private struct PlanKey: Hashable { let g: ConvGeometry; let n: Int; let bias: Bool }

    /// The cached plan for a shape and sub-batch size, or nil when oneDNN has no fast kernel for it.
    static func convPlan(_ g: ConvGeometry, n: Int, bias: Bool) -> ConvPlan? {
        let key = PlanKey(g: g, n: n, bias: bias)
        planLock.lock(); defer { planLock.unlock() }
        if let p = plans[key] { return p }
        if plans.count > 1024 { plans.removeAll() }
        let plan = (try? ConvPlan(g, n: n, bias: bias)).flatMap { $0.isFast ? $0 : nil }
        plans[key] = .some(plan)
        return plan
    }

    /// Whether `conv2d` over a batch of `batch` images of this shape runs on oneDNN's kernels.
    public static func convRunsOnOneDNN(_ g: ConvGeometry, batch: Int) -> Bool {
        convPlans(g, batch: batch, bias: false) != nil
    }

    /// Images per oneDNN call for a worker's slice of `chunk` images.
    static func convSubBatch(_ g: ConvGeometry, chunk: Int) -> Int {
        let perImage = 4 * (g.cin * g.h * g.w + g.cout * g.p)
        return max(1, min(chunk, convSubBatchBytes / max(1, perImage)))
    }

    /// The sub-batch sizes a call over `n` images uses, each with its plan; nil if any has no fast kernel.
    static func convPlans(_ g: ConvGeometry, batch n: Int, bias: Bool) -> [Int: ConvPlan]? {
        guard convBackend == .onednn, n > 0 else { return nil }
        var sizes = Set<Int>()
        let chunks = Parallel.chunkCount(n)
        for k in 0..<chunks {
            let r = Parallel.chunkRange(k, of: chunks, total: n)
            let sub = convSubBatch(g, chunk: r.count)
            sizes.insert(sub)
            if r.count % sub != 0 { sizes.insert(r.count % sub) }
        }
        var out: [Int: ConvPlan] = [:]
        for s in sizes {
            guard let p = convPlan(g, n: s, bias: bias) else { return nil }
            out[s] = p
        }
        return out
    }

    /// Forward convolution through oneDNN; nil when the shape has no fast oneDNN kernel.
    static func conv2dOneDNN(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeometry) -> Tensor? {
        let n = x.shape[0]
        guard let plans = convPlans(g, batch: n, bias: bias != nil) else { return nil }
        OneDNN.singleThreaded()
        guard let s0 = OneDNN.stream(0) else { return nil }
        let y = Tensor(uninitialized: [n, g.cout, g.hout, g.wout])
        var held = ScratchBuffers()
        defer { held.release() }
        let weights = stagedWeights(weight, plans.mapValues(\.weightsIn), &held, s0)
        let inImage = g.cin * g.h * g.w, outImage = g.cout * g.p
        let xp = x.data, yp = y.data
        let srcFloats = plans.values.map(\.srcFloats).max()!, dstFloats = plans.values.map(\.dstFloats).max()!
        let scratchFloats = plans.values.map(\.forward.scratchFloats).max()!
        Parallel.forChunks(n) { chunk, range in
            OneDNN.singleThreaded()
            guard let stream = OneDNN.stream(chunk) else { preconditionFailure("oneDNN: no stream") }
            var mine = ScratchBuffers()
            defer { mine.release() }
            let srcBuf = mine.take(srcFloats), dstBuf = mine.take(dstFloats), scratch = mine.take(scratchFloats)
            let sub = convSubBatch(g, chunk: range.count)
            var n0 = range.lowerBound
            while n0 < range.upperBound {
                let count = min(sub, range.upperBound - n0)
                let plan = plans[count]!
                let xs = xp + n0 * inImage, ys = yp + n0 * outImage
                let s = staged(plan.srcIn, xs, srcBuf, stream)
                let d = plan.dstOut.isIdentity ? UnsafeMutableRawPointer(ys) : UnsafeMutableRawPointer(dstBuf)
                var args: [(Int32, UnsafeMutableRawPointer)] = [(DNNL_ARG_SRC, s), (DNNL_ARG_WEIGHTS, weights[count]!), (DNNL_ARG_DST, d)]
                if let bias { args.append((DNNL_ARG_BIAS, UnsafeMutableRawPointer(bias.data))) }
                plan.forward.run(stream, args, scratch: UnsafeMutableRawPointer(scratch))
                if !plan.dstOut.isIdentity { plan.dstOut.run(dstBuf, ys, stream) }
                n0 += count
            }
        }
        return y
    }

    /// Backward convolution through oneDNN; nil when the shape has no fast oneDNN kernel. The bias
    /// gradient is left to the caller.
    static func conv2dBackwardOneDNN(_ gy: Tensor, _ x: Tensor, _ weight: Tensor, _ g: ConvGeometry,
                                     needInput: Bool, needWeight: Bool) -> (input: Tensor?, weight: Tensor?)? {
        let n = x.shape[0]
        guard let plans = convPlans(g, batch: n, bias: false) else { return nil }
        OneDNN.singleThreaded()
        guard let s0 = OneDNN.stream(0) else { return nil }
        let gx: Tensor? = needInput ? Tensor(uninitialized: x.shape) : nil
        var held = ScratchBuffers()
        defer { held.release() }
        let weights = needInput ? stagedWeights(weight, plans.mapValues(\.weightsInBackward), &held, s0) : [:]
        let wCount = weight.count
        let chunks = Parallel.chunkCount(n)
        // Weight-gradient partials per worker, in the plain layout (sub-batch sizes may differ in theirs).
        let partials = needWeight ? held.take(chunks * wCount) : nil
        let inImage = g.cin * g.h * g.w, outImage = g.cout * g.p
        let xp = x.data, gyp = gy.data, gxp = gx?.data
        func most(_ f: (ConvPlan) -> Int) -> Int { plans.values.map(f).max()! }
        let dyFloats = most { OneDNN.floats($0.diffDstIn.to) }, dxFloats = most { OneDNN.floats($0.diffSrcOut.from) }
        let wdyFloats = most { OneDNN.floats($0.diffDstInWeights.to) }, wxFloats = most { OneDNN.floats($0.srcInWeights.to) }
        let dwFloats = most { OneDNN.floats($0.diffWeightsOut.from) }
        let scratchFloats = most { max($0.backwardData.scratchFloats, $0.backwardWeights.scratchFloats) }

        Parallel.forChunks(n) { chunk, range in
            OneDNN.singleThreaded()
            guard let stream = OneDNN.stream(chunk) else { preconditionFailure("oneDNN: no stream") }
            var mine = ScratchBuffers()
            defer { mine.release() }
            let dyBuf = mine.take(dyFloats), dxBuf = mine.take(dxFloats), wdyBuf = mine.take(wdyFloats), wxBuf = mine.take(wxFloats)
            let dwBuf = mine.take(dwFloats), dwPlain = mine.take(wCount), scratch = UnsafeMutableRawPointer(mine.take(scratchFloats))
            let acc = partials.map { $0 + chunk * wCount }
            let sub = convSubBatch(g, chunk: range.count)
            var first = true
            var n0 = range.lowerBound
            while n0 < range.upperBound {
                let count = min(sub, range.upperBound - n0)
                let plan = plans[count]!
                let xs = xp + n0 * inImage, dys = gyp + n0 * outImage
                var dyStaged: UnsafeMutableRawPointer? = nil
                if let gxp {
                    let dy = staged(plan.diffDstIn, dys, dyBuf, stream)
                    dyStaged = dy
                    let dxs = gxp + n0 * inImage
                    let dx = plan.diffSrcOut.isIdentity ? UnsafeMutableRawPointer(dxs) : UnsafeMutableRawPointer(dxBuf)
                    plan.backwardData.run(stream, [(DNNL_ARG_DIFF_SRC, dx), (DNNL_ARG_WEIGHTS, weights[count]!), (DNNL_ARG_DIFF_DST, dy)],
                                          scratch: scratch)
                    if !plan.diffSrcOut.isIdentity { plan.diffSrcOut.run(dxBuf, dxs, stream) }
                }
                if let acc {
                    // backward-data's staged diff_dst serves again when the layouts agree.
                    let dy = (dyStaged != nil && OneDNN.equal(plan.diffDstInWeights.to, plan.diffDstIn.to))
                        ? dyStaged! : staged(plan.diffDstInWeights, dys, wdyBuf, stream)
                    let src = staged(plan.srcInWeights, xs, wxBuf, stream)
                    let target = first ? acc : dwPlain
                    let out = plan.diffWeightsOut.isIdentity ? UnsafeMutableRawPointer(target) : UnsafeMutableRawPointer(dwBuf)
                    plan.backwardWeights.run(stream, [(DNNL_ARG_SRC, src), (DNNL_ARG_DIFF_WEIGHTS, out), (DNNL_ARG_DIFF_DST, dy)],
                                             scratch: scratch)
                    if !plan.diffWeightsOut.isIdentity { plan.diffWeightsOut.run(dwBuf, target, stream) }
                    if !first { simdMap(acc, dwPlain, acc, 0..<wCount) { $0 + $1 } }
                }
                first = false
                n0 += count
            }
        }
        var gw: Tensor? = nil
        if let partials {
            let t = Tensor(uninitialized: weight.shape)
            t.data.update(from: partials, count: wCount)
            for k in 1..<max(1, chunks) { simdMap(t.data, partials + k * wCount, t.data, 0..<wCount) { $0 + $1 } }
            gw = t
        }
        return (gx, gw)
    }

    /// `p` in the reorder's target layout: `p` itself when the layouts agree, else its copy in `buffer`.
    @inline(__always)
    private static func staged(_ r: Reorder, _ p: UnsafePointer<Float>, _ buffer: UnsafeMutablePointer<Float>,
                               _ stream: dnnl_stream_t) -> UnsafeMutableRawPointer {
        if r.isIdentity { return UnsafeMutableRawPointer(mutating: p) }
        r.run(p, buffer, stream)
        return UnsafeMutableRawPointer(buffer)
    }

    /// The weights in each sub-batch plan's layout, reordered once per distinct layout.
    private static func stagedWeights(_ weight: Tensor, _ reorders: [Int: Reorder], _ held: inout ScratchBuffers,
                                      _ stream: dnnl_stream_t) -> [Int: UnsafeMutableRawPointer] {
        var out: [Int: UnsafeMutableRawPointer] = [:]
        var done: [(dnnl_memory_desc_t, UnsafeMutableRawPointer)] = []
        for (size, r) in reorders {
            if let hit = done.first(where: { OneDNN.equal($0.0, r.to) }) { out[size] = hit.1; continue }
            let p: UnsafeMutableRawPointer
            if r.isIdentity { p = UnsafeMutableRawPointer(weight.data) }
            else { let b = held.take(OneDNN.floats(r.to)); r.run(weight.data, b, stream); p = UnsafeMutableRawPointer(b) }
            done.append((r.to, p))
            out[size] = p
        }
        return out
    }
}

/// Buffers taken from the pool for the length of one call and given back together.
struct ScratchBuffers {
    private var held: [(UnsafeMutablePointer<Float>, Int)] = []
    mutating func take(_ floats: Int) -> UnsafeMutablePointer<Float> {
        let n = max(floats, 16)
        let p = BufferPool.acquire(n)
        held.append((p, n))
        return p
    }
    func release() { for (p, n) in held { BufferPool.release(p, n) } }
}
