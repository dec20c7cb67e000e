// The edge server's HTTP interface (Hummingbird 2):
//   POST /v1/infer    body: one AEFC frame (application/octet-stream) → JSON: model, top-5, server timings
//   POST /v1/infer-image   body: the input image (PNG or JPEG) → the whole base network (full offload)
//   GET  /v1/models   what is served, with the accuracy of each codec × width
//   GET  /health      "ok"
//   GET  /metrics     Prometheus text: requests and errors by status, bytes received, latency histogram
// Bad frames, unknown models and oversized bodies get a 4xx JSON error; beyond `maxInFlight` concurrent
// inferences a request gets 503 at once (the server never queues without bound). Inference runs on a
// dispatch queue, off the event loops. SIGTERM/SIGINT shut down gracefully (Hummingbird's service group).

import Foundation
import Hummingbird

import FeatureCoding
import CoInference

public final class ServerMetrics: @unchecked Sendable {
    let lock = NSLock()
    var requests: [String: Int] = [:]          // "path status" → count
    var bytesReceived = 0
    static let buckets: [Double] = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    var latencyCounts = [Int](repeating: 0, count: buckets.count + 1)
    var latencySum = 0.0

    func record(path: String, status: Int, ms: Double, bytes: Int) {
        lock.lock(); defer { lock.unlock() }
        requests["\(path) \(status)", default: 0] += 1
        bytesReceived += bytes
        latencySum += ms / 1000
        latencyCounts[Self.buckets.firstIndex { ms <= $0 } ?? Self.buckets.count] += 1
    }

    func prometheus() -> String {
        lock.lock(); defer { lock.unlock() }
        var s = "# HELP aecnn_requests_total Requests by path and HTTP status.\n# TYPE aecnn_requests_total counter\n"
        for (k, v) in requests.sorted(by: { $0.key < $1.key }) {
            let parts = k.split(separator: " ")
            s += "aecnn_requests_total{path=\"\(parts[0])\",status=\"\(parts[1])\"} \(v)\n"
        }
        let errors = requests.filter { Int($0.key.split(separator: " ")[1])! >= 400 }.values.reduce(0, +)
        s += "# HELP aecnn_errors_total Requests answered with a 4xx or 5xx status.\n# TYPE aecnn_errors_total counter\naecnn_errors_total \(errors)\n"
        s += "# HELP aecnn_received_bytes_total Request body bytes received on /v1/infer.\n# TYPE aecnn_received_bytes_total counter\naecnn_received_bytes_total \(bytesReceived)\n"
        s += "# HELP aecnn_infer_latency_seconds Server time of /v1/infer requests.\n# TYPE aecnn_infer_latency_seconds histogram\n"
        var cumulative = 0
        for (k, b) in Self.buckets.enumerated() {
            cumulative += latencyCounts[k]
            s += "aecnn_infer_latency_seconds_bucket{le=\"\(b / 1000)\"} \(cumulative)\n"
        }
        cumulative += latencyCounts[Self.buckets.count]
        s += "aecnn_infer_latency_seconds_bucket{le=\"+Inf\"} \(cumulative)\naecnn_infer_latency_seconds_sum \(latencySum)\naecnn_infer_latency_seconds_count \(cumulative)\n"
        return s
    }
}

public struct EdgeServerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var maxInFlight = 8
    public var maxBodyBytes = 4 << 20
    public var idleTimeoutSeconds: Int64 = 30
    /// The longest a request body may take to arrive once its head has; slower bodies get 408.
    public var bodyTimeoutSeconds: Double = 10
    public init() {}
}

/// The reply to `POST /v1/infer` and `POST /v1/infer-image` (JSON, snake_case keys).
public struct InferenceReply: Codable, Sendable {
    public struct Candidate: Codable, Sendable {
        public var `class`: Int
        public var label: String
        public var probability: Double
    }
    /// The model that answered ("base" for full offload).
    public var model: String
    /// The most probable class and its name.
    public var `class`: Int
    public var label: String
    public var top5: [Candidate]
    public var serverDecodeMs: Double
    public var serverComputeMs: Double
    /// Request body bytes.
    public var bytes: Int

