// The start-up policy that picks OpenBLAS's kernel family (Sources/AECNNCommands/BLASCoreSelection.swift).

import XCTest
@testable import AECNNCommands

final class BLASCoreSelectionTests: XCTestCase {
    private func decide(_ policy: String?, current: String?, detected: String, avx512: Bool) -> String? {
        BLASCoreSelection.decide(policy: policy, current: current, detected: detected, hasAVX512: avx512).core
    }

    func testAutoUpgradesAnOldFamilyOnAnAVX512CPU() {
        // Forced by the environment.
        XCTAssertEqual(decide(nil, current: "Haswell", detected: "Haswell", avx512: true), "SkylakeX")
        // Chosen by OpenBLAS itself because it does not know the CPU model (Emerald Rapids → Prescott).
        XCTAssertEqual(decide(nil, current: nil, detected: "Prescott", avx512: true), "SkylakeX")
        XCTAssertEqual(decide("auto", current: nil, detected: "Prescott", avx512: true), "SkylakeX")
    }

    func testAutoLeavesAVX512FamiliesAndNonAVX512CPUsAlone() {
        XCTAssertNil(decide(nil, current: nil, detected: "SkylakeX", avx512: true))
        XCTAssertNil(decide(nil, current: nil, detected: "Cooperlake", avx512: true))
        XCTAssertNil(decide(nil, current: "SapphireRapids", detected: "Cooperlake", avx512: true))
        XCTAssertNil(decide(nil, current: nil, detected: "Zen", avx512: false))
        XCTAssertNil(decide(nil, current: "Haswell", detected: "Haswell", avx512: false))
    }

    func testExplicitPolicies() {
        XCTAssertNil(decide("keep", current: nil, detected: "Prescott", avx512: true))
        XCTAssertEqual(decide("Haswell", current: nil, detected: "SkylakeX", avx512: true), "Haswell")
        XCTAssertNil(decide("Haswell", current: "Haswell", detected: "Haswell", avx512: true))
        // An AVX-512 family on a CPU without it is refused with a warning instead of dying of SIGILL.
        let refused = BLASCoreSelection.decide(policy: "SkylakeX", current: nil, detected: "Zen", hasAVX512: false)
        XCTAssertNil(refused.core)
        XCTAssertNotNil(refused.warning)
    }
}

final class CPURequirementTests: XCTestCase {
    func testMissingFlagsAreNamed() {
        let haswell = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c bmi1 bmi2 movbe popcnt abm\n"
        XCTAssertEqual(CPURequirement.missing(cpuinfo: haswell), [])
        let sandy = "flags\t\t: fpu sse2 avx popcnt\n"
        XCTAssertEqual(CPURequirement.missing(cpuinfo: sandy), ["avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "abm"])
        XCTAssertEqual(CPURequirement.missing(cpuinfo: "Processor: ARMv8\n"), [])
    }
}
