// Typed errors of the FeatureCoding module. Every error a caller or a damaged payload can cause is one of
// these cases, with a message that says what was expected and how to fix it. Nothing in this module calls
// fatalError/precondition for input a user can supply.

/// A symbol codec could not encode or decode its input.
public enum FeatureCodingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `bits` outside 1…8.
    case invalidBits(Int)
    /// A shape with a negative dimension, or whose element count overflows `Int`.
    case invalidShape(channels: Int, height: Int, width: Int)
    /// The symbol array's length differs from the shape's element count.
    case countMismatch(expected: Int, found: Int)
    /// A symbol does not fit in `bits` bits.
    case symbolOutOfRange(index: Int, value: UInt8, bits: Int)
    /// The caller-given output limit is smaller than what the payload claims or decodes to.
    case outputLimitExceeded(limit: Int)
    /// The payload is shorter than its format requires (cut off in transit or on disk).
    case truncated(needed: Int, available: Int)
    /// The payload's header does not match the decoder's arguments (another model, format version, bits or shape).
    case headerMismatch(String)
    /// The payload is internally inconsistent (bit flips, wrong codec, trailing garbage).
    case corrupt(String)
    /// libzstd reported an error.
    case zstd(operation: String, message: String)
    /// A frequency table or model parameter is unusable (e.g. a total above the coder's limit).
    case invalidModel(String)

    public var description: String {
        switch self {
        case .invalidBits(let b):
            return "bits = \(b) is not supported: symbols are quantised to 1…8 bits. Fix: pass the quantiser's bit width."
        case .invalidShape(let c, let h, let w):
            return "shape \(c)×\(h)×\(w) is invalid (negative dimension or element count overflow). Fix: pass channels × height × width of the feature tensor."
        case .countMismatch(let e, let f):
            return "the shape holds \(e) elements but \(f) symbols were given. Fix: pass the shape of the quantised tensor these symbols came from."
        case .symbolOutOfRange(let i, let v, let b):
            return "symbol \(i) = \(v) does not fit in \(b) bits (max \((1 << b) - 1)). Fix: quantise to \(b) bits, or pass the bit width actually used."
        case .outputLimitExceeded(let limit):
            return "the decoded output would exceed the caller's limit of \(limit) bytes. Fix: pass the expected decoded size; the payload may be corrupt or belong to a larger tensor."
        case .truncated(let needed, let available):
            return "payload truncated: the format needs at least \(needed) bytes, only \(available) present. Fix: check the transport for cut-off messages."
        case .headerMismatch(let what):
            return "payload header mismatch: \(what). Fix: decode with the same codec, model, bits and shape the encoder used."
        case .corrupt(let what):
            return "payload corrupt: \(what). Fix: check the transport; the bytes are not what the encoder produced."
        case .zstd(let op, let msg):
            return "zstd \(op) failed: \(msg)"
        case .invalidModel(let what):
            return "invalid frequency model: \(what)"
        }
    }
}
