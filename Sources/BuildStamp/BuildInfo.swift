// What this build of aecnn is: the package version (set here by hand at each release) and the git commit it
// was built from, stamped by the VersionStamp plugin (Plugins/VersionStamp) into the generated BuildVersion.
// For `aecnn --version` and for reports that should say which program wrote them.

/// The version and commit of this build.
public enum BuildInfo {
    /// The package version, e.g. "0.9.0".
    public static let version = "0.9.0"
    /// The first 12 hex digits of the commit built, or "unknown" when built outside its git repository.
    public static let commit: String = BuildVersion.commit
    /// Tracked files differed from `commit` when it was built.
    public static let dirty: Bool = BuildVersion.dirty
    /// "aecnn 0.9.0 (commit 1a2b3c4d5e6f)", with "+dirty" after the commit when `dirty`.
    public static var description: String { "aecnn \(version) (commit \(commit)\(dirty ? "+dirty" : ""))" }
}
