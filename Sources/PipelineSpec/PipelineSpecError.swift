// PipelineSpecError: the one error type of the PipelineSpec module.
// Every problem with a pipeline file (missing, malformed YAML, unknown key, wrong type, value out of range)
// becomes one of these, carrying the file name, line, column and key path so the message points at the fix.
// It does not decide how errors are shown; callers print `description`.

/// A problem with a pipeline file, located by file, line, column and key path.
///
/// `description` reads like a compiler diagnostic:
/// `Pipelines/x.yaml:12:5: stages.train-base.optimizer: unknown field 'lr_rate' (did you mean 'lr'?)`.
public struct PipelineSpecError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for callers and tests that branch on it.
    public enum Kind: String, Sendable, Equatable {
        /// The pipeline file does not exist.
        case fileNotFound
        /// The file exists but could not be read or is not UTF-8.
        case unreadableFile
        /// The YAML itself does not parse (syntax error, duplicate key, several documents, empty file).
        case malformedYAML
        /// A value has the wrong type (a string where a number belongs, a list where a mapping belongs, ...).
        case typeMismatch
        /// A mapping key that the schema does not know.
        case unknownField
        /// A value outside a fixed set of names (dataset kind, architecture, optimizer kind, ...).
        case unknownValue
        /// A required field is absent.
        case missingField
        /// A number outside its allowed range (epochs ≥ 1, ratios powers of two ≥ 2, ...).
        case outOfRange
        /// A value of the right type that is still unusable (duplicate entries, inconsistent lengths, ...).
        case invalidValue
    }

    /// What went wrong.
    public var kind: Kind
    /// The file name as given to `PipelineSpec.load(path:)` or `parse(yaml:fileName:)`.
    public var fileName: String
    /// 1-based line of the offending node, when known.
    public var line: Int?
    /// 1-based column of the offending node, when known.
    public var column: Int?
    /// Dotted key path of the offending node (`stages.train-base.optimizer`, `ratios[2]`); empty for the top level.
    public var keyPath: String
    /// The problem itself, e.g. `unknown field 'lr_rate'` or `expected a number, found 'abc'`.
    public var message: String
    /// How to fix it, e.g. `did you mean 'lr'?`; printed in parentheses after the message.
    public var hint: String?

    /// Creates an error; most code obtains errors from `YAMLValue.error(_:_:hint:)` instead.
    public init(kind: Kind, fileName: String, line: Int? = nil, column: Int? = nil,
                keyPath: String = "", message: String, hint: String? = nil) {
        self.kind = kind
        self.fileName = fileName
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
        self.hint = hint
    }

    /// `file:line:column: key.path: message (hint)`, leaving out the parts that are unknown or empty.
    public var description: String {
        var text = fileName
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if !keyPath.isEmpty { text += keyPath + ": " }
        text += message
        if let hint { text += " (\(hint))" }
        return text
    }
}
