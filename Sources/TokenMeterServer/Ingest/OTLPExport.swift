import Foundation
import TokenMeterCore

/// One OTLP/HTTP trace export: decode, map the GenAI spans to records, and hand them to the same
/// ingest pipeline as `POST /v1/usage` (normalization, pricing, the write queue, metrics).
public enum OTLPExport {
    public typealias Encoding = OTLPEncoding

    /// What one export did; `rejected` and `errors` become the response's `partial_success`.
    public struct Result: Sendable, Equatable {
        public var spans = 0
        public var ignored = 0
        public var summary = IngestSummary()
        /// "<where the span was>: <why>", in request order, at most `listedErrors`.
        public var errors: [String] = []

        static let listedErrors = 5
    }

    /// Throws what `IngestPipeline.ingest` throws when valid records could not be committed.
    public static func ingest(_ request: OTLPTraceRequest, pipeline: IngestPipeline) async throws -> Result {
        let outcomes = SpanMapping.records(from: request)
        var result = Result()
        result.spans = request.spanCount
        result.ignored = result.spans - outcomes.count
        guard !outcomes.isEmpty else { return result }
        result.summary = try await pipeline.ingest(elements: outcomes.map(\.record))
        result.errors = result.summary.errors.prefix(Result.listedErrors).map { "\(outcomes[$0.index].label): \($0.error)" }
        return result
    }

    // MARK: - Responses

    /// `ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 }` with
    /// `{ int64 rejected_spans = 1; string error_message = 2; }`, left unset when nothing was rejected.
    public static func response(_ result: Result, encoding: Encoding) -> [UInt8] {
        let rejected = result.summary.rejected
        let message = partialSuccessMessage(result)
        switch encoding {
        case .protobuf:
            guard rejected > 0 else { return [] }
            var partial = ProtoWriter()
            partial.int(1, Int64(rejected))
            partial.string(2, message)
            var response = ProtoWriter()
            response.lengthDelimited(1, partial.bytes)
            return response.bytes
        case .json:
            guard rejected > 0 else { return Array("{}".utf8) }
            let json = JSONValue.object(["partialSuccess": .object([
                "rejectedSpans": .string(String(rejected)),  // proto3 JSON writes int64 as a string
                "errorMessage": .string(message),
            ])])
            return Array(json.serialized().utf8)
        }
    }

    static func partialSuccessMessage(_ result: Result) -> String {
        let rejected = result.summary.rejected
        guard rejected > 0 else { return "" }
        var text = "\(rejected) of \(result.spans) spans rejected: " + result.errors.joined(separator: "; ")
        if rejected > result.errors.count { text += "; and \(rejected - result.errors.count) more" }
        return text
    }

    /// `google.rpc.Status { int32 code = 1; string message = 2; }`, the body OTLP/HTTP gives every
    /// 4xx and 5xx answer. JSON also carries tokenmeter's usual `error` member.
    public static func status(code: Int32, message: String, encoding: Encoding) -> [UInt8] {
        switch encoding {
        case .protobuf:
            var status = ProtoWriter()
            status.int(1, Int64(code))
            status.string(2, message)
            return status.bytes
        case .json:
            let json = JSONValue.object(["code": .int(Int64(code)), "message": .string(message), "error": .string(message)])
            return Array(json.serialized().utf8)
        }
    }
}
