// `SymbolCodec` over our own range coder, with a choice of probability model: adaptive order-0 (one
// multi-symbol frequency table) or one of the two feature-map context models. Payload = one header byte +
// the coded streams (layouts in docs/coders.md). The header only confirms what the caller passes anyway
// (model, bits): shape and bits are arguments, never read from the payload.

/// Which probability model an `ArithmeticSymbolCodec` uses. Encoder and decoder must use the same one.
public enum ArithmeticModel: Equatable, Hashable, Sendable {
    /// One adaptive frequency table over the 2^bits symbols (increment 24, halving above 2^16). No context.
    case order0
    /// `FeatureContextModel4` with raw signs (payload tag 5, the default): flat-run and zero decisions, one
    /// adaptive-CDF symbol for the residual's magnitude class, raw mantissa and sign bits. `cdfShift` is the
    /// class CDFs' steady-state adaptation shift (1 … 14); default 6.
    case context(cdfShift: Int = 6)
    /// `FeatureContextModel4` with modelled signs (payload tag 4, the previous default); `cdfShift` as above.
    case context4(cdfShift: Int = 6)
    /// `FeatureContextModel` (payload tag 3, the previous format): zero flag / unary class / mantissa / sign
    /// binary decisions. `rateLimit` is the binary models' steady-state adaptation (see `AdaptiveBit`); default 30.
    case context3(rateLimit: Int = 30)

    /// The header tag (high nibble of byte 0).
    var tag: UInt8 {
        switch self {
        case .order0: return 1
        case .context3: return 3 // 2 was the first context model (every mantissa bit modelled); not decoded any more
        case .context4: return 4
        case .context: return 5
        }
    }

    /// Signs as raw bits (tag 5) rather than modelled (tag 4).
    var rawSigns: Bool {
        if case .context = self { return true }
        return false
    }

