// Errors a user can cause while running a stage, each naming the file or stage and the fix.

public enum StageError: Error, CustomStringConvertible {
    /// An input another stage produces does not exist yet.
    case missingInput(stage: String, path: String, runFirst: String)
    /// An input is missing or not up to date: `first` is the first instance upstream that can run now, `target`
    /// the command that runs the instance with everything it needs; `state` the input's state when it has a
    /// result that cannot be used (stale, e.g. an unreadable result.json), nil when it has none.
    case missingUpstream(stage: String, path: String, first: String, target: String, state: String? = nil)
    /// Settings that cannot work together.
    case invalidSettings(String)
    /// Another process holds the lock of this instance (or folder): `holder` names its pid, host and start.
    case locked(path: String, holder: String)

    public var description: String {
        switch self {
        case .missingInput(let stage, let path, let first):
            return "stage \(stage) needs \(path), which does not exist yet: run `aecnn stage \(first)` first (or `aecnn run`)"
        case .missingUpstream(let stage, let path, let first, let target, let state):
            return "stage \(stage) needs \(path), which \(state.map { "is not usable: \($0)" } ?? "does not exist yet"): run `aecnn stage \(first)` first, or everything it needs at once with `\(target) --with-upstream` (or `aecnn run`)"
        case .invalidSettings(let s):
            return s
        case .locked(let path, let holder):
            return "another aecnn process (\(holder)) is writing these outputs (lock \(path)); wait for it or stop it"
        }
    }
}
