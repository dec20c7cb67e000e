// The learned entropy bottleneck's codec: integer latents coded with one fixed frequency table per channel,
// the tables stored with the model (never in a frame). Layout and rules in docs/coders.md §7.
//
// A channel's table covers the integer symbols offset … offset + n − 1 (its support) and one escape symbol
// (index n). A symbol inside the support is coded with its own interval; one outside is coded as the escape
// symbol followed by raw bits: 1 bit side (0 below the support, 1 above), 5 bits m − 1 where m is the bit
// length of the distance d ≥ 1 from the support's nearest end, then the low m − 1 bits of d (the leading 1
// is implied). Frequencies are integers ≥ 1 summing to exactly 2^16 (`FactorizedPriorTable.precision`).

/// One channel's fixed frequency table: support `offset ..< offset + count`, then the escape symbol.
public struct FactorizedPriorTable: FrequencyTable, Equatable, Sendable {
    /// log₂ of every table's total.
    public static let precision = 16
    /// Largest support a table may have (symbols besides the escape).
    public static let maxSupport = 1023

    /// Smallest integer symbol of the support.
    public let offset: Int
    /// Frequencies of the support's symbols in increasing order, then of the escape symbol.
    public let frequencies: [UInt32]
    let cdf: [UInt32]

    /// - Throws: `.invalidModel` unless there are 2 … `maxSupport` + 1 frequencies, each ≥ 1, summing to 2^16.
    public init(offset: Int, frequencies: [UInt32]) throws {
        guard (2...(Self.maxSupport + 1)).contains(frequencies.count), frequencies.allSatisfy({ $0 >= 1 }),
              frequencies.reduce(0, { $0 + UInt64($1) }) == UInt64(1) << Self.precision,
              abs(offset) <= 1 << 30 else {
            throw FeatureCodingError.invalidModel("factorized-prior table: \(frequencies.count) frequencies (2…\(Self.maxSupport + 1), each ≥ 1, summing to 2^\(Self.precision)), offset \(offset)")
        }
        self.offset = offset
        self.frequencies = frequencies
        var c: [UInt32] = [0]
        for f in frequencies { c.append(c.last! + f) }
        cdf = c
    }

    /// Support size (symbols besides the escape).
    public var support: Int { frequencies.count - 1 }
    public var symbolCount: Int { frequencies.count }
    public var total: UInt32 { 1 << UInt32(Self.precision) }
    public func frequency(_ symbol: Int) -> UInt32 { frequencies[symbol] }
    public func cumulative(_ symbol: Int) -> UInt32 { cdf[symbol] }
    public func symbol(forTarget target: UInt32) -> Int {
        var lo = 0, hi = frequencies.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if cdf[mid] <= target { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Integer frequencies for probabilities `p` (the support's symbols, then the escape's), deterministic:
    /// fᵢ = max(1, round(pᵢ / Σp · 2^16)) (halves away from zero); then, while Σf > 2^16, the largest
    /// frequency (lowest index on ties) gives up min(excess, f − 1); while Σf < 2^16, the largest takes the
    /// shortfall. Probabilities must be finite and ≥ 0 with a positive sum.
    public static func quantize(_ p: [Double]) throws -> [UInt32] {
        let sum = p.reduce(0, +)
        guard p.count >= 2, p.count <= maxSupport + 1, p.allSatisfy({ $0.isFinite && $0 >= 0 }), sum > 0, sum.isFinite else {
            throw FeatureCodingError.invalidModel("factorized-prior table: \(p.count) probabilities, sum \(sum)")
        }
        let total = Int64(1) << Int64(precision)
        var f = p.map { max(Int64(1), Int64(($0 / sum * Double(total)).rounded())) }
        func largest() -> Int { f.indices.max { f[$0] < f[$1] || (f[$0] == f[$1] && $0 > $1) }! }
        var diff = total - f.reduce(0, +)
        while diff < 0 {
            let i = largest()
            let take = min(-diff, f[i] - 1)
            f[i] -= take; diff += take
        }
        if diff > 0 { f[largest()] += diff }
        return f.map { UInt32($0) }
    }
}

/// Codes integer latents `K × H × W` (channel-major) with one `FactorizedPriorTable` per channel.
public struct FactorizedPriorCodec: Sendable {
    public let tables: [FactorizedPriorTable]
    /// Largest |distance| an escaped symbol may have from its table's support.
    public static let maxEscapeDistance = (1 << 31) - 1

    public init(tables: [FactorizedPriorTable]) { self.tables = tables }

    /// The range-coded symbols (no header: shape and tables are the receiver's). Symbols in channel-major
    /// order, `count` a multiple of the channel count; a symbol escaping its table may lie at most
    /// `maxEscapeDistance` beyond it.
    public func encode(_ symbols: [Int32], shape: FeatureShape) throws -> [UInt8] {
        guard shape.channels == tables.count else {
            throw FeatureCodingError.headerMismatch("\(shape.channels) channels, \(tables.count) tables")
        }
        let plane = shape.height * shape.width
        guard symbols.count == plane * shape.channels else {
            throw FeatureCodingError.countMismatch(expected: plane * shape.channels, found: symbols.count)
        }
        var enc = RangeEncoder(capacityHint: symbols.count / 2)
        for c in 0..<tables.count {
            let t = tables[c]
            for i in (c * plane)..<((c + 1) * plane) {
                let v = Int(symbols[i]) - t.offset
                if v >= 0 && v < t.support {
                    try enc.encode(v, with: t)
                    continue
                }
                try enc.encode(t.support, with: t)
                let above = v >= t.support
                let d = above ? v - t.support + 1 : -v
                guard d <= Self.maxEscapeDistance else {
                    throw FeatureCodingError.invalidModel("latent \(symbols[i]) of channel \(c) lies \(d) beyond its table (at most \(Self.maxEscapeDistance))")
                }
                let m = Int.bitWidth - d.leadingZeroBitCount
                enc.encodeDirect(above ? 1 : 0, bits: 1)
                enc.encodeDirect(UInt32(m - 1), bits: 5)
                if m > 1 { enc.encodeDirect(UInt32(d & ((1 << (m - 1)) - 1)), bits: m - 1) }
            }
        }
        return enc.finish()
    }

    /// The symbols of `bytes` for `shape`; the stream must end exactly where the encoder ends it.
    public func decode(_ bytes: [UInt8], shape: FeatureShape) throws -> [Int32] {
        guard shape.channels == tables.count else {
            throw FeatureCodingError.headerMismatch("\(shape.channels) channels, \(tables.count) tables")
        }
        let plane = shape.height * shape.width
        var out = [Int32](repeating: 0, count: plane * shape.channels)
        var dec = RangeDecoder(bytes)
        for c in 0..<tables.count {
            let t = tables[c]
            for i in (c * plane)..<((c + 1) * plane) {
                let s = dec.decode(with: t)
                if s < t.support { out[i] = Int32(t.offset + s); continue }
                let above = dec.decodeDirect(bits: 1) == 1
                let m = Int(dec.decodeDirect(bits: 5)) + 1
                let d = m > 1 ? (1 << (m - 1)) | Int(dec.decodeDirect(bits: m - 1)) : 1
                let v = above ? t.offset + t.support - 1 + d : t.offset - d
                guard let v32 = Int32(exactly: v) else {
                    throw FeatureCodingError.corrupt("escaped latent \(v) of channel \(c) does not fit in 32 bits")
                }
                out[i] = v32
            }
        }
        try dec.finish()
        return out
    }
}
