import TokenMeterCore
import Foundation
import Hummingbird

/// `/metrics`, `/healthz`, `/readyz` and `/openapi.json`.
struct OperationsController<Context: RequestContext> {
    let metrics: UsageMetrics
    let store: any StoreMaintenance
    let health: StoreHealth
    let queue: WriteQueue
    let auth: TokenAuthenticator
    let now: WallClock

    func addRoutes(to router: Router<Context>) {
        router.group().add(middleware: auth.require(.metrics, context: Context.self)).get("metrics", use: scrape)
        router.get("healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
        router.get("readyz", use: ready)
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.json)))
        }
    }

    /// Prometheus text format 0.0.4, or OpenMetrics 1.0 when the scraper asks for it.
    @Sendable func scrape(_ request: Request, context: Context) async throws -> Response {
        metrics.setQueueDepth(queue.depth)
        let text = metrics.exposition()
        let accept = request.headers[.accept] ?? ""
        if accept.contains("application/openmetrics-text") {
            return Response(status: .ok, headers: [.contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: OpenMetrics.convert(text))))
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }

    /// Ready when the store takes writes now: the last write succeeded, none is stalled, the file
    /// is the one opened, the disk has room and the queue is not full. Answered from memory (the
    /// writer and the health monitor keep it current) and the file system's word (stat, statvfs),
    /// never by waiting on the database.
    @Sendable func ready(_ request: Request, context: Context) async throws -> Response {
        health.update(store.condition())
        let readiness = health.readiness(now: now(), queueDepth: queue.depth, queueCapacity: queue.capacity)
        let answer = ReadinessAnswer(readiness)
        guard readiness.isReady else {
            return JSONResponse.make(status: .serviceUnavailable, answer, headers: readiness.permanent ? [:] : [.retryAfter: "5"])
        }
        return JSONResponse.make(answer)
    }

    struct ReadinessAnswer: Encodable {
        var status: String
        var error: String?
        var reasons: [String]
        var permanent: Bool
        var last_write_age_seconds: Double
        var queue_depth: Int
        var free_bytes: Int64?

        init(_ readiness: Readiness) {
            status = readiness.isReady ? "ready" : "not ready"
            error = readiness.isReady ? nil : "not ready: " + readiness.reasons.joined(separator: "; ")
            reasons = readiness.reasons
            permanent = readiness.permanent
            last_write_age_seconds = (readiness.lastSuccessAgeSeconds * 1000).rounded() / 1000
            queue_depth = readiness.queueDepth
            free_bytes = readiness.freeBytes
        }
    }
}

/// `docs/openapi.yaml` as JSON (`scripts/openapi-json` writes the bundled copy; a test checks they match).
enum OpenAPIDocument {
    static let json: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url) else {
            return Array(#"{"error":"the OpenAPI document is missing from this build"}"#.utf8)
        }
        return Array(data)
    }()
}

/// Rewrites the 0.0.4 text exposition as OpenMetrics: counter families lose their `_total` suffix in
/// `# TYPE`/`# HELP` (the samples keep it) and the output ends with `# EOF`.
enum OpenMetrics {
    static func convert(_ text: [UInt8]) -> [UInt8] {
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        var counters = Set<Substring>()
        for line in lines where line.hasPrefix("# TYPE ") && line.hasSuffix(" counter") {
            counters.insert(line.dropFirst(7).split(separator: " ").first ?? "")
        }
        var output = ""
        for line in lines {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                if parts.count >= 3, counters.contains(parts[2]), parts[2].hasSuffix("_total") {
                    output += "\(parts[0]) \(parts[1]) \(parts[2].dropLast(6))"
                    if parts.count == 4 { output += " \(parts[3])" }
                    output += "\n"
                    continue
                }
            }
            output += line + "\n"
        }
        output += "# EOF\n"
        return Array(output.utf8)
    }
}
