// A build-tool plugin that stamps the git commit the package is built from into the target it is applied
// to, as a generated `BuildVersion.swift`: `enum BuildVersion { static let commit: String; static let dirty: Bool }`.
//
// commit is `git rev-parse --short=12 HEAD` of the package's own repository; "unknown" when git, the
// repository or HEAD is missing (a tarball, an export, a package unpacked inside another project's
// repository). dirty is true when tracked files differ from HEAD (`git status`, untracked files ignored).
//
// Why a build command and not a prebuild command: SwiftPM's native build system runs prebuild commands
// only when it re-plans the build (Package.swift, Package.resolved or a target's list of files changed),
// not on every incremental build (swift-package-manager issue #5476; `BuildPlan.inputs`), so a prebuild
// stamp kept the previous commit after `git commit` + `swift build`. A build command instead reruns
// whenever one of its inputs changes: git's HEAD, index and HEAD reflog (every commit, checkout, reset,
// add), Package.swift and every source file of the package's targets (an edit can make the tree dirty).
// A tracked file outside the targets (docs, scripts) edited on its own restamps on the next change of one
// of those inputs. The generated file is rewritten only when its text changes, so a rerun with the same
// result recompiles nothing. If `.git` is deleted after a build, the next build reports missing inputs
// until the plan is redone (`touch Package.swift`).
//
// It does not compute a version number: the version is a constant in the target's own source.

import Foundation
import PackagePlugin

@main
struct VersionStamp: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let generated = context.pluginWorkDirectoryURL.appending(path: "Generated")
        var inputs = [package.appending(path: "Package.swift")]
        for case let t as SourceModuleTarget in context.package.targets { inputs += t.sourceFiles.map(\.url) }
        if let git = Self.gitDirectory(of: package) {
            inputs += ["HEAD", "index", "logs/HEAD"].map { git.appending(path: $0) }
        }
        // A missing input is a build error, not a reason to rerun: list only what exists now.
        inputs = inputs.filter { FileManager.default.fileExists(atPath: $0.path) }
        return [
            .buildCommand(
                displayName: "VersionStamp: git commit of \(context.package.displayName) into BuildVersion.swift",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", Self.script, "version-stamp", package.path, generated.path, context.pluginWorkDirectoryURL.path],
                inputFiles: inputs,
                outputFiles: [generated.appending(path: "BuildVersion.swift")]),
        ]
    }

    /// The directory holding HEAD and index: `.git` itself, or where a worktree's or submodule's `.git`
    /// file points ("gitdir: PATH"); nil without one.
    static func gitDirectory(of package: URL) -> URL? {
        let dotGit = package.appending(path: ".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue { return dotGit }
        guard let text = try? String(contentsOf: dotGit, encoding: .utf8), text.hasPrefix("gitdir:") else { return nil }
        let path = text.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespacesAndNewlines)
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : package.appending(path: path)
    }

    /// `$1` package directory, `$2` output directory (only BuildVersion.swift goes there: SwiftPM compiles
    /// what the command declares), `$3` scratch directory for the temporary file. Any git failure leaves
    /// commit=unknown and dirty=false; only a failure to write the file fails the build.
    static let script = #"""
    pkg=$1; out=$2; scratch=$3
    commit=unknown; dirty=false
    if command -v git >/dev/null 2>&1; then
        top=$(git -C "$pkg" rev-parse --show-toplevel 2>/dev/null)
        # The package's own repository only, not one it happens to be unpacked inside.
        if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$pkg" && pwd -P)" ]; then
            head=$(git -C "$pkg" rev-parse --short=12 HEAD 2>/dev/null)
            case $head in
                *[!0-9a-f]*) ;;
                ????????????) commit=$head ;;
            esac
            # --no-optional-locks: never take index.lock, so a concurrent git command is not disturbed.
            if [ "$commit" != unknown ] && [ -n "$(git --no-optional-locks -C "$pkg" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
                dirty=true
            fi
        fi
    fi
    mkdir -p "$out" "$scratch" || exit 1
    tmp="$scratch/BuildVersion.swift.tmp"
    {
        echo '// Generated by the VersionStamp plugin (Plugins/VersionStamp) at build time; not in the repository.'
        echo 'enum BuildVersion {'
        echo "    static let commit = \"$commit\""
        echo "    static let dirty = $dirty"
        echo '}'
    } > "$tmp" || exit 1
    if cmp -s "$tmp" "$out/BuildVersion.swift"; then rm -f "$tmp"; else mv -f "$tmp" "$out/BuildVersion.swift"; fi
    """#
}