    var name: String {
        switch self {
        case .order0: return "order0"
        case .context(let s): return s == 6 ? "context" : "context-s\(s)"
        case .context4(let s): return s == 6 ? "context4" : "context4-s\(s)"
        case .context3(let l): return l == 30 ? "context3" : "context3-r\(l)"
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
        var out: [UInt8] = [model.tag << 4 | UInt8(bits)]
        var enc = RangeEncoder(capacityHint: n / 2 + 16)
        switch model {
        case .order0:
            var table = try AdaptiveFrequencyTable(symbolCount: 1 << bits)
            for s in symbols {
                let v = Int(s)
                enc.encodeUnchecked(cumulative: table.cumulative(v), frequency: table.frequency(v), total: table.total)
                table.update(v)
            }
        case .context3(let rateLimit):
            guard n > 0 else { break }
            let m = FeatureContextModel(rateLimit: rateLimit)
            let plane = paddedPlane(symbols, shape: shape)
            defer { plane.deallocate() }
            var coder = BitEncoder(rc: enc)
            m.run(&coder, plane: plane, shape: shape, bits: bits)
            enc = coder.rc
        case .context(let shift), .context4(let shift):
            // The LEB128 length of the range-coded stream, the stream, then the raw-bit stream.
            var raw = RawBitWriter(maxFields: n)
            if n > 0 {
                let m = FeatureContextModel4(cdfShift: shift, rawSigns: model.rawSigns)
                let plane = paddedPlane(symbols, shape: shape)
                defer { plane.deallocate() }
                var coder = BitEncoder(rc: enc)
                m.run(&coder, raw: &raw, plane: plane, shape: shape, bits: bits)
                enc = coder.rc
            }
            let coded = enc.finish()
            appendLEB128(coded.count, to: &out)
            out.append(contentsOf: coded)
            out.append(contentsOf: raw.finish())
            return out
        }
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
        var out = [UInt8](repeating: 0, count: n)
        switch model {
        case .order0:
            var dec = RangeDecoder(bytes[1...])
            var table = try AdaptiveFrequencyTable(symbolCount: 1 << bits)
            for i in 0..<n {
                let t = dec.decodeTarget(total: table.total)
                let s = table.symbol(forTarget: t)
                dec.consume(cumulative: table.cumulative(s), frequency: table.frequency(s))
                table.update(s)
                out[i] = UInt8(truncatingIfNeeded: s)
            }
            try dec.finish()
        case .context3(let rateLimit):
            var dec = RangeDecoder(bytes[1...])
            if n > 0 { // a 0-element shape may still have huge dimensions: allocate nothing
                let m = FeatureContextModel(rateLimit: rateLimit)
                decodePlane(shape, into: &out) { plane in
                    var coder = BitDecoder(rc: dec)
                    m.run(&coder, plane: plane, shape: shape, bits: bits)
                    dec = coder.rc
                }
            }
            try dec.finish()
        case .context(let shift), .context4(let shift):
            let (codedCount, start) = try readLEB128(bytes, at: 1)
            guard codedCount <= bytes.count - start else {
                throw FeatureCodingError.truncated(needed: start + codedCount, available: bytes.count)
            }
            var dec = RangeDecoder(bytes[start..<(start + codedCount)])
            var raw = RawBitReader(bytes[(start + codedCount)...], maxFields: n)
            if n > 0 {
                let m = FeatureContextModel4(cdfShift: shift, rawSigns: model.rawSigns)
                decodePlane(shape, into: &out) { plane in
                    var coder = BitDecoder(rc: dec)
                    m.run(&coder, raw: &raw, plane: plane, shape: shape, bits: bits)
                    dec = coder.rc
                }
            }
            try raw.finish()
            try dec.finish()
        }
        return out
    }

    /// A zero-padded copy of `symbols` in the layout of `FeatureContextModel.paddedIndex` (caller deallocates).
    private func paddedPlane(_ symbols: [UInt8], shape: FeatureShape) -> UnsafeMutablePointer<UInt8> {
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

    /// Runs `decode` on a zeroed padded plane (layout of `FeatureContextModel.paddedIndex`), then copies the
    /// decoded map into `out` (channel-major).
    private func decodePlane(_ shape: FeatureShape, into out: inout [UInt8], _ decode: (UnsafeMutablePointer<UInt8>) -> Void) {
        let count = FeatureContextModel.paddedCount(shape)
        let plane = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        plane.initialize(repeating: 0, count: count)
        defer { plane.deallocate() }
        decode(plane)
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

/// Appends `value` (≥ 0) as unsigned LEB128: 7 bits per byte, least significant first, high bit = more.
func appendLEB128(_ value: Int, to out: inout [UInt8]) {
    var v = UInt64(value)
    repeat {
        let byte = UInt8(v & 0x7F)
        v >>= 7
        out.append(v == 0 ? byte : byte | 0x80)
    } while v != 0
}

/// Reads an unsigned LEB128 number at `offset`: at most 4 bytes (values < 2^28), the last without its high
/// bit. Returns the value and the offset after it.
/// - Throws: `.truncated` when the bytes end inside it, `.corrupt` for a fifth byte or a non-minimal form.
func readLEB128(_ bytes: [UInt8], at offset: Int) throws -> (Int, Int) {
    var value = 0, shift = 0, i = offset
    while true {
        guard i < bytes.count else { throw FeatureCodingError.truncated(needed: i + 1, available: bytes.count) }
        let byte = bytes[i]
        i += 1
        value |= Int(byte & 0x7F) << shift
        if byte & 0x80 == 0 {
            if byte == 0 && i - offset > 1 { throw FeatureCodingError.corrupt("stream length at byte \(offset) is not in its shortest form") }
            return (value, i)
        }
        shift += 7
        guard shift < 28 else { throw FeatureCodingError.corrupt("stream length at byte \(offset) longer than 4 bytes") }
    }
}
