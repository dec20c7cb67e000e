// A small blocking HTTP/1.1 client over a TCP socket for the device side, with link emulation. With
// `uplinkMbps` and `rttMs`, byte i of the request is due at the server at t0 + rtt/2 + 8·(i+1)/rate: the
// request goes out in 1,460-byte segments, each written at the moment its last byte would have arrived, so
// the server starts work when a real link would have delivered the whole request; the reply is held back
// rtt/2 after it arrives. Every wait is a sleep until an absolute deadline (clock_nanosleep, TIMER_ABSTIME),
// so oversleeping does not accumulate over segments; what overshoot remains is measured and reported
// (`HTTPReply.emulationOvershootSeconds`). Loopback adds its own small cost, which `aecnn profile --server`
// measures as protocol overhead.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct LinkEmulation: Sendable {
    public var uplinkMbps: Double?
    public var rttMs: Double
    public init(uplinkMbps: Double? = nil, rttMs: Double = 0) { self.uplinkMbps = uplinkMbps; self.rttMs = rttMs }
}

public struct HTTPReply: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Seconds from the first byte written to the last byte read.
    public var seconds: Double
    /// Total time the emulation's waits ended later than their deadlines (scheduler wake-up latency).
    public var emulationOvershootSeconds: Double = 0
}

public enum LinkClientError: Error, CustomStringConvertible {
    case connect(String), io(String), protocolError(String)
    public var description: String {
        switch self {
        case .connect(let m): return "cannot connect: \(m). Fix: start the server (aecnn serve) or check --server"
        case .io(let m): return "connection failed: \(m)"
        case .protocolError(let m): return "bad HTTP reply: \(m)"
        }
    }
}

public enum LinkClient {
    /// Parses "http://host:port".
    public static func endpoint(_ url: String) throws -> (host: String, port: UInt16) {
        guard url.hasPrefix("http://") else { throw LinkClientError.connect("\(url) is not an http:// URL") }
        let rest = url.dropFirst(7).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let parts = rest.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { throw LinkClientError.connect("\(url) needs host:port") }
        return (String(parts[0]), port)
    }

    public static func request(server: String, method: String, path: String, body: [UInt8] = [], link: LinkEmulation = LinkEmulation(),
                               timeoutSeconds: Double = 30) throws -> HTTPReply {
        let (host, port) = try endpoint(server)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LinkClientError.connect("socket() failed") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: Int(timeoutSeconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        let resolved = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, resolved, &addr.sin_addr) == 1 else { throw LinkClientError.connect("\(host) is not an IPv4 address") }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw LinkClientError.connect("\(server): \(String(cString: strerror(errno)))") }

        let payload = requestHead(method: method, path: path, host: host, port: port, bodyCount: body.count) + body
        let start = monotonicNanoseconds()
        var overshoot: UInt64 = 0
        func wait(until deadline: UInt64) {
            guard deadline > monotonicNanoseconds() else { return }
            var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
            let now = monotonicNanoseconds()
            if now > deadline { overshoot += now - deadline }
        }
        let oneWay = UInt64(max(0, link.rttMs) / 2 * 1e6)
        var sent = 0
        while sent < payload.count {
            let n = min(1460, payload.count - sent)
            // This segment's last byte arrives after the one-way delay and the transfer of everything up to it.
            let transfer = link.uplinkMbps.map { UInt64(8 * Double(sent + n) / ($0 * 1e6) * 1e9) } ?? 0
            wait(until: start + oneWay + transfer)
            let w = payload[sent..<(sent + n)].withUnsafeBytes { send(fd, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
            guard w > 0 else { throw LinkClientError.io("send: \(String(cString: strerror(errno)))") }
            sent += w
        }
        func finish(_ status: Int, _ body: [UInt8]) -> HTTPReply {
            wait(until: monotonicNanoseconds() + oneWay)
            let end = monotonicNanoseconds()
            return HTTPReply(status: status, body: body, seconds: Double(end - start) / 1e9,
                             emulationOvershootSeconds: Double(overshoot) / 1e9)
        }
        var reply: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 16384, 0) }
            if r == 0 { break }
            guard r > 0 else { throw LinkClientError.io("recv: \(String(cString: strerror(errno)))") }
            reply += buf[0..<r]
            if let (status, body) = parse(reply) { return finish(status, body) }
        }
        guard let (status, body) = parse(reply, final: true) else { throw LinkClientError.protocolError("\(reply.count) bytes without a complete response") }
        return finish(status, body)
    }

    /// The request head this client sends before a body of `bodyCount` bytes (it crosses the link too).
    public static func requestHead(method: String, path: String, host: String, port: UInt16, bodyCount: Int) -> [UInt8] {
        Array("\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(bodyCount)\r\nConnection: close\r\n\r\n".utf8)
    }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// A complete response (status line, headers, Content-Length body), or nil while incomplete.
    static func parse(_ data: [UInt8], final: Bool = false) -> (Int, [UInt8])? {
        let sep: [UInt8] = [13, 10, 13, 10]
        guard data.count >= 4, let end = (0...(data.count - 4)).first(where: { data[$0..<($0 + 4)].elementsEqual(sep) }) else { return nil }
        let head = String(decoding: data[0..<end], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var length: Int?
        for l in lines.dropFirst() where l.lowercased().hasPrefix("content-length:") { length = Int(l.dropFirst(15).trimmingCharacters(in: .whitespaces)) }
        let body = Array(data[(end + 4)...])
        if let length { return body.count >= length ? (status, Array(body.prefix(length))) : nil }
        return final ? (status, body) : nil
    }
}
