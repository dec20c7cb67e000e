// The edge server as a user runs it: `aecnn serve` on a free port, frames from `aecnn encode` classified
// over HTTP exactly as `aecnn decode` classifies them locally; bad, unknown-model and oversized requests get
// 4xx JSON errors while the server keeps serving; /metrics counts them; the load test passes with malformed
// requests mixed in; SIGTERM ends the server cleanly.

import XCTest
import Foundation
import Glibc
import EdgeServer
import _TestSupport

final class EdgeServerTests: XCTestCase {
    /// Sends `bytes` on a fresh connection (half-closing it when `closeAfterSending`) and returns the
    /// status of the reply, waiting at most 10 s.
    static func rawStatus(_ host: String, _ port: UInt16, _ bytes: [UInt8], closeAfterSending: Bool = false) throws -> Int {
        try rawExchange(host, port, bytes, closeAfterSending: closeAfterSending).status
    }

    /// The status of the server's answer to `bytes`, and whether the server then closed the connection (read
    /// to its end within the 10 s receive timeout).
    static func rawExchange(_ host: String, _ port: UInt16, _ bytes: [UInt8], closeAfterSending: Bool = false, waitForClose: Bool = false) throws -> (status: Int, closed: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw NSError(domain: "connect", code: Int(errno)) }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
        if closeAfterSending { shutdown(fd, Int32(SHUT_WR)) }
        var reply: [UInt8] = [], buf = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: reply, as: UTF8.self).contains("\r\n") {
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if r <= 0 { break }
            reply += buf[0..<r]
        }
        let line = String(decoding: reply, as: UTF8.self).split(separator: " ")
        var closed = false
        while waitForClose {
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if r == 0 { closed = true }
            if r <= 0 { break }
        }
        return (line.count > 1 ? Int(line[1]) ?? -1 : -1, closed)
    }

    func testServeOffloadAndLoad() throws {
        guard let exe = KillResumeTests.executable() else { throw XCTSkip("aecnn executable not found next to the tests") }
        let root = makeTemporaryDirectory("serve")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try TinyDataset.write(to: root.appendingPathComponent("data"), train: 48, test: 24, side: 8)
        let yaml = TinyDataset.pipelineYAML(name: "srv", dataDirectory: data, epochs: 1,
                                            extra: EncodeFeaturesTests.stages(coding: "codecs: [arith-context], bits: [4], calibration_images: 32"))
        let file = root.appendingPathComponent("srv.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let ckpt = root.appendingPathComponent("ckpt").path
        func aecnn(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try runProcess(exe, args) }
        let pipeline = ["--pipeline", file.path, "--checkpoints", ckpt]
        XCTAssertEqual(try aecnn(["run"] + pipeline).status, 0)
        let frames = root.appendingPathComponent("frames")
        XCTAssertEqual(try aecnn(["encode"] + pipeline + ["--split", "stem", "--ratio", "2", "--bits", "4", "--out", frames.path, "--images", "4"]).status, 0)
        let local = try aecnn(["decode"] + pipeline + ["--split", "stem", "--ratio", "2", "--json"] + (0..<4).map { frames.appendingPathComponent(String(format: "test-%05d.aefc", $0)).path })
        let localClasses = local.out.split(separator: "\n").map { (try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["class"] as! Int }

        // Start the server on a free port and read the port from its first line.
        let server = Process()
        server.executableURL = exe
        server.arguments = ["serve"] + pipeline + ["--port", "0", "--max-body-bytes", "100000", "--body-timeout-seconds", "1"]
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.terminate() } }
        var line = ""
        let handle = out.fileHandleForReading
        let started = Date()
        while !line.contains("\n") && Date().timeIntervalSince(started) < 60 {
            let d = handle.availableData
            if d.isEmpty { break }
            line += String(decoding: d, as: UTF8.self)
        }
        guard let range = line.range(of: #"http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) else { return XCTFail("no address in: \(line)") }
        let url = String(line[range])

        XCTAssertEqual(try LinkClient.request(server: url, method: "GET", path: "/health").status, 200)
        let models = try LinkClient.request(server: url, method: "GET", path: "/v1/models")
        let listed = (try JSONSerialization.jsonObject(with: Data(models.body)) as! [String: Any])["models"] as! [[String: Any]]
        XCTAssertEqual(listed.count, 1)
        XCTAssertTrue((listed[0]["id"] as! String).hasPrefix("srv/stem/V2@"))
        for k in 0..<4 {
            let frame = try [UInt8](Data(contentsOf: frames.appendingPathComponent(String(format: "test-%05d.aefc", k))))
            let r = try LinkClient.request(server: url, method: "POST", path: "/v1/infer", body: frame)
            XCTAssertEqual(r.status, 200)
            let obj = try JSONSerialization.jsonObject(with: Data(r.body)) as! [String: Any]
            XCTAssertEqual(obj["class"] as? Int, localClasses[k], "the server classifies as decode does")
            let top = (obj["top5"] as! [[String: Any]]).map { $0["probability"] as! Double }
            XCTAssertTrue((1...5).contains(top.count))
            XCTAssertEqual(top, top.sorted(by: >))
            XCTAssertLessThanOrEqual(top.reduce(0, +), 1 + 1e-9)
        }
        let frame = try [UInt8](Data(contentsOf: frames.appendingPathComponent("test-00000.aefc")))
        var flipped = frame
        flipped[flipped.count / 2] ^= 0x10
        XCTAssertEqual(try LinkClient.request(server: url, method: "POST", path: "/v1/infer", body: flipped).status, 400)
        XCTAssertEqual(try LinkClient.request(server: url, method: "POST", path: "/v1/infer", body: Array(frame.prefix(10))).status, 400)
        XCTAssertEqual(try LinkClient.request(server: url, method: "POST", path: "/v1/infer", body: [UInt8](repeating: 7, count: 200_000)).status, 413)
        // A declared length over the limit gets 413 from the head, at once; a body that stops arriving gets 408
        // after the body timeout; a body cut short by the client's close gets 400, not 413.
        let (host, port) = try LinkClient.endpoint(url)
        let head = { (length: Int) in "POST /v1/infer HTTP/1.1\r\nHost: \(host)\r\nContent-Length: \(length)\r\n\r\n" }
        var t0 = Date()
        // The server then closes the connection rather than draining the declared terabyte.
        let refused = try Self.rawExchange(host, port, Array((head(1_000_000_000_000) + String(repeating: "x", count: 1000)).utf8), waitForClose: true)
        XCTAssertEqual(refused.status, 413)
        XCTAssertTrue(refused.closed, "after a 413 the connection is closed, not drained")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2)
        t0 = Date()
        XCTAssertEqual(try Self.rawStatus(host, port, Array((head(100) + "0123456789").utf8)), 408)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
        XCTAssertEqual(try Self.rawStatus(host, port, Array((head(100) + "0123456789").utf8), closeAfterSending: true), 400)
        // A frame for a model this server does not have: 404 naming it.
        let other = try FeatureFrameForOtherModel.make(from: frame)
        let unknown = try LinkClient.request(server: url, method: "POST", path: "/v1/infer", body: other)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertTrue(String(decoding: unknown.body, as: UTF8.self).contains("with key 0x" + String(FrameContext(modelID: FeatureFrameForOtherModel.otherID, splitPoint: "", shape: FeatureShape(channels: 1, height: 1, width: 1), channels: [0]).shortKey, radix: 16)),
                      String(decoding: unknown.body, as: UTF8.self))
        // Still serving; metrics count what happened.
        XCTAssertEqual(try LinkClient.request(server: url, method: "POST", path: "/v1/infer", body: frame).status, 200)
        let metrics = String(decoding: try LinkClient.request(server: url, method: "GET", path: "/metrics").body, as: UTF8.self)
        XCTAssertTrue(metrics.contains(#"aecnn_requests_total{path="/v1/infer",status="200"} 5"#), metrics)
        XCTAssertTrue(metrics.contains(#"aecnn_requests_total{path="/v1/infer",status="400"} 3"#), metrics)
        XCTAssertTrue(metrics.contains(#"aecnn_requests_total{path="/v1/infer",status="408"} 1"#), metrics)
        XCTAssertTrue(metrics.contains(#"aecnn_requests_total{path="/v1/infer",status="413"} 2"#), metrics)
        XCTAssertTrue(metrics.contains("aecnn_infer_latency_seconds_count"), metrics)

        // Load: 4 clients for 2 s with a third of the requests malformed; every well-formed one succeeds.
        let load = try aecnn(["bench-server", "--server", url, "--frame", frames.appendingPathComponent("test-00000.aefc").path,
                              "--clients", "4", "--seconds", "2", "--malformed", "0.33", "--json"])
        XCTAssertEqual(load.status, 0, load.out + load.err)
        let l = try JSONSerialization.jsonObject(with: Data(load.out.utf8)) as! [String: Any]
        XCTAssertGreaterThan(l["ok"] as! Int, 0)
        XCTAssertGreaterThan(l["malformed_rejected_4xx"] as! Int, 0)
        XCTAssertEqual(l["well_formed_failed"] as? Int, 0)

        // The device client end to end, with link emulation.
        let off = try aecnn(["offload"] + pipeline + ["--server", url, "--config", "stem/2/arith-context/4", "--images", "3", "--uplink-mbps", "1", "--rtt-ms", "10", "--json"])
        XCTAssertEqual(off.status, 0, off.err)
        let total = (try JSONSerialization.jsonObject(with: Data(off.out.split(separator: "\n").last!.utf8)) as! [String: Any])["total"] as! [String: Any]
        // 1 Mbit/s: each request (~300 bytes with headers) takes at least 2 ms to send, plus the 10 ms RTT.
        XCTAssertGreaterThan(total["round_trip_ms_mean"] as! Double, 10 + 8 * (total["bytes_mean"] as! Double) / 1e3)

        // Local computing and full offload on the same images.
        let localRun = try aecnn(["offload"] + pipeline + ["--mode", "local", "--images", "3", "--json"])
        XCTAssertEqual(localRun.status, 0, localRun.err)
        let full = try aecnn(["offload"] + pipeline + ["--server", url, "--mode", "full-offload", "--images", "3", "--json"])
        XCTAssertEqual(full.status, 0, full.err)
        func lastTotal(_ text: String) -> [String: Any] {
            (try! JSONSerialization.jsonObject(with: Data(text.split(separator: "\n").last!.utf8)) as! [String: Any])["total"] as! [String: Any]
        }
        XCTAssertEqual(lastTotal(localRun.out)["accuracy"] as? Double, lastTotal(full.out)["accuracy"] as? Double, "the same network either way")
        XCTAssertGreaterThan(lastTotal(full.out)["bytes_mean"] as! Double, 50)

        // The profile measured against this server: its own decode/compute times and the protocol overhead.
        let prof = try aecnn(["profile"] + pipeline + ["--images", "3", "--server", url, "--requests", "3"])
        XCTAssertEqual(prof.status, 0, prof.err)
        let profile = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(ckpt)/srv/profile/profile.json"))) as! [String: Any]
        for c in profile["candidates"] as! [[String: Any]] where c["kind"] as? String != "local" {
            XCTAssertGreaterThan(c["overheadMs"] as! Double, 0, "\(c["id"]!)")
            XCTAssertGreaterThan(c["edgeMs"] as! Double, 0)
        }

        server.terminate()   // SIGTERM: graceful
        server.waitUntilExit()
        XCTAssertEqual(server.terminationReason, .exit)
    }
}

/// A copy of a frame re-addressed to a model id no server has (valid CRC, so only the id is wrong).
enum FeatureFrameForOtherModel {
    static let otherID = "elsewhere/stem/V2@000000000000"

    /// The frame with another model's id (self-describing) or key (compact), CRC recomputed.
    static func make(from bytes: [UInt8]) throws -> [UInt8] {
        guard bytes.first == FeatureBitstream.compactMarker || bytes.first == FeatureBitstream.compactMarkerWithParameter else {
            var frame = try FeatureBitstream.decode(bytes)
            frame.header.modelID = otherID
            return try FeatureBitstream.encode(frame)
        }
        // Version 3: the other model's 16-bit key, and the CRC started from its 32-bit key.
        var out = Array(bytes.dropLast(4))
        let key = FrameContext.key(otherID)
        for i in 0..<2 { out[1 + i] = UInt8(truncatingIfNeeded: key >> (8 * UInt32(i))) }
        let crc = out.withUnsafeBufferPointer { CRC32.update(key, $0) }
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
        return out
    }
}

import FeatureCoding
