// YAMLValue and YAMLMapping: a strict, typed layer over Yams' node API.
// Each value knows its file name and dotted key path, so every accessor can throw a PipelineSpecError that
// points at the exact line and column. Mappings are opened with the list of keys the schema knows; any other
// key is an error with a suggestion. This layer knows nothing about pipelines: the schema lives elsewhere.

import Foundation
import Yams

/// A YAML node together with where it came from: the file name and the dotted key path to reach it.
///
/// Typed accessors (`string()`, `int()`, `double()`, `bool()`, `list()`, `mapping(knownKeys:)`) throw a
/// `PipelineSpecError` naming the file, line, column and key path when the node has the wrong shape.
/// An empty value (`key:` with nothing after it) reads as an empty list or mapping, and is a type error
/// where a scalar is expected.
public struct YAMLValue {
    /// The underlying Yams node (aliases already resolved by Yams).
    public let node: Node
    /// Dotted key path from the document root, e.g. `stages.train-base.epochs` or `ratios[1]`; empty for the root.
    public let keyPath: String
    /// The file name used in error messages.
    public let fileName: String

    /// Wraps a node; `keyPath` is its path from the root.
    public init(node: Node, keyPath: String = "", fileName: String) {
        self.node = node
        self.keyPath = keyPath
        self.fileName = fileName
    }

    /// 1-based line of the node, when Yams recorded one.
    public var line: Int? { node.mark?.line }
    /// 1-based column of the node, when Yams recorded one.
    public var column: Int? { node.mark?.column }

    /// An error located at this node.
    public func error(_ kind: PipelineSpecError.Kind, _ message: String, hint: String? = nil) -> PipelineSpecError {
        PipelineSpecError(kind: kind, fileName: fileName, line: line, column: column,
                          keyPath: keyPath, message: message, hint: hint)
    }

    /// The resolved YAML tag (`!!int`, `!!float`, `!!str`, ...).
    private var tagName: Tag.Name { Tag.Name(rawValue: node.tag.rawValue) }

    /// True for `~`, `null` and an empty value.
    public var isNull: Bool {
        if case let .scalar(scalar) = node { return tagName == .null && scalar.style == .plain }
        return false
    }

    /// How the node reads in an error message: `'abc'`, `a list`, `a mapping`, `an empty value`.
    var found: String {
        switch node {
        case let .scalar(scalar):
            if isNull { return scalar.string.isEmpty ? "an empty value" : "null ('\(scalar.string)')" }
            return "'\(scalar.string)'"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .alias: return "an alias"
        }
    }

    private func typeMismatch(_ expected: String) -> PipelineSpecError {
        var hint: String?
        if case let .scalar(scalar) = node, scalar.style == .singleQuoted || scalar.style == .doubleQuoted,
           expected != "a string" {
            hint = "the value is quoted, so it reads as a string; remove the quotes"
        } else if case .sequence = node, expected.hasPrefix("a list") == false, expected != "a mapping" {
            hint = "write a single value, not a list"
        }
        return error(.typeMismatch, "expected \(expected), found \(found)", hint: hint)
    }

    /// The plain (unquoted) scalar text, if this is one.
    private var plainText: String? {
        if case let .scalar(scalar) = node, scalar.style == .plain, !isNull { return scalar.string }
        return nil
    }

    // MARK: Scalars

    /// The scalar's text; numbers and booleans are accepted as their text. Null, lists and mappings are errors.
    public func string() throws -> String {
        guard case let .scalar(scalar) = node, !isNull else { throw typeMismatch("a string") }
        return scalar.string
    }

