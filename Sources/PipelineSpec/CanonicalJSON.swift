// canonicalJSON: deterministic JSON for content hashing. The same settings always give the same bytes
// (keys sorted at every level, no whitespace, slashes unescaped), so a hash of it detects stale stages.
// It is not a general-purpose serializer: the output is for hashing and manifests, not for editing.

import Foundation

/// Deterministic JSON of `value`: keys sorted at every level, no insignificant whitespace.
///
/// Hash `Array(json.utf8)` to fingerprint settings. Non-finite doubles cannot be encoded and throw
/// `EncodingError` (the pipeline parser never produces them).
public func canonicalJSON<T: Encodable>(of value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    return String(decoding: data, as: UTF8.self)
}
