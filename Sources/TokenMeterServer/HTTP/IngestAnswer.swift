import TokenMeterCore
import Foundation
import Hummingbird

/// The answer to `POST /v1/usage`. A summary without errors or warnings (nearly every request) is
/// written straight into the body, byte for byte what `JSONResponse`'s encoder writes for it
/// (sorted keys, no `warnings`); any other goes through the encoder.
enum IngestAnswer {
    static func response(_ summary: IngestSummary) -> Response {
        let status: HTTPResponse.Status = summary.accepted + summary.duplicates > 0 ? .ok : .badRequest
        guard let body = plainBody(summary) else { return JSONResponse.make(status: status, summary) }
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// `{"accepted":N,"duplicates":N,"errors":[],"rejected":N}`, or nil when the summary lists errors or warnings.
    static func plainBody(_ summary: IngestSummary) -> String? {
        guard summary.errors.isEmpty, summary.warnings == nil else { return nil }
        return #"{"accepted":\#(summary.accepted),"duplicates":\#(summary.duplicates),"errors":[],"rejected":\#(summary.rejected)}"#
    }
}
