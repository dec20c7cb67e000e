// The deployment planner (AECNN paper eq. 1–4, Fig. 5; BottleNet's Algorithm 1 selection): given measured
// per-configuration times and sizes (a profile), an uplink rate and a deadline, pick the most accurate
// configuration whose predicted completion time meets the deadline.
//
//   t = t_device + t_encode + t_transfer + t_decode + t_edge,   t_transfer = 8·bytes / rate + RTT (+ the
//   measured per-request protocol overhead, when the profile has one)
//
// Candidates are the co-inference configurations (split, V, codec, bits), local computing (the whole network
// on the device, nothing sent) and full offload (the input image sent, the whole network on the edge).

import Foundation
import Plots

public struct PlanCandidate: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case coInference = "co-inference", local, fullOffload = "full-offload" }
    public var kind: Kind
    /// The coded configuration of a co-inference candidate.
    public var configuration: CodedConfiguration?
    /// How the candidate is shown: "stem/V16/arith-context/4b", "local", "full-offload".
    public var id: String {
        switch kind {
        case .local: return "local"
        case .fullOffload: return "full-offload"
        case .coInference:
            guard let c = configuration else { return "co-inference" }
            return "\(c.point.split)/V\(c.point.ratio)/\(c.codec.rawValue)/\(c.bits)b"
        }
    }
    public var accuracy: Double
    public var deviceMs: Double
    public var encodeMs: Double
    public var bytes: Double
    public var bytesP99: Double
    public var decodeMs: Double
    public var edgeMs: Double
    /// Per-request cost of the protocol that eq. 1–4 leave out (connection, HTTP, the server's queueing),
    /// measured against a running server by `aecnn profile --server`; 0 when not measured.
    public var overheadMs: Double
    /// Bytes each request sends besides the payload (the HTTP request head), which cross the uplink too;
    /// measured by `aecnn profile --server`, 0 when not measured.
    public var headerBytes: Double

    public init(kind: Kind, configuration: CodedConfiguration? = nil, accuracy: Double, deviceMs: Double, encodeMs: Double, bytes: Double,
                bytesP99: Double, decodeMs: Double, edgeMs: Double, overheadMs: Double = 0, headerBytes: Double = 0) {
        self.kind = kind; self.configuration = configuration; self.accuracy = accuracy; self.deviceMs = deviceMs; self.encodeMs = encodeMs
        self.bytes = bytes; self.bytesP99 = bytesP99; self.decodeMs = decodeMs; self.edgeMs = edgeMs; self.overheadMs = overheadMs
        self.headerBytes = headerBytes
    }

    /// A co-inference candidate.
    public init(configuration: CodedConfiguration, accuracy: Double, deviceMs: Double, encodeMs: Double, bytes: Double, bytesP99: Double,
                decodeMs: Double, edgeMs: Double) {
        self.init(kind: .coInference, configuration: configuration, accuracy: accuracy, deviceMs: deviceMs, encodeMs: encodeMs,
                  bytes: bytes, bytesP99: bytesP99, decodeMs: decodeMs, edgeMs: edgeMs)
    }

    enum CodingKeys: String, CodingKey { case kind, id, configuration, accuracy, deviceMs, encodeMs, bytes, bytesP99, decodeMs, edgeMs, overheadMs, headerBytes }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(Kind.self, forKey: .kind)
        if kind == .coInference && !c.contains(.configuration) {
            throw DecodingError.dataCorruptedError(forKey: .configuration, in: c, debugDescription: "a co-inference candidate without its configuration (a profile of an older version): rerun aecnn profile")
        }
        self.init(kind: kind, configuration: try c.decodeIfPresent(CodedConfiguration.self, forKey: .configuration),
                  accuracy: try c.decode(Double.self, forKey: .accuracy), deviceMs: try c.decode(Double.self, forKey: .deviceMs),
                  encodeMs: try c.decode(Double.self, forKey: .encodeMs), bytes: try c.decode(Double.self, forKey: .bytes),
                  bytesP99: try c.decode(Double.self, forKey: .bytesP99), decodeMs: try c.decode(Double.self, forKey: .decodeMs),
                  edgeMs: try c.decode(Double.self, forKey: .edgeMs), overheadMs: try c.decodeIfPresent(Double.self, forKey: .overheadMs) ?? 0,
                  headerBytes: try c.decodeIfPresent(Double.self, forKey: .headerBytes) ?? 0)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(id, forKey: .id)   // for readers of the file; decoding uses `configuration`
        try c.encodeIfPresent(configuration, forKey: .configuration)
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(deviceMs, forKey: .deviceMs)
        try c.encode(encodeMs, forKey: .encodeMs)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(bytesP99, forKey: .bytesP99)
        try c.encode(decodeMs, forKey: .decodeMs)
        try c.encode(edgeMs, forKey: .edgeMs)
        try c.encode(overheadMs, forKey: .overheadMs)
        try c.encode(headerBytes, forKey: .headerBytes)
    }

    /// Predicted completion time in ms (eq. 1–4) at `uplinkMbps` with `rttMs`; nothing is sent by local computing.
    public func completionMs(uplinkMbps: Double, rttMs: Double, useP99: Bool = false) -> Double {
        let sent = (useP99 ? bytesP99 : bytes) + headerBytes
        let transfer = kind == .local ? 0 : 8 * sent / (uplinkMbps * 1e6) * 1e3 + rttMs + overheadMs
        return deviceMs + encodeMs + transfer + decodeMs + edgeMs
    }
}

