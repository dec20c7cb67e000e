// Probability models, separate from the range coder: a frequency-table interface for multi-symbol coding,
// an adaptive frequency table (integer counts, fixed increment, halving rescale), and an adaptive binary
// model (integer probability with a count-driven learning rate). Models change only between coder calls,
// and only through integer arithmetic, so encoder and decoder stay in lock-step on every machine.

/// A table of integer symbol frequencies, as the range coder needs it.
///
/// Requirements: `total ≤ RangeEncoder.maxTotal`; every symbol in `0..<symbolCount` has frequency ≥ 1;
/// `cumulative(s)` = Σ frequency(t) for t < s.
public protocol FrequencyTable {
    /// Number of symbols (alphabet size).
    var symbolCount: Int { get }
    /// Sum of all frequencies.
    var total: UInt32 { get }
    /// Frequency of `symbol`.
    func frequency(_ symbol: Int) -> UInt32
    /// Sum of the frequencies of all symbols below `symbol`.
    func cumulative(_ symbol: Int) -> UInt32
    /// The symbol `s` with `cumulative(s) ≤ target < cumulative(s) + frequency(s)`, for `target < total`.
    func symbol(forTarget target: UInt32) -> Int
}

extension RangeEncoder {
    /// Codes `symbol` with the interval `table` assigns it.
    public mutating func encode<T: FrequencyTable>(_ symbol: Int, with table: T) throws {
        guard symbol >= 0, symbol < table.symbolCount else {
            throw FeatureCodingError.invalidModel("symbol \(symbol) outside the table's alphabet 0..<\(table.symbolCount)")
        }
        try encode(cumulative: table.cumulative(symbol), frequency: table.frequency(symbol), total: table.total)
    }
}

extension RangeDecoder {
    /// Decodes one symbol coded with `table`.
    public mutating func decode<T: FrequencyTable>(with table: T) -> Int {
        let t = decodeTarget(total: table.total)
        let s = table.symbol(forTarget: t)
        consume(cumulative: table.cumulative(s), frequency: table.frequency(s))
        return s
    }
}

/// An adaptive frequency table over `symbolCount` symbols (2 … 4096).
///
/// Rule: every count starts at 1. After coding symbol `s`, `count[s] += increment` (default 24). When the
/// total then exceeds `limit` (default 2^16), every count is halved rounding up (`c ← (c + 1) / 2`), so no
/// count drops to 0. Cumulative sums come from a Fenwick tree (O(log n) per query and update).
public struct AdaptiveFrequencyTable: FrequencyTable {
    public let symbolCount: Int
    public let increment: UInt32
    public let limit: UInt32
    public private(set) var total: UInt32
    @usableFromInline var counts: [UInt32]
    @usableFromInline var tree: [UInt32] // Fenwick tree, 1-based, size symbolCount + 1
    @usableFromInline let topBit: Int

    /// - Throws: `.invalidModel` for an alphabet outside 2 … 4096, a zero increment, or
    ///   `limit` outside `symbolCount + increment … RangeEncoder.maxTotal`.
    public init(symbolCount: Int, increment: UInt32 = 24, limit: UInt32 = RangeEncoder.maxTotal) throws {
        guard (2...4096).contains(symbolCount), increment >= 1, limit <= RangeEncoder.maxTotal,
              UInt32(symbolCount) + increment <= limit else {
            throw FeatureCodingError.invalidModel("adaptive table: alphabet \(symbolCount), increment \(increment), limit \(limit)")
        }
        self.symbolCount = symbolCount
        self.increment = increment
        self.limit = limit
        counts = [UInt32](repeating: 1, count: symbolCount)
        tree = [UInt32](repeating: 0, count: symbolCount + 1)
        total = 0
        var b = 1
        while b * 2 <= symbolCount { b *= 2 }
        topBit = b
        rebuild()
    }

    mutating func rebuild() {
        for i in 0..<tree.count { tree[i] = 0 }
        total = 0
        for s in 0..<symbolCount {
            total += counts[s]
            var i = s + 1
            while i <= symbolCount { tree[i] &+= counts[s]; i += i & (-i) }
        }
    }

    public func frequency(_ symbol: Int) -> UInt32 { counts[symbol] }

    public func cumulative(_ symbol: Int) -> UInt32 {
        var sum: UInt32 = 0
        var i = symbol
        while i > 0 { sum &+= tree[i]; i -= i & (-i) }
        return sum
    }

    public func symbol(forTarget target: UInt32) -> Int {
        // Fenwick descent: largest prefix whose sum ≤ target.
        var pos = 0
        var rem = target
        var step = topBit
        while step > 0 {
            let next = pos + step
            if next <= symbolCount && tree[next] <= rem {
                pos = next
                rem &-= tree[next]
            }
            step >>= 1
        }
        return min(pos, symbolCount - 1)
    }

    /// Records one occurrence of `symbol` (the increment and rescale rule above).
    public mutating func update(_ symbol: Int) {
        counts[symbol] &+= increment
        total &+= increment
        var i = symbol + 1
        while i <= symbolCount { tree[i] &+= increment; i += i & (-i) }
        if total > limit {
            for s in 0..<symbolCount { counts[s] = (counts[s] + 1) >> 1 }
            rebuild()
        }
    }
}

/// An adaptive binary model: the probability that the next bit is 0, as an integer `p0` out of 2^16,
/// plus the number `n` of bits seen (saturating at the model's `rateLimit`).
///
/// Rule (integer only): with `k = rateTable[n] = ⌊65536 / (n + 2)⌋`,
/// after a 0: `p0 += ((65536 − p0) · k) >> 16`; after a 1: `p0 −= (p0 · k) >> 16`; then `n += 1` while
/// `n < rateLimit`. The first bits are averaged like counts (learning rate 1/2, 1/3, 1/4, …), later ones
/// forget old statistics at rate `1/(rateLimit + 2)`. `p0` starts at 32768 and stays within 1 … 65535.
@frozen public struct AdaptiveBit: Sendable, Equatable {
    public var p0: UInt16 = 0x8000
    public var n: UInt16 = 0
    @inlinable public init() {}
}

/// The learning-rate table shared by all `AdaptiveBit`s of one model (index = `n`).
public struct AdaptationRates: Sendable {
    public let rateLimit: Int
    @usableFromInline let table: [UInt32]

    /// - Parameter rateLimit: 1 … 1022; larger adapts more slowly in the steady state.
    public init(rateLimit: Int) {
        let l = min(max(rateLimit, 1), 1022)
        self.rateLimit = l
        table = (0...l).map { UInt32(65536 / ($0 + 2)) }
    }
}
