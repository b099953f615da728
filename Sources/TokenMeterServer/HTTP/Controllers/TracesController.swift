import TokenMeterCore
import Foundation
import Hummingbird

/// OTLP/HTTP: `POST /v1/traces` (protobuf or JSON, optionally gzip), and clear 404s for the
/// metrics and logs signals, which carry no per-call identity and so cannot be priced exactly.
struct TracesController<Context: RequestContext> {
    let pipeline: IngestPipeline
    let bodyLimit: Int
    let bodyTimeout: Duration
    let auth: TokenAuthenticator

    /// OTLP exporters carry the ingest token (`OTEL_EXPORTER_OTLP_HEADERS`).
    func addRoutes(to router: Router<Context>) {
        let router = router.group().add(middleware: auth.require(.role(.ingest), context: Context.self))
        router.post("/v1/traces", use: traces)
        router.post("/v1/metrics") { request, _ in try Self.notTraces(request, signal: "metrics") }
        router.post("/v1/logs") { request, _ in try Self.notTraces(request, signal: "logs") }
    }

    @Sendable func traces(_ request: Request, context: Context) async throws -> Response {
        let encoding = Self.encoding(of: request)
        do {
            guard let encoding else {
                let given = request.headers[.contentType] ?? "none"
                throw APIError(.unsupportedMediaType, "Content-Type \(given) is not supported; OTLP/HTTP sends application/x-protobuf or application/json")
            }
            let body = try await body(of: request)
            let decoded: OTLPTraceRequest
            do {
                decoded = try OTLPTraceRequest.decode(body, encoding: encoding)
            } catch {
                throw APIError(.badRequest, "not a valid OTLP ExportTraceServiceRequest (\(encoding == .json ? "JSON" : "protobuf")): \(error.message)")
            }
            let result = try await pipeline.throughTheQueue("the spans") { try await OTLPExport.ingest(decoded, pipeline: pipeline) }
            return Self.response(.ok, OTLPExport.response(result, encoding: encoding), encoding: encoding)
        } catch let error as APIError {
            return Self.errorResponse(error, encoding: encoding ?? .json)
        }
    }

    private func body(of request: Request) async throws -> [UInt8] {
        try await UsageController<Context>.decodedBody(request, limit: bodyLimit, timeout: bodyTimeout)
    }

    static func encoding(of request: Request) -> OTLPExport.Encoding? {
        guard let contentType = request.headers[.contentType] else { return nil }
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch mediaType {
        case "application/x-protobuf", "application/protobuf": return .protobuf
        case "application/json": return .json
        default: return nil
        }
    }

    static func notTraces(_ request: Request, signal: String) throws -> Response {
        let message = "tokenmeter does not take OTLP \(signal): they carry no per-call identity, so they cannot be priced exactly; export traces to POST /v1/traces instead (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://<host>:<port>/v1/traces)"
        return errorResponse(APIError(.notFound, message), encoding: encoding(of: request) ?? .json)
    }

    static func errorResponse(_ error: APIError, encoding: OTLPExport.Encoding) -> Response {
        let body = OTLPExport.status(code: grpcCode(error.status), message: error.message, encoding: encoding)
        return response(error.status, body, encoding: encoding, headers: error.headers)
    }

    static func response(_ status: HTTPResponse.Status, _ body: [UInt8], encoding: OTLPExport.Encoding, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = encoding == .protobuf ? "application/x-protobuf" : "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The google.rpc.Code that OTLP's HTTP-to-gRPC mapping gives each status tokenmeter answers.
    static func grpcCode(_ status: HTTPResponse.Status) -> Int32 {
        switch status.code {
        case 400, 413, 415: 3  // INVALID_ARGUMENT
        case 401: 16  // UNAUTHENTICATED
        case 403: 7  // PERMISSION_DENIED
        case 404: 12  // UNIMPLEMENTED
        case 408: 4  // DEADLINE_EXCEEDED
        case 503: 14  // UNAVAILABLE
        default: 2  // UNKNOWN
        }
    }
}
