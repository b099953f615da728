import TokenMeterCore
import Foundation
import Hummingbird

/// `POST /v1/usage` and `PATCH /v1/usage/{id}`.
struct UsageController<Context: RequestContext> {
    let pipeline: IngestPipeline
    let bodyLimit: Int
    let bodyTimeout: Duration
    let auth: TokenAuthenticator

    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.add(middleware: auth.require(.role(.ingest), context: Context.self))
        routes.post(use: ingest)
        routes.patch(":id", use: complete)
        return routes
    }

    /// Ingests one record, a JSON array or NDJSON; answers only after the accepted records are committed.
    @Sendable func ingest(_ request: Request, context: Context) async throws -> Response {
        let format = try Self.format(of: request)
        let body = try await Self.decodedBody(request, limit: bodyLimit, timeout: bodyTimeout)
        let summary = try await pipeline.throughTheQueue("the records") { try await pipeline.ingest(body: body, format: format) }
        return IngestAnswer.response(summary)
    }

    /// Completes a pending record (CONTRACT 1.3).
    @Sendable func complete(_ request: Request, context: Context) async throws -> Response {
        let raw = try context.parameters.require("id")
        let id = raw.removingPercentEncoding ?? raw
        let body = try await Self.collect(request, limit: 1024 * 1024, timeout: bodyTimeout)
        let completion: RecordCompletion
        switch JSONValue.parse(body[...]).flatMap(pipeline.normalizer.normalizeCompletion) {
        case .success(let value): completion = value
        case .failure(let error): throw APIError(.badRequest, error.message)
        }
        let pricing = pipeline.pricing
        // Through the write queue and the group commit, like new records.
        let result = try await pipeline.throughTheQueue("the completion") {
            try await pipeline.queue.submit([.complete(id: id, completion: completion,
                                                       reprice: { try pricing.priceWithinLimits($0).get() })])[0]
        }
        switch result {
        case .notFound:
            throw APIError(.notFound, "no record with id '\(id)'")
        case .alreadyCompleted(let status):
            throw APIError(.conflict, "record '\(id)' is already completed (status \(status.rawValue))")
        case .rejected(let error):
            throw APIError(.badRequest, error.message)
        case .completed(let priced, _):
            return JSONResponse.make(CompletionResponse(priced))
        case .accepted, .duplicate:
            throw APIError(.internalServerError, "internal error (the server logged the details)")
        }
    }

    struct CompletionResponse: Encodable {
        var id: String
        var status: String
        var model: String
        var cost_usd: String
        var unpriced: Bool
        /// Usage fields that were not understood (CONTRACT 1.2); absent when there are none.
        var unrecognized_usage: [String]?

        init(_ priced: PricedRecord) {
            id = priced.record.id
            status = priced.record.status.rawValue
            model = priced.model
            cost_usd = Money.decimalString(nano: priced.costNanoUSD)
            unpriced = priced.unpriced
            let fields = priced.record.unrecognizedUsage.keys.sorted()
            unrecognized_usage = fields.isEmpty ? nil : fields
        }
    }

    static func format(of request: Request) throws -> IngestBody.Format {
        guard let contentType = request.headers[.contentType] else { return .json }
        if contentType == "application/json" { return .json }
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch mediaType {
        case "application/json", "": return .json
        case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines": return .ndjson
        default:
            throw APIError(.unsupportedMediaType, "Content-Type \(mediaType) is not supported; send application/json or application/x-ndjson")
        }
    }

    /// The body, inflated when `Content-Encoding: gzip`; `limit` bounds both the bytes received and
    /// the inflated size (413).
    static func decodedBody(_ request: Request, limit: Int, timeout: Duration) async throws -> [UInt8] {
        let raw = try await collect(request, limit: limit, timeout: timeout)
        let contentEncoding = request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased() ?? "identity"
        switch contentEncoding {
        case "identity", "":
            return raw
        case "gzip", "x-gzip":
            do {
                return try Gzip.decompress(raw, limit: limit)
            } catch .tooLarge(let limit) {
                throw APIError(.contentTooLarge, "the gzip body inflates to more than the limit of \(limit) bytes")
            } catch .corrupt(let reason) {
                throw APIError(.badRequest, "Content-Encoding: gzip, but \(reason)")
            }
        default:
            throw APIError(.unsupportedMediaType, "Content-Encoding \(contentEncoding) is not supported; send gzip or no encoding")
        }
    }

    /// The whole body, at most `limit` bytes, within `timeout` (a client trickling its body cannot
    /// hold a handler forever: the idle timeout resets on every chunk).
    static func collect(_ request: Request, limit: Int, timeout: Duration) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "request body of \(length) bytes is larger than the limit of \(limit) bytes")
        }
        // A deadline checked per chunk instead of a timer task per request (that cost ~10% of the CPU
        // of single-record ingest). A client that stops sending altogether is closed by the idle timeout.
        let deadline = ContinuousClock.now + timeout
        do {
            var buffer = ByteBuffer()
            for try await chunk in request.body {
                guard buffer.readableBytes + chunk.readableBytes <= limit else {
                    throw APIError(.contentTooLarge, "request body larger than the limit of \(limit) bytes")
                }
                buffer.writeImmutableBuffer(chunk)
                if ContinuousClock.now > deadline {
                    throw APIError(.requestTimeout, "the request body did not arrive within \(timeout.components.seconds) s")
                }
            }
            return Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "request body larger than the limit of \(limit) bytes")
        }
    }
}