    /// A non-empty string.
    public func nonEmptyString() throws -> String {
        let text = try string()
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw error(.invalidValue, "must not be empty")
        }
        return text
    }

    /// An integer written as a plain YAML integer (`10`, `60_000`, `0x10`). `10.0` and `"10"` are errors.
    public func int() throws -> Int {
        guard let text = plainText, tagName == .int else { throw typeMismatch("an integer") }
        if let value = Int(text.replacingOccurrences(of: "_", with: "")) { return value }
        if let value = node.int { return value }
        throw error(.outOfRange, "integer \(text) does not fit in 64 bits")
    }

    /// An unsigned 64-bit integer (seeds).
    public func uint64() throws -> UInt64 {
        guard let text = plainText, tagName == .int else { throw typeMismatch("a non-negative integer") }
        let digits = text.replacingOccurrences(of: "_", with: "")
        if let value = UInt64(digits.hasPrefix("+") ? String(digits.dropFirst()) : digits) { return value }
        if let value = node.int, value >= 0 { return UInt64(value) }
        if digits.hasPrefix("-") { throw error(.outOfRange, "must be ≥ 0, found \(text)") }
        throw error(.outOfRange, "must be between 0 and \(UInt64.max), found \(text)")
    }

    /// A finite number written as a plain YAML integer or float (`0.1`, `5e-4`, `3`). `.inf` and `.nan` are errors.
    public func double() throws -> Double {
        guard let text = plainText, tagName == .int || tagName == .float else {
            throw typeMismatch("a number")
        }
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        guard let value = Double(cleaned) ?? node.float else { throw typeMismatch("a number") }
        guard value.isFinite else { throw error(.outOfRange, "must be a finite number, found \(text)") }
        return value
    }

    /// A boolean: `true` or `false` (YAML 1.1 spellings such as `yes`/`no` are accepted as Yams resolves them).
    /// `true` or `false` (YAML 1.2's core schema, in any of its three spellings). YAML 1.1's `yes`, `no`, `on`,
    /// `off`, `y` and `n`, which Yams would also read as booleans, are refused: they are a typo as often as a choice.
    public func bool() throws -> Bool {
        guard let text = plainText, tagName == .bool, let value = node.bool,
              ["true", "True", "TRUE", "false", "False", "FALSE"].contains(text) else {
            throw typeMismatch("true or false")
        }
        return value
    }

    /// One of a fixed set of names, e.g. a dataset kind; unknown names get a suggestion and the full list.
    public func oneOf<Choice: RawRepresentable & CaseIterable>(_ type: Choice.Type) throws -> Choice
    where Choice.RawValue == String {
        let text = try string()
        if let choice = Choice(rawValue: text) { return choice }
        let names = Choice.allCases.map(\.rawValue)
        var hint = "expected one of: " + names.joined(separator: ", ")
        if let guess = closestMatch(to: text, among: names) { hint = "did you mean '\(guess)'? " + hint }
        throw error(.unknownValue, "unknown value '\(text)'", hint: hint)
    }

    // MARK: Range checks

    /// Throws `outOfRange` at this node with `must <requirement>, found <text>` unless `condition` holds.
    public func require(_ condition: Bool, _ requirement: String) throws {
        guard !condition else { return }
        let shown: String
        if case let .scalar(scalar) = node { shown = scalar.string } else { shown = found }
        throw error(.outOfRange, "must be \(requirement), found \(shown)")
    }

    /// An integer that is at least `minimum`.
    public func int(atLeast minimum: Int) throws -> Int {
        let value = try int()
        try require(value >= minimum, "≥ \(minimum)")
        return value
    }

    /// An integer in `range`.
    public func int(in range: ClosedRange<Int>) throws -> Int {
        let value = try int()
        try require(range.contains(value), "in \(range.lowerBound)…\(range.upperBound)")
        return value
    }

    // MARK: Collections

    /// The elements of a list, each with key path `path[i]`. An empty value reads as an empty list.
    /// A non-empty list of distinct items read by `item`; `noun` names an item in errors ("codec", "bit width").
    public func distinctList<T: Equatable>(_ noun: String, _ item: (YAMLValue) throws -> T) throws -> [T] {
        var out: [T] = []
        for element in try list() {
            let v = try item(element)
            if out.contains(v) { throw element.error(.invalidValue, "\(noun) \(element.found) is listed twice") }
            out.append(v)
        }
        try require(!out.isEmpty, "at least one \(noun)")
        return out
    }

    public func list() throws -> [YAMLValue] {
        if isNull { return [] }
        guard case let .sequence(sequence) = node else { throw typeMismatch("a list") }
        return sequence.enumerated().map { index, element in
            YAMLValue(node: element, keyPath: "\(keyPath)[\(index)]", fileName: fileName)
        }
    }

    /// Opens this node as a mapping whose keys must all be in `knownKeys`.
    ///
    /// - Parameters:
    ///   - knownKeys: every key the schema accepts here, in the order to list them in hints.
    ///   - noun: what a key names, for messages (`field`, `stage`).
    /// YAML merge keys (`<<: *anchor`) are expanded first; keys written explicitly win over merged ones.
    /// An empty value reads as an empty mapping.
    public func mapping(knownKeys: [String], noun: String = "field") throws -> YAMLMapping {
        var entries: [YAMLMapping.Entry] = []
        if !isNull {
            guard case .mapping = node else { throw typeMismatch("a mapping") }
            try collectEntries(into: &entries)
        }
        for entry in entries where !knownKeys.contains(entry.key) {
            let hint: String
            if let guess = closestMatch(to: entry.key, among: knownKeys) {
                hint = "did you mean '\(guess)'?"
            } else if knownKeys.isEmpty {
                hint = "no \(noun)s are allowed here"
            } else {
                hint = "known \(noun)s: " + knownKeys.joined(separator: ", ")
            }
            throw PipelineSpecError(kind: .unknownField, fileName: fileName, line: entry.keyLine,
                                    column: entry.keyColumn, keyPath: keyPath,
                                    message: "unknown \(noun) '\(entry.key)'", hint: hint)
        }
        return YAMLMapping(value: self, entries: entries)
    }

    /// Flattens merge keys and checks that every key is a plain string.
    private func collectEntries(into entries: inout [YAMLMapping.Entry]) throws {
        guard case let .mapping(mapping) = node else { return }
        var merged: [YAMLMapping.Entry] = []
        for (keyNode, valueNode) in mapping {
            let keyValue = YAMLValue(node: keyNode, keyPath: keyPath, fileName: fileName)
            if case .scalar = keyNode, Tag.Name(rawValue: keyNode.tag.rawValue) == .merge {
                let sources = (try? YAMLValue(node: valueNode, keyPath: keyPath, fileName: fileName).list())
                    ?? [YAMLValue(node: valueNode, keyPath: keyPath, fileName: fileName)]
                for source in sources {
                    guard case .mapping = source.node else {
                        throw source.error(.typeMismatch, "a merge key '<<' must refer to a mapping, found \(source.found)")
                    }
                    try source.collectEntries(into: &merged)
                }
                continue
            }
            guard case let .scalar(scalar) = keyNode, !keyValue.isNull else {
                throw keyValue.error(.typeMismatch, "expected a plain key, found \(keyValue.found) as a key")
            }
            let key = scalar.string
            let path = keyPath.isEmpty ? key : keyPath + "." + key
            entries.append(YAMLMapping.Entry(
                key: key, keyLine: keyNode.mark?.line, keyColumn: keyNode.mark?.column,
                value: YAMLValue(node: valueNode, keyPath: path, fileName: fileName)))
        }
        for entry in merged where !entries.contains(where: { $0.key == entry.key }) {
            let path = keyPath.isEmpty ? entry.key : keyPath + "." + entry.key
            entries.append(YAMLMapping.Entry(
                key: entry.key, keyLine: entry.keyLine, keyColumn: entry.keyColumn,
                value: YAMLValue(node: entry.value.node, keyPath: path, fileName: fileName)))
        }
    }
}

