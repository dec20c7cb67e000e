// Channel attention, ranking, pruning and feature recovery.

import XCTest
import TensorCore
import Autograd
import NN
import Models
import Methods
import _TestSupport

final class AECNNComponentTests: XCTestCase {
    var rng = RNG(seed: 11)

    func input(_ shape: [Int]) -> Variable { Variable(Tensor.randomNormal(shape, std: 1, rng: &rng)) }

    func testAttentionMatchesTheEquations() {
        let x = input([2, 5, 3, 4])
        let q = GradMode.withoutGrad { ChannelAttention(eps: 1e-5).attention(x).value }
        for n in 0..<2 {
            var avg = [Double](), mx = [Double]()
            for c in 0..<5 {
                let p = (0..<12).map { Double(x.value[(n * 5 + c) * 12 + $0]) }
                avg.append(p.reduce(0, +) / 12); mx.append(p.max()!)
            }
            func norm(_ v: [Double]) -> [Double] {
                let m = v.reduce(0, +) / Double(v.count)
                let s = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count) + 1e-5).squareRoot()
                return v.map { ($0 - m) / s }
            }
            let a = norm(avg), b = norm(mx)
            for c in 0..<5 { XCTAssertEqual(Double(q[n * 5 + c]), 1 / (1 + exp(-(a[c] + b[c]))), accuracy: 1e-5) }
        }
    }

    func testAttentionGradient() {
        let x = Variable(Tensor.randomNormal([2, 4, 3, 3], std: 1, rng: &rng), requiresGrad: true)
        let r = gradCheck([x]) { v in ChannelAttention()(v[0]) }
        XCTAssertLessThan(r.worst, 2e-2, r.description)
    }

    func testRanking() {
        XCTAssertEqual(ChannelRanking.order(importance: [0.2, 0.9, 0.5, 0.9]), [1, 3, 2, 0])
        XCTAssertEqual(ChannelRanking.kept(order: [1, 3, 2, 0], ratio: 2), [1, 3])
        XCTAssertEqual(ChannelRanking.keptCount(channels: 16, ratio: 16), 1)
        XCTAssertEqual(ChannelRanking.keptCount(channels: 16, ratio: 64), 1)
        XCTAssertEqual(ChannelRanking.spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1, accuracy: 1e-12)
        XCTAssertEqual(ChannelRanking.spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, accuracy: 1e-12)
    }

    /// For each kind of split unit (stem, identity-shortcut block, projection block), the pruned device half
    /// computes exactly the kept channels of the original.
    func testPrunedDeviceComputesTheKeptChannels() throws {
        for split in ["stem", "block2", "block4", "block7"] {
            let original = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.5, seed: 3)
            let pruned = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.5, seed: 3)
            original.setTraining(false); pruned.setTraining(false)
            let channels = try Pruning.outputChannels(of: original.unit(split)!, split: split)
            let keep = Array(stride(from: 1, to: channels, by: 3))
            try Pruning.prune(pruned, split: split, keep: keep)
            let x = input([2, 1, 12, 12])
            let full = GradMode.withoutGrad { try! original.forwardDevice(x, split: split) }
            let sent = GradMode.withoutGrad { try! pruned.forwardDevice(x, split: split) }
            let expected = GradMode.withoutGrad { gatherChannels(full, keep) }
            XCTAssertEqual(sent.shape, expected.shape, split)
            XCTAssertLessThan(closeness(sent.value, expected.value, atol: 1e-5), 1, split)

            let a = try CoInferenceModel(base: original, split: split, bridge: nil)
            let b = try CoInferenceModel(base: pruned, split: split, bridge: ZeroFill(kept: keep, channels: channels))
            let fa = a.deviceFLOPs(inputShape: [1, 12, 12]), fb = b.deviceFLOPs(inputShape: [1, 12, 12])
            if split == "stem" || split == "block4" { XCTAssertLessThan(fb, fa, "\(split): fewer filters, fewer FLOPs") }
            else { XCTAssertLessThanOrEqual(fb, fa, split) }
        }
    }

    /// The L1 control ranking: for every kind of split unit, the norms are Σ|W[j, c, u, v]| of the filters of
    /// the named tensor (summed here index by index), that tensor is the stem's conv, an identity block's last
    /// conv, or a projection block's shortcut conv (Li et al. §3.5), and pruning removes exactly the filters
    /// not kept (the pruned unit's norms are the kept entries).
    func testL1FilterNormsMatchANaiveSum() throws {
        let expectedWeight = ["stem": "stem.conv.weight", "block2": "block2.conv2.weight", "block4": "block4.shortcut.0.weight"]
        for split in ["stem", "block2", "block4"] {
            let model = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.5, seed: 5)
            let unit = try XCTUnwrap(model.unit(split))
            let (norms, weight) = try Pruning.filterL1Norms(of: unit, split: split)
            XCTAssertEqual(weight, expectedWeight[split], split)
            let tensors = Dictionary(uniqueKeysWithValues: model.stateTensors())
            let w = try XCTUnwrap(tensors[weight], "\(weight) is a tensor of the model")
            let (f, c, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
            XCTAssertEqual(f, try Pruning.outputChannels(of: unit, split: split), split)
            var naive = [Double](repeating: 0, count: f)
            for j in 0..<f { for i in 0..<c { for u in 0..<kh { for v in 0..<kw {
                naive[j] += Double(abs(w[((j * c + i) * kh + u) * kw + v]))
            } } } }
            for j in 0..<f { XCTAssertEqual(norms[j], naive[j], accuracy: 1e-9 * naive[j], "\(split) filter \(j)") }
            XCTAssertEqual(Set(norms).count, f, "\(split): distinct norms, so the order is decided by them")
            let keep = ChannelRanking.kept(order: ChannelRanking.order(importance: norms), ratio: 2)
            try Pruning.prune(model, split: split, keep: keep)
            XCTAssertEqual(try Pruning.filterL1Norms(of: unit, split: split).norms, keep.map { norms[$0] }, split)
        }
    }

    func testZeroFillEdgeEqualsMaskedFeatures() throws {
        let base = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.5, seed: 1)
        let pruned = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.5, seed: 1)
        base.setTraining(false); pruned.setTraining(false)
        let keep = [0, 2, 5]
        try Pruning.prune(pruned, split: "stem", keep: keep)
        let model = try CoInferenceModel(base: pruned, split: "stem", bridge: ZeroFill(kept: keep, channels: 8))
        let x = input([2, 1, 10, 10])
        let y = GradMode.withoutGrad { model(x).value }
        let mask = Tensor(zeros: [2, 8])
        for n in 0..<2 { for c in keep { mask[n * 8 + c] = 1 } }
        let ref = GradMode.withoutGrad { try! base.forwardEdge(mulChannels(try! base.forwardDevice(x, split: "stem"), Variable(mask)), split: "stem").value }
        XCTAssertLessThan(closeness(y, ref, atol: 1e-5), 1)
    }

    func testRecoveryBridgeKeepsReceivedChannelsAndTrains() {
        let bridge = RecoveryBridge(kept: [1, 4], channels: 6, architecture: RecoveryArchitecture(layers: 2, hidden: 5), seed: 2)
        let x = Variable(Tensor.randomNormal([3, 2, 4, 5], std: 1, rng: &rng), requiresGrad: true)
        let y = bridge(x)
        XCTAssertEqual(y.shape, [3, 6, 4, 5])
        for n in 0..<3 { for (j, c) in [1, 4].enumerated() { for i in 0..<20 {
            XCTAssertEqual(y.value[(n * 6 + c) * 20 + i], x.value[(n * 2 + j) * 20 + i])
        } } }
        sum(y * y).backward()
        XCTAssertNotNil(x.grad)
        XCTAssertTrue(bridge.namedParameters().allSatisfy { $0.1.grad != nil }, "every recovery parameter gets a gradient")
        XCTAssertEqual(bridge.namedParameters().map { $0.0 }.first, "recovery.conv1.weight")
    }

    func testPruningRejectsBadChannelLists() {
        let m = ResNet(.resnet20, inputChannels: 1, classes: 10, width: 0.25, seed: 0)
        XCTAssertThrowsError(try Pruning.prune(m, split: "stem", keep: []))
        XCTAssertThrowsError(try Pruning.prune(m, split: "stem", keep: [2, 1]))
        XCTAssertThrowsError(try Pruning.prune(m, split: "stem", keep: [0, 99]))
        XCTAssertThrowsError(try Pruning.prune(m, split: "head", keep: [0]))
    }
}

