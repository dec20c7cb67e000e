// Reads the real Fashion-MNIST from the Debian package when it is installed; skipped otherwise.
// Every other test makes its own tiny files.

import Datasets
import Foundation
import TensorCore
import XCTest

final class FashionMNISTInstalledTests: XCTestCase {
    func testInstalledFashionMNIST() throws {
        let dir = FashionMNIST.defaultDirectory
        let images = (dir as NSString).appendingPathComponent("train-images-idx3-ubyte.gz")
        guard FileManager.default.fileExists(atPath: images) else {
            throw XCTSkip("\(dir) not installed (apt-get install dataset-fashion-mnist)")
        }
        let train = try FashionMNIST.load(split: .train)
        let test = try FashionMNIST.load(split: .test)
        XCTAssertEqual(train.count, 60000)
        XCTAssertEqual(test.count, 10000)
        XCTAssertEqual([train.channels, train.height, train.width], [1, 28, 28])
        XCTAssertEqual(train.classHistogram(), Array(repeating: 6000, count: 10))
        XCTAssertEqual(test.classHistogram(), Array(repeating: 1000, count: 10))
        let stats = try Normalization.computed(from: train)
        XCTAssertEqual(stats.mean[0], FashionMNIST.normalization.mean[0], accuracy: 5e-5)
        XCTAssertEqual(stats.std[0], FashionMNIST.normalization.std[0], accuracy: 5e-5)
    }
}