/// A YAML mapping whose keys have already been checked against the schema; values keep their key paths.
public struct YAMLMapping {
    /// One key/value pair, in file order.
    public struct Entry {
        /// The key text.
        public let key: String
        /// 1-based line of the key.
        public let keyLine: Int?
        /// 1-based column of the key.
        public let keyColumn: Int?
        /// The value, with key path `parent.key`.
        public let value: YAMLValue
    }

    /// The mapping node itself (for errors about the mapping as a whole, such as a missing field).
    public let value: YAMLValue
    /// The pairs in file order (merged pairs last).
    public let entries: [Entry]

    /// The value for `key`, or nil when the key is absent. A present but empty value is returned as a null value.
    public func optional(_ key: String) -> YAMLValue? {
        entries.first { $0.key == key }?.value
    }

    /// The value for `key`; a `missingField` error at the mapping when absent.
    public func required(_ key: String, hint: String? = nil) throws -> YAMLValue {
        guard let found = optional(key) else {
            throw value.error(.missingField, "missing required field '\(key)'", hint: hint)
        }
        return found
    }

    /// `read(value)` when `key` is present, otherwise `defaultValue`.
    public func get<T>(_ key: String, default defaultValue: @autoclosure () -> T,
                       _ read: (YAMLValue) throws -> T) throws -> T {
        guard let found = optional(key) else { return defaultValue() }
        return try read(found)
    }

    /// True when `key` is present.
    public func contains(_ key: String) -> Bool { optional(key) != nil }
}