import FeatureCoding

final class BottleNetTests: XCTestCase {
    func testTilingIsNearSquareAndInvertible() {
        XCTAssertEqual(JPEGCodec.grid(1).columns * JPEGCodec.grid(1).rows, 1)
        XCTAssertTrue(JPEGCodec.grid(8) == (4, 2))
        XCTAssertTrue(JPEGCodec.grid(16) == (4, 4))
        XCTAssertTrue(JPEGCodec.grid(2) == (2, 1))
        let g = JPEGCodec.grid(5)
        XCTAssertGreaterThanOrEqual(g.columns * g.rows, 5)
        for count in [1, 2, 3, 5, 8] {
            let planes = (0..<(count * 3 * 5)).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
            let t = JPEGCodec.tile(planes, count: count, height: 3, width: 5)
            XCTAssertEqual(JPEGCodec.untile(t.image, count: count, height: 3, width: 5), planes)
        }
    }

    func testJPEGRoundTripIsCloseAndSizedByQuality() throws {
        var img = [UInt8](repeating: 0, count: 32 * 24)
        for y in 0..<24 { for x in 0..<32 { img[y * 32 + x] = UInt8(min(255, x * 6 + y * 3)) } }
        let high = try JPEGCodec.encode(grey: img, width: 32, height: 24, quality: 95)
        let low = try JPEGCodec.encode(grey: img, width: 32, height: 24, quality: 10)
        XCTAssertLessThan(low.count, high.count)
        let back = try JPEGCodec.decode(high, width: 32, height: 24)
        let err = zip(back, img).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(err, 6)
        XCTAssertThrowsError(try JPEGCodec.decode(Array(high.prefix(20)), width: 32, height: 24))
        XCTAssertThrowsError(try JPEGCodec.decode(high, width: 16, height: 24)) { XCTAssertTrue("\($0)".contains("expected 16×24")) }
        XCTAssertThrowsError(try JPEGCodec.encode(grey: img, width: 32, height: 24, quality: 0))
    }

