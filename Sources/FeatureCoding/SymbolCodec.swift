// The interface every feature-symbol codec implements, argument checks shared by all of them, and the
// order-0 entropy used as a yardstick. A codec maps quantised symbols (one UInt8 per element, value < 2^bits)
// of a known shape to bytes and back; shape and bits are arguments on both sides, never guessed from the
// payload.

import Foundation

/// A lossless coder for quantised feature maps.
///
/// Contract: `decode(encode(s, shape, bits), shape, bits) == s` for every `s` with `s.count == C·H·W` and
/// every value `< 2^bits`; encoding is deterministic (same input, same bytes, on any machine); `decode`
/// on damaged bytes either throws a `FeatureCodingError` or returns exactly `C·H·W` symbols (each `< 2^bits`),
/// never crashes, hangs, or allocates more than the shape implies.
public protocol SymbolCodec: Sendable {
    /// A short name for reports (`"zstd-19"`, `"arith-context"`).
    var name: String { get }
    /// Encodes `symbols` (channel-major `C × H × W`, each `< 2^bits`).
    func encode(_ symbols: [UInt8], shape: FeatureShape, bits: Int) throws -> [UInt8]
    /// Decodes a payload produced by `encode` with the same `shape` and `bits`.
    func decode(_ bytes: [UInt8], shape: FeatureShape, bits: Int) throws -> [UInt8]
}

/// Checks `bits` and the shape, returns the element count.
func validateArguments(shape: FeatureShape, bits: Int) throws -> Int {
    guard (1...8).contains(bits) else { throw FeatureCodingError.invalidBits(bits) }
    return try shape.validatedCount()
}

/// Checks `bits`, the shape, the symbol count and every symbol's range; returns the element count.
func validateSymbols(_ symbols: [UInt8], shape: FeatureShape, bits: Int) throws -> Int {
    let n = try validateArguments(shape: shape, bits: bits)
    guard symbols.count == n else { throw FeatureCodingError.countMismatch(expected: n, found: symbols.count) }
    if bits < 8 {
        let maxValue = UInt8((1 << bits) - 1)
        // Cheap OR-reduction first; locate the culprit only on failure.
        var acc: UInt8 = 0
        for s in symbols { acc |= s }
        if acc > maxValue, let i = symbols.firstIndex(where: { $0 > maxValue }) {
            throw FeatureCodingError.symbolOutOfRange(index: i, value: symbols[i], bits: bits)
        }
    }
    return n
}

/// Empirical order-0 entropy of `symbols` in bits per symbol: `−Σ p·log2 p` over the symbol histogram.
///
/// - Parameters:
///   - symbols: the data; an empty array has entropy 0.
///   - alphabet: number of possible values (e.g. `1 << bits`); symbols `≥ alphabet` are counted in a
///     separate overflow bin rather than trapping.
public func order0Entropy(_ symbols: [UInt8], alphabet: Int = 256) -> Double {
    guard !symbols.isEmpty else { return 0 }
    var hist = [Int](repeating: 0, count: 257)
    let a = max(1, min(alphabet, 256))
    for s in symbols { hist[Int(s) < a ? Int(s) : 256] += 1 }
    let n = Double(symbols.count)
    var h = 0.0
    for c in hist where c > 0 {
        let p = Double(c) / n
        h -= p * log2(p)
    }
    return h
}
