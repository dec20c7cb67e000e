// The `aecnn` command tree. Each subcommand is a thin layer over the library modules.

import ArgumentParser
import Foundation

public enum AECNNMain {
    public static func main() async {
        CPURequirement.checkBeforeAnyWork()
        BLASCoreSelection.applyBeforeAnyWork()
        await AECNN.main()
    }
}

struct AECNN: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aecnn",
        abstract: "Device–edge co-inference with attention-based feature compression (AECNN) and its baselines.",
        subcommands: [Stage.self, Run.self, Status.self, Report.self, Profile.self, PlanCommand.self, Serve.self, Offload.self, BenchServer.self, Encode.self, Decode.self, Bench.self, BenchCoders.self, ExportFeatures.self])
}