    init(_ r: InferenceResult) {
        model = r.modelID; `class` = r.top.first?.label ?? -1; label = r.top.first?.name ?? ""
        top5 = r.top.map { Candidate(class: $0.label, label: $0.name, probability: $0.probability) }
        serverDecodeMs = r.decodeMs; serverComputeMs = r.computeMs; bytes = r.bytes
    }

    /// Decodes a reply body.
    public static func decode(_ body: [UInt8]) throws -> InferenceReply { try SnakeCaseJSON.decoder().decode(InferenceReply.self, from: Data(body)) }
}

/// The reply to `GET /health`.
public struct HealthReply: Codable, Sendable { public var status: String; public var pipeline: String; public var models: Int }

/// Every refused request's reply.
public struct ErrorReply: Codable, Sendable { public var error: String }

/// The reply to `GET /v1/models`.
public struct ModelsReply: Codable, Sendable {
    public struct Configuration: Codable, Sendable { public var codec: String; public var bits: Int; public var accuracy: Double }
    public struct Model: Codable, Sendable {
        public var id: String; public var split: String; public var ratio: Int; public var shape: [Int]; public var carriedChannels: [Int]
        public var configurations: [Configuration]
    }
    public var pipeline: String
    public var models: [Model]
}


public enum EdgeHTTPServer {
    static func json<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
        let data = (try? SnakeCaseJSON.encoder(pretty: false).encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The request context: Hummingbird's, plus a way to stop reading the connection. After refusing a body
    /// that is too large or too slow the server closes the connection instead of draining the rest of a
    /// declared body (up to any length a client claims).
    struct Context: RequestContext {
        var coreContext: CoreRequestContextStorage
        let stopReading: @Sendable () -> Void
        init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            let channel = source.channel
            stopReading = { channel.close(mode: .input, promise: nil) }
        }
    }

