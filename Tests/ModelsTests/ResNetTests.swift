// ResNet definitions: parameter counts against PyTorch's, split points and their shapes, the device and edge
// halves composing to the whole network, and FLOP counts against the analytic formula.

import XCTest
import TensorCore
import Autograd
import NN
import Models
import _TestSupport

final class ResNetTests: XCTestCase {
    func testParameterCountsMatchPyTorch() {
        // resnet_fm.py prints 272,186 for ResNet-20-FM; torchvision's resnet18/resnet50 with 1000 classes.
        XCTAssertEqual(ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 0).parameterCount, 272_186)
        XCTAssertEqual(ResNet(.resnet18, inputChannels: 3, classes: 1000, seed: 0).parameterCount, 11_689_512)
        XCTAssertEqual(ResNet(.resnet50, inputChannels: 3, classes: 1000, seed: 0).parameterCount, 25_557_032)
        // CIFAR ResNet-32/56 (He et al. Table 6: 0.46M, 0.85M).
        XCTAssertEqual(ResNet(.resnet32, inputChannels: 3, classes: 10, seed: 0).parameterCount, 466_906)
        XCTAssertEqual(ResNet(.resnet56, inputChannels: 3, classes: 10, seed: 0).parameterCount, 855_770)
    }

    func testSplitPointsAndShapes() throws {
        let m = ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 0)
        XCTAssertEqual(m.splitPoints, ["stem"] + (1...9).map { "block\($0)" })
        let report = m.splitReport(inputShape: [1, 28, 28])
        XCTAssertEqual(report.first { $0.split == "stem" }?.shape, [16, 28, 28])
        XCTAssertEqual(report.first { $0.split == "block3" }?.shape, [16, 28, 28])
        XCTAssertEqual(report.first { $0.split == "block4" }?.shape, [32, 14, 14])
        XCTAssertEqual(report.first { $0.split == "block9" }?.shape, [64, 7, 7])
        XCTAssertThrowsError(try m.forwardDevice(Variable(Tensor(zeros: [1, 1, 28, 28])), split: "head"))
        XCTAssertThrowsError(try m.unitIndex(of: "block10")) { XCTAssertTrue("\($0)".contains("stem")) }

        let r50 = ResNet(.resnet50, inputChannels: 3, classes: 101, seed: 0)
        let rep50 = r50.splitReport(inputShape: [3, 64, 64])
        XCTAssertEqual(rep50.first?.shape, [64, 16, 16])        // after the stem (224 input: 64×56×56)
        XCTAssertEqual(rep50[1].shape, [256, 16, 16])           // after the first bottleneck
        XCTAssertEqual(rep50.count, 17)
    }

    func testDeviceThenEdgeEqualsWholeNetwork() throws {
        let m = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.5, seed: 4)
        m.setTraining(false)
        var rng = RNG(seed: 1)
        let x = Variable(Tensor.randomNormal([3, 1, 16, 16], std: 1, rng: &rng))
        let whole = GradMode.withoutGrad { m(x).value }
        for split in m.splitPoints {
            let y = try GradMode.withoutGrad { try m.forwardEdge(try m.forwardDevice(x, split: split), split: split).value }
            XCTAssertTrue(y.bitwiseEqual(whole), split)
        }
    }

    func testDeviceFLOPsMatchTheAnalyticCount() {
        let m = ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 0)
        let report = m.splitReport(inputShape: [1, 28, 28])
        // stem: 2·(16·1·9)·784
        XCTAssertEqual(report[0].deviceFLOPs, 2 * 16 * 9 * 784)
        // block1 adds two 16→16 3×3 convolutions at 28×28.
        XCTAssertEqual(report[1].deviceFLOPs - report[0].deviceFLOPs, 2 * 2 * 16 * 16 * 9 * 784)
        // The whole network: 62.04 MFLOP (resnet_fm.py's "62 MFLOP" counts the same conv and linear MACs).
        let total = FlopCounter.measure { _ = GradMode.withoutGrad { m(Variable(Tensor(zeros: [1, 1, 28, 28]))) } }
        XCTAssertEqual(total, 62_043_904)
    }

    func testWidthMultiplier() {
        let m = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.25, seed: 0)
        XCTAssertEqual(m.splitReport(inputShape: [1, 8, 8]).first?.shape, [4, 8, 8])
    }

    func testSameSeedSameWeights() {
        let a = ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 5).stateTensors()
        let b = ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 5).stateTensors()
        let c = ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 6).stateTensors()
        XCTAssertTrue(zip(a, b).allSatisfy { $0.1.bitwiseEqual($1.1) })
        XCTAssertFalse(zip(a, c).allSatisfy { $0.1.bitwiseEqual($1.1) })
        XCTAssertEqual(a.map { $0.0 }.prefix(3), ["stem.conv.weight", "stem.bn.weight", "stem.bn.bias"])
    }

    func testLoadStateRejectsAnotherArchitecture() {
        let a = ResNet(.resnet20, inputChannels: 1, classes: 10, seed: 0)
        let b = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.5, seed: 0)
        let tensors = Dictionary(uniqueKeysWithValues: b.stateTensors())
        XCTAssertThrowsError(try a.loadState(tensors)) { XCTAssertTrue("\($0)".contains("stem.conv.weight"), "\($0)") }
    }
}
