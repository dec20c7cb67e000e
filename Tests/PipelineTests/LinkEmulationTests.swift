// The device client's link emulation against a minimal in-process TCP server that notes when the last byte
// of the request arrives: the server must not have the whole request before the one-way delay plus the
// transfer time at the emulated rate, and the client must report at least the full round trip. These are
// lower bounds the emulation guarantees by construction (sleeps end no earlier than their deadlines), not
// timings of this machine.

import EdgeServer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class LinkEmulationTests: XCTestCase {
    /// A one-shot HTTP server on 127.0.0.1: reads one request with a Content-Length body, answers 200 "ok".
    /// Returns the port and a function giving the monotonic time (ns) the request was complete.
    private func oneShotServer() throws -> (port: UInt16, arrival: () -> UInt64) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(fd, 1), 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        let done = DispatchSemaphore(value: 0)
        let box = ArrivalBox()
        Thread.detachNewThread {
            defer { close(fd); done.signal() }
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            defer { close(c) }
            var data: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let r = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, 4096, 0) }
                if r <= 0 { return }
                data += buf[0..<r]
                let text = String(decoding: data, as: UTF8.self)
                if let headEnd = text.range(of: "\r\n\r\n"),
                   let line = text[..<headEnd.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
                   let n = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)),
                   data.count >= text.utf8.distance(from: text.utf8.startIndex, to: headEnd.upperBound) + n {
                    break
                }
            }
            box.set(Self.now())
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".utf8)
            _ = reply.withUnsafeBytes { send(c, $0.baseAddress, reply.count, Int32(MSG_NOSIGNAL)) }
        }
        return (port, { done.wait(); return box.get() })
    }

    private final class ArrivalBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: UInt64 = 0
        func set(_ v: UInt64) { lock.lock(); value = v; lock.unlock() }
        func get() -> UInt64 { lock.lock(); defer { lock.unlock() }; return value }
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    func testRequestArrivesNoEarlierThanDelayPlusTransferAndReplyAfterTheFullRoundTrip() throws {
        let (port, arrival) = try oneShotServer()
        let body = [UInt8](repeating: 7, count: 5000)               // 4 segments with the head
        let rate = 2.0, rtt = 30.0                                    // Mbit/s, ms
        let head = LinkClient.requestHead(method: "POST", path: "/x", host: "127.0.0.1", port: port, bodyCount: body.count)
        let start = Self.now()
        let reply = try LinkClient.request(server: "http://127.0.0.1:\(port)", method: "POST", path: "/x", body: body,
                                           link: LinkEmulation(uplinkMbps: rate, rttMs: rtt))
        let arrived = arrival()
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.body, Array("ok".utf8))
        let transferMs = 8 * Double(head.count + body.count) / (rate * 1e6) * 1e3   // 20.5 ms
        let arrivedMs = Double(arrived - start) / 1e6
        XCTAssertGreaterThanOrEqual(arrivedMs, rtt / 2 + transferMs - 0.01, "the server had the whole request too early")
        XCTAssertGreaterThanOrEqual(reply.seconds * 1000, rtt + transferMs - 0.01)
        XCTAssertGreaterThanOrEqual(reply.emulationOvershootSeconds, 0)
    }

    func testWithoutEmulationNothingWaits() throws {
        let (port, arrival) = try oneShotServer()
        let reply = try LinkClient.request(server: "http://127.0.0.1:\(port)", method: "POST", path: "/x", body: [1, 2, 3])
        _ = arrival()
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.emulationOvershootSeconds, 0)
    }
}
