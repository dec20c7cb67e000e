// `SymbolCodec` over our own range coder, with a choice of probability model: adaptive order-0 (one
// multi-symbol frequency table) or the feature-map context model. Payload = one header byte + the range
// coder's bytes (layout in docs/coders.md). The header only confirms what the caller passes anyway (model,
// bits): shape and bits are arguments, never read from the payload.

/// Which probability model an `ArithmeticSymbolCodec` uses. Encoder and decoder must use the same one.
public enum ArithmeticModel: Equatable, Hashable, Sendable {
    /// One adaptive frequency table over the 2^bits symbols (increment 24, halving above 2^16). No context.
    case order0
    /// `FeatureContextModel`: zero flag / exponent / mantissa decisions with neighbour contexts.
    /// `rateLimit` is the binary models' steady-state adaptation (see `AdaptiveBit`); default 30.
    case context(rateLimit: Int = 30)

    /// The header tag (high nibble of byte 0).
    var tag: UInt8 {
        switch self {
        case .order0: return 1
        case .context: return 3 // 2 was the first context model (every mantissa bit modelled); not decoded any more
        }
    }

    var name: String {
        switch self {
        case .order0: return "order0"
        case .context(let l): return l == 30 ? "context" : "context-r\(l)"
        }
    }
}

/// Range coder + model. Deterministic, integer-only, so any machine (and any decoder written from
/// docs/coders.md) reproduces the bytes.
public struct ArithmeticSymbolCodec: SymbolCodec {
    public let model: ArithmeticModel
    public var name: String { "arith-\(model.name)" }

    public init(model: ArithmeticModel = .context()) { self.model = model }

    /// Encodes `symbols` (channel-major `C × H × W`, each `< 2^bits`).
    /// - Throws: `.invalidBits`, `.invalidShape`, `.countMismatch`, `.symbolOutOfRange`.
    public func encode(_ symbols: [UInt8], shape: FeatureShape, bits: Int) throws -> [UInt8] {
        let n = try validateSymbols(symbols, shape: shape, bits: bits)
        var enc = RangeEncoder(capacityHint: n / 2 + 16)
        switch model {
        case .order0:
            var table = try AdaptiveFrequencyTable(symbolCount: 1 << bits)
            for s in symbols {
                let v = Int(s)
                enc.encodeUnchecked(cumulative: table.cumulative(v), frequency: table.frequency(v), total: table.total)
                table.update(v)
            }
        case .context(let rateLimit):
            guard n > 0 else { break }
            let m = FeatureContextModel(rateLimit: rateLimit)
            let plane = try paddedPlane(symbols, shape: shape)
            defer { plane.deallocate() }
            var coder = BitEncoder(rc: enc)
            m.run(&coder, plane: plane, shape: shape, bits: bits)
            enc = coder.rc
        }
        var out: [UInt8] = [model.tag << 4 | UInt8(bits)]
        out.append(contentsOf: enc.finish())
        return out
    }

    /// Decodes a payload of `encode` with the same model, `shape` and `bits`.
    ///
    /// Always allocates exactly what the shape implies. Detects: wrong header (model/bits), truncation,
    /// trailing bytes, and any damage that drives the range decoder out of its valid state. Damage that
    /// keeps the decoder valid decodes to other symbols of the right count and range (no checksum here).
    /// - Throws: `.headerMismatch`, `.truncated`, `.corrupt`, and the argument errors of `encode`.
    public func decode(_ bytes: [UInt8], shape: FeatureShape, bits: Int) throws -> [UInt8] {
        let n = try validateArguments(shape: shape, bits: bits)
        guard bytes.count >= 2 else { throw FeatureCodingError.truncated(needed: 2, available: bytes.count) }
        let expectedHeader = model.tag << 4 | UInt8(bits)
        guard bytes[0] == expectedHeader else {
            let old = bytes[0] >> 4 == 2 ? "; tag 2 is the first context-model format, which this version no longer reads — re-encode the features" : ""
            throw FeatureCodingError.headerMismatch("header byte 0x\(String(bytes[0], radix: 16)), expected 0x\(String(expectedHeader, radix: 16)) (\(name), \(bits) bits)\(old)")
        }
        var dec = RangeDecoder(Array(bytes[1...]))
        var out = [UInt8](repeating: 0, count: n)
        switch model {
        case .order0:
            var table = try AdaptiveFrequencyTable(symbolCount: 1 << bits)
            for i in 0..<n {
                let t = dec.decodeTarget(total: table.total)
                let s = table.symbol(forTarget: t)
                dec.consume(cumulative: table.cumulative(s), frequency: table.frequency(s))
                table.update(s)
                out[i] = UInt8(truncatingIfNeeded: s)
            }
        case .context(let rateLimit):
            guard n > 0 else { break } // a 0-element shape may still have huge dimensions: allocate nothing
            let m = FeatureContextModel(rateLimit: rateLimit)
            let count = FeatureContextModel.paddedCount(shape)
            let plane = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
            plane.initialize(repeating: 0, count: count)
            defer { plane.deallocate() }
            var coder = BitDecoder(rc: dec)
            m.run(&coder, plane: plane, shape: shape, bits: bits)
            dec = coder.rc
            copyOut(plane, to: &out, shape: shape)
        }
        try dec.finish()
        return out
    }

    private func paddedPlane(_ symbols: [UInt8], shape: FeatureShape) throws -> UnsafeMutablePointer<UInt8> {
        let count = FeatureContextModel.paddedCount(shape)
        let plane = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        plane.initialize(repeating: 0, count: count)
        let H = shape.height, W = shape.width
        symbols.withUnsafeBufferPointer { src in
            for c in 0..<shape.channels {
                for y in 0..<H {
                    let dst = plane + FeatureContextModel.paddedIndex(shape, c: c, y: y, x: 0)
                    let s = src.baseAddress! + (c * H + y) * W
                    dst.update(from: s, count: W)
                }
            }
        }
        return plane
    }

    private func copyOut(_ plane: UnsafeMutablePointer<UInt8>, to out: inout [UInt8], shape: FeatureShape) {
        let H = shape.height, W = shape.width
        guard W > 0 else { return }
        out.withUnsafeMutableBufferPointer { dst in
            for c in 0..<shape.channels {
                for y in 0..<H {
                    let src = plane + FeatureContextModel.paddedIndex(shape, c: c, y: y, x: 0)
                    (dst.baseAddress! + (c * H + y) * W).update(from: src, count: W)
                }
            }
        }
    }
}
