// A small blocking HTTP/1.1 client over a TCP socket for the device side, with link emulation: the request
// is written in 1,460-byte segments paced so that bytes leave no faster than `uplinkMbps` would carry them,
// after `rttMs / 2` of one-way delay (and the reply gets the other half). Loopback only shows the pacing's
// effect, which is the point: the measured time then includes a transfer at the emulated rate.

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

        let head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let payload = Array(head.utf8) + body
        let start = DispatchTime.now().uptimeNanoseconds
        if link.rttMs > 0 { usleep(useconds_t(link.rttMs / 2 * 1000)) }
        var sent = 0
        while sent < payload.count {
            let n = min(1460, payload.count - sent)
            let w = payload[sent..<(sent + n)].withUnsafeBytes { send(fd, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
            guard w > 0 else { throw LinkClientError.io("send: \(String(cString: strerror(errno)))") }
            sent += w
            if let rate = link.uplinkMbps {
                // Pace: by now, `sent` bytes should have taken 8·sent/rate seconds (plus the one-way delay).
                let due = Double(start) + (link.rttMs / 2) * 1e6 + 8 * Double(sent) / (rate * 1e6) * 1e9
                let now = Double(DispatchTime.now().uptimeNanoseconds)
                if due > now { usleep(useconds_t((due - now) / 1000)) }
            }
        }
        var reply: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let r = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 16384, 0) }
            if r == 0 { break }
            guard r > 0 else { throw LinkClientError.io("recv: \(String(cString: strerror(errno)))") }
            reply += buf[0..<r]
            if let (status, body) = parse(reply) { 
                if link.rttMs > 0 { usleep(useconds_t(link.rttMs / 2 * 1000)) }
                return HTTPReply(status: status, body: body, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        guard let (status, body) = parse(reply, final: true) else { throw LinkClientError.protocolError("\(reply.count) bytes without a complete response") }
        if link.rttMs > 0 { usleep(useconds_t(link.rttMs / 2 * 1000)) }
        return HTTPReply(status: status, body: body, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
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
