// Which settings differ between two canonical JSON texts, as "training.epochs: 3 → 4" lines (what
// `aecnn status` says about a stale instance).

import Foundation

enum SettingsDiff {
    /// Leaf values by dotted path ("training.optimizer.lr"); arrays are leaves.
    static func leaves(_ value: Any, _ path: String = "", into out: inout [String: String]) {
        if let object = value as? [String: Any] {
            for (k, v) in object { leaves(v, path.isEmpty ? k : path + "." + k, into: &out) }
        } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            out[path] = String(decoding: data, as: UTF8.self)
        }
    }

    static func changes(from old: String, to new: String) -> [String] {
        guard let a = try? JSONSerialization.jsonObject(with: Data(old.utf8), options: [.fragmentsAllowed]),
              let b = try? JSONSerialization.jsonObject(with: Data(new.utf8), options: [.fragmentsAllowed]) else { return [] }
        var x: [String: String] = [:], y: [String: String] = [:]
        leaves(a, into: &x)
        leaves(b, into: &y)
        return Set(x.keys).union(y.keys).sorted().compactMap { k in
            x[k] == y[k] ? nil : "\(k): \(x[k] ?? "absent") → \(y[k] ?? "absent")"
        }
    }
}
