// The `aecnn` command tree. Each subcommand is a thin layer over the library modules.

import ArgumentParser
import BuildStamp
import Foundation

public enum AECNNMain {
    public static func main() async {
        CPURequirement.checkBeforeAnyWork()
        BLASCoreSelection.applyBeforeAnyWork()
        do {
            var command = try AECNN.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand { try await asyncCommand.run() } else { try command.run() }
        } catch {
            exit(reporting: error)
        }
    }

    /// Exit codes: 0 (including --help), 1 for a failure while running, 2 for a command line that does not
    /// parse or validate (ArgumentParser's own convention is 64, which scripts rarely expect).
    static func exit(reporting error: Error) -> Never {
        let code = AECNN.exitCode(for: error)
        let message = AECNN.fullMessage(for: error)
        if code == .success {
            if !message.isEmpty { print(message) }
            Foundation.exit(0)
        }
        if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
    }
}

struct AECNN: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aecnn",
        abstract: "Device–edge co-inference with attention-based feature compression (AECNN) and its baselines.",
        version: BuildInfo.description,
        subcommands: [Stage.self, Run.self, Status.self, Submit.self, Report.self, Profile.self, PlanCommand.self, Serve.self, Offload.self, BenchServer.self, Encode.self, Decode.self, Bench.self, BenchCoders.self, ExportFeatures.self])
}