    func testBridgeCodesRealJPEGWithStraightThroughGradientAndCountsBytes() throws {
        let bridge = BottleNetBridge(channels: 4, reduced: 2, stride: 2, quality: 50, seed: 3)
        var rng = RNG(seed: 4)
        let x = Variable(Tensor.randomUniform([3, 4, 8, 8], lo: 0, hi: 1, rng: &rng), requiresGrad: true)
        let y = bridge(x)
        XCTAssertEqual(y.shape, [3, 4, 8, 8])
        sum(y).backward()
        XCTAssertNotNil(x.grad)
        XCTAssertGreaterThan(x.grad!.array.map(abs).max()!, 0, "gradient flows through the JPEG pair")
        bridge.setTraining(false)
        bridge.resetCounters()
        _ = GradMode.withoutGrad { bridge(x) }
        XCTAssertEqual(bridge.imagesSent, 3)
        XCTAssertGreaterThan(bridge.bytesSent, 3 * (8 + 100))   // a JPEG header alone is over 100 bytes
        // The coded values are the quantised ones up to JPEG error: compress → decompress of one image.
        let z = GradMode.withoutGrad { bridge.reduceFeatures(x) }.value
        let per = 2 * 4 * 4
        let one = Array(z.array.prefix(per))
        let (jpeg, lo, hi) = try bridge.compress(ArraySlice(one), height: 4, width: 4)
        let back = try bridge.decompress(jpeg, lo: lo, hi: hi, height: 4, width: 4)
        let step = (hi - lo) / 255
        XCTAssertLessThan(zip(back, one).map { abs($0 - $1) }.max()!, max(step * 40, 1e-6))
    }
}