public struct Plan: Equatable, Sendable {
    public var chosen: PlanCandidate?
    /// Every candidate with its predicted time, best first: deadline met, then accuracy, then time.
    public var ranked: [(candidate: PlanCandidate, ms: Double, meets: Bool)]
    public var message: String

    public static func == (a: Plan, b: Plan) -> Bool { a.chosen == b.chosen && a.message == b.message }
}

public enum Planner {
    /// The most accurate candidate meeting `deadlineMs` (ties: the faster), with all candidates ranked.
    public static func plan(_ candidates: [PlanCandidate], uplinkMbps: Double, rttMs: Double, deadlineMs: Double, useP99: Bool = false) -> Plan {
        let scored = candidates.map { c -> (candidate: PlanCandidate, ms: Double, meets: Bool) in
            let t = c.completionMs(uplinkMbps: uplinkMbps, rttMs: rttMs, useP99: useP99)
            return (c, t, t <= deadlineMs)
        }
        let ranked = scored.sorted { a, b in
            if a.meets != b.meets { return a.meets }
            if a.meets {
                if a.candidate.accuracy != b.candidate.accuracy { return a.candidate.accuracy > b.candidate.accuracy }
                if a.ms != b.ms { return a.ms < b.ms }
            } else if a.ms != b.ms { return a.ms < b.ms }
            return a.candidate.id < b.candidate.id
        }
        guard let best = ranked.first, best.meets else {
            let fastest = scored.min { $0.ms < $1.ms }
            let msg = fastest.map { String(format: "nothing meets %.1f ms at %.2f Mbit/s: the fastest is %@ at %.1f ms", deadlineMs, uplinkMbps, $0.candidate.id, $0.ms) }
                ?? "no configurations were profiled"
            return Plan(chosen: nil, ranked: ranked, message: msg)
        }
        var msg = String(format: "%@: %.2f %% predicted in %.1f ms (deadline %.1f ms, %.2f Mbit/s uplink)", best.candidate.id,
                         100 * best.candidate.accuracy, best.ms, deadlineMs, uplinkMbps)
        switch best.candidate.kind {
        case .local: msg += "; computing locally is the best choice here: no co-inference configuration is both faster and as accurate"
        case .fullOffload: msg += "; sending the input image is the best choice here"
        case .coInference: break
        }
        return Plan(chosen: best.candidate, ranked: ranked, message: msg)
    }

    /// The plot of the paper's Fig. 5: completion time against uplink rate for every candidate.
    public static func figure(_ candidates: [PlanCandidate], rttMs: Double, rates: [Double] = stride(from: -1.0, through: 3.0, by: 0.125).map { pow(10, $0) },
                              deadlineMs: Double? = nil, title: String) -> String {
        var plot = SVGPlot(title: title, xLabel: "uplink rate (Mbit/s, log scale)", yLabel: "predicted completion time (ms)", xScale: .log10)
        for c in candidates {
            plot.series.append(.init(name: c.id + String(format: " (%.1f %%)", 100 * c.accuracy),
                                     points: rates.map { ($0, c.completionMs(uplinkMbps: $0, rttMs: rttMs)) }))
        }
        for s in plot.series.indices { plot.series[s].points = plot.series[s].points.map { ($0.x, min($0.y, 2000)) } }
        if let d = deadlineMs { plot.references = [("deadline", d)] }
        plot.height = max(480, 80 + 20 * Double(candidates.count))
        return plot.render()
    }
}
