// swift-tools-version:6.0
// aecnn: device–edge co-inference with attention-based feature compression (AECNN) and its baselines.
import PackageDescription

/// Hot numeric targets drop overflow and bounds checks in release builds only; their fast paths are
/// compared with naive references in the tests, which run in debug with every check on. They are compiled
/// for Haswell-class x86-64 (AVX2, FMA, BMI): 256-bit vector loops instead of SSE's 128-bit ones. `aecnn`
/// checks the CPU at start-up (CPURequirement) and refuses an older one with a message instead of SIGILL.
/// Swift does not contract a·b + c into FMA, so results are the same bits as with SSE code.
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release))]

let package = Package(
    name: "aecnn",
    products: [
        .executable(name: "aecnn", targets: ["aecnn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // Already in the graph through hummingbird (swift-nio-extras, swift-certificates); Checkpoint hashes with its SHA256.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"6.0.0"),
    ],
    targets: [
        // C libraries: module maps only.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),


        // Arrows point down this list only; each target lists exactly the modules it imports.
        .target(name: "TensorCore", dependencies: ["CBLAS"], swiftSettings: kernelFlags),
        .target(name: "Autograd", dependencies: ["TensorCore", "CDNNL"], swiftSettings: kernelFlags),
        .target(name: "NN", dependencies: ["Autograd", "TensorCore"], swiftSettings: kernelFlags),
        .target(name: "Models", dependencies: ["NN", "Autograd", "TensorCore"]),
        .target(name: "FeatureCoding", dependencies: ["CZstd", "CZlib", "CTurboJPEG"], swiftSettings: kernelFlags),
        .target(name: "Methods", dependencies: ["Models", "NN", "Autograd", "TensorCore", "FeatureCoding"]),
        .target(name: "Datasets", dependencies: ["TensorCore", "CZlib", "CTurboJPEG", "CPNG"], swiftSettings: kernelFlags),
        .target(name: "Checkpoint", dependencies: ["TensorCore", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "PipelineSpec", dependencies: [.product(name: "Yams", package: "Yams")]),
        // SVG line and scatter plots (the report's and the planner's figures).
        .target(name: "Plots"),
        // Co-inference without the trainer: the feature link, deployed models, profiler and planner.
        .target(name: "CoInference", dependencies: [
            "TensorCore", "Autograd", "Models", "Methods", "Datasets", "Checkpoint", "FeatureCoding", "PipelineSpec", "Plots", "CPNG",
        ]),
        // The stage graph, the stages, the trainer and the report.
        .target(name: "Pipeline", dependencies: [
            "TensorCore", "Autograd", "NN", "Models", "Methods", "Datasets", "Checkpoint", "FeatureCoding", "PipelineSpec", "Plots", "CoInference",
        ]),
        // The edge server: depends on CoInference, not on Pipeline.
        .target(name: "EdgeServer", dependencies: [
            "CoInference", "Methods", "Models", "Datasets", "FeatureCoding", "Autograd", "TensorCore",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        // The git commit of this build (BuildInfo), stamped at build time by Plugins/VersionStamp.
        .plugin(name: "VersionStamp", capability: .buildTool()),
        .target(name: "BuildStamp", plugins: ["VersionStamp"]),
        .target(name: "AECNNCommands", dependencies: [
            "EdgeServer", "BuildStamp", "CoInference", "Pipeline", "PipelineSpec", "Models", "Methods", "NN", "Autograd", "TensorCore",
            "Datasets", "Checkpoint", "FeatureCoding",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "aecnn", dependencies: ["AECNNCommands"]),

        .target(name: "_TestSupport", dependencies: ["TensorCore", "Autograd"], path: "Tests/_TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "_TestSupport"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "NN", "TensorCore", "_TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Autograd", "TensorCore", "_TestSupport"]),
        .testTarget(name: "MethodsTests", dependencies: ["Methods", "FeatureCoding", "Models", "NN", "Autograd", "TensorCore", "_TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TensorCore", "FeatureCoding", "Pipeline", "CoInference", "PipelineSpec", "CZlib", "_TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TensorCore", "_TestSupport"]),
        .testTarget(name: "FeatureCodingTests", dependencies: ["FeatureCoding"]),
        .testTarget(name: "PipelineSpecTests", dependencies: ["PipelineSpec"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "CoInference", "Plots", "Autograd", "AECNNCommands", "EdgeServer", "FeatureCoding", "PipelineSpec", "Checkpoint", "Datasets", "Models", "Methods", "TensorCore", "BuildStamp", "_TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