    /// Runs until SIGTERM/SIGINT. `onRunning` gets the bound port (useful with port 0).
    public static func run(_ models: EdgeModels, options: EdgeServerOptions, onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let metrics = ServerMetrics()
        let inFlight = InFlight(limit: options.maxInFlight)
        let queue = DispatchQueue(label: "aecnn.infer", qos: .userInitiated, attributes: .concurrent)
        let router = Router(context: Context.self)
        router.get("/health") { _, _ -> Response in
            metrics.record(path: "/health", status: 200, ms: 0, bytes: 0)
            return json(.ok, HealthReply(status: "ok", pipeline: models.pipeline, models: models.models.count))
        }
        router.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.prometheus())))
        }
        router.get("/v1/models") { _, _ -> Response in
            metrics.record(path: "/v1/models", status: 200, ms: 0, bytes: 0)
            let list = models.models.values.sorted { $0.id < $1.id }.map { m in
                ModelsReply.Model(id: m.id, split: m.split, ratio: m.ratio, shape: [m.shape.channels, m.shape.height, m.shape.width],
                                  carriedChannels: m.kept,
                                  configurations: m.accuracyByConfig.map { .init(codec: $0.codec.rawValue, bits: $0.bits, accuracy: $0.accuracy) })
            }
            return json(.ok, ModelsReply(pipeline: models.pipeline, models: list))
        }
        /// Collect the body, admit, run `work` off the event loop, answer with JSON; every outcome is counted.
        @Sendable func inference(_ path: String, _ request: Request, _ context: Context, _ work: @escaping @Sendable ([UInt8]) throws -> InferenceResult) async -> Response {
            let t0 = DispatchTime.now().uptimeNanoseconds
            func done<T: Encodable>(_ status: HTTPResponse.Status, _ body: T, bytes: Int) -> Response {
                metrics.record(path: path, status: Int(status.code), ms: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6, bytes: bytes)
                return json(status, body)
            }
            func refuse(_ status: HTTPResponse.Status, _ message: String, bytes: Int) -> Response { done(status, ErrorReply(error: message), bytes: bytes) }
            /// A refusal that leaves body bytes unread: the answer, then the connection closes (`Connection: close`).
            func refuseAndClose(_ status: HTTPResponse.Status, _ message: String) -> Response {
                var response = refuse(status, message, bytes: 0)
                response.headers[.connection] = "close"
                context.stopReading()
                return response
            }
            // A declared length over the limit is refused from the head, before any body byte is read.
            if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > options.maxBodyBytes {
                return refuseAndClose(.contentTooLarge, "request body of \(declared) bytes is over the limit of \(options.maxBodyBytes)")
            }
            let buffer: ByteBuffer
            switch await collect(request.body, upTo: options.maxBodyBytes, seconds: options.bodyTimeoutSeconds) {
            case .success(let b): buffer = b
            case .failure(.tooLarge): return refuseAndClose(.contentTooLarge, "request body over the limit of \(options.maxBodyBytes) bytes")
            case .failure(.timedOut):
                return refuseAndClose(.requestTimeout, "the request body did not arrive within \(options.bodyTimeoutSeconds) s")
            case .failure(.malformed(let why)): return refuse(.badRequest, "incomplete or malformed request body: \(why)", bytes: 0)
            }
            let bytes = Array(buffer.readableBytesView)
            guard inFlight.enter() else { return refuse(.serviceUnavailable, "busy: \(options.maxInFlight) requests in flight; retry", bytes: bytes.count) }
            defer { inFlight.leave() }
            let outcome: Result<InferenceResult, Error> = await withCheckedContinuation { cont in
                queue.async { cont.resume(returning: Result { try work(bytes) }) }
            }
            switch outcome {
            case .success(let r):
                return done(.ok, InferenceReply(r), bytes: bytes.count)
            case .failure(EdgeError.unknownModel(let id, let known)):
                return refuse(.notFound, "\(EdgeError.unknownModel(id, known: known))", bytes: bytes.count)
            case .failure(let e as EdgeError):
                return refuse(.badRequest, "\(e)", bytes: bytes.count)
            case .failure(let e):
                return refuse(.internalServerError, "\(e)", bytes: bytes.count)
            }
        }
        router.post("/v1/infer-image") { request, context in await inference("/v1/infer-image", request, context) { try models.inferImage($0) } }
        router.post("/v1/infer") { request, context in
            await inference("/v1/infer", request, context) { try models.infer($0, limits: FeatureBitstreamLimits(maxBytes: options.maxBodyBytes)) }
        }
        let app = Application(router: router, server: .http1(configuration: .init(idleTimeout: .seconds(options.idleTimeoutSeconds))),
                              configuration: .init(address: .hostname(options.host, port: options.port), serverName: "aecnn"),
                              onServerRunning: { channel in onRunning(channel.localAddress?.port ?? options.port) })
        try await app.runService()
    }
}

enum BodyError: Error { case tooLarge, timedOut, malformed(String) }

/// The request body, or why not: over `limit` bytes, not complete within `seconds`, or cut short / badly
/// framed. The body is read by its own task; the first of it and the deadline answers.
func collect(_ body: RequestBody, upTo limit: Int, seconds: Double) async -> Result<ByteBuffer, BodyError> {
    final class Once: @unchecked Sendable {
        let lock = NSLock()
        var continuation: CheckedContinuation<Result<ByteBuffer, BodyError>, Never>?
        func resume(_ r: Result<ByteBuffer, BodyError>) {
            lock.lock(); let c = continuation; continuation = nil; lock.unlock()
            c?.resume(returning: r)
        }
    }
    let once = Once()
    return await withCheckedContinuation { (c: CheckedContinuation<Result<ByteBuffer, BodyError>, Never>) in
        once.continuation = c
        let reader = Task {
            do { once.resume(.success(try await body.collect(upTo: limit))) } catch let e as HTTPResponseError where e.status == .contentTooLarge {
                once.resume(.failure(.tooLarge))
            } catch {
                once.resume(.failure(.malformed("\(error)")))
            }
        }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            once.resume(.failure(.timedOut))
            reader.cancel()
        }
    }
}

/// Admission control: at most `limit` requests inside at once.
final class InFlight: @unchecked Sendable {
    let lock = NSLock()
    let limit: Int
    var count = 0
    init(limit: Int) { self.limit = max(1, limit) }
    func enter() -> Bool { lock.lock(); defer { lock.unlock() }; if count >= limit { return false }; count += 1; return true }
    func leave() { lock.lock(); count -= 1; lock.unlock() }
}
