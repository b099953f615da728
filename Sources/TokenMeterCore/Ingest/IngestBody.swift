import Foundation

/// Splits a POST /v1/usage body into its records: one JSON object, a JSON array, or NDJSON.
/// Each element is either a JSON value to normalize or the error that made it unreadable.
/// A body sent as JSON whose first value ends at a line break before the body does is read as
/// NDJSON: LiteLLM's `generic_api` logger sends NDJSON with `Content-Type: application/json`.
public enum IngestBody {
    public enum Format: Sendable { case json, ndjson }

    public static func elements(of body: [UInt8], format: Format) -> [Result<JSONValue, NormalizationError>] {
        switch format {
        case .json:
            if body.allSatisfy({ $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }) {
                return [.failure(NormalizationError("body: empty; send a JSON object, a JSON array or NDJSON"))]
            }
            switch JSONValue.parse(body[...]) {
            case .success(.array(let items)):
                if items.isEmpty { return [.failure(NormalizationError("body: empty JSON array"))] }
                return items.map { .success($0) }
            case .success(let value): return [.success(value)]
            case .failure(let error):
                if firstLineIsOneValue(body) { return elements(of: body, format: .ndjson) }
                return [.failure(error)]
            }
        case .ndjson:
            var results: [Result<JSONValue, NormalizationError>] = []
            for line in body.split(separator: 10, omittingEmptySubsequences: false) {
                let trimmed = line.drop(while: isSpace).reversed().drop(while: isSpace)
                if trimmed.isEmpty { continue }
                results.append(JSONValue.parse(line))
            }
            if results.isEmpty { return [.failure(NormalizationError("body: no records in the NDJSON body"))] }
            return results
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 13 || byte == 9 }

    /// Whether the body's first non-blank line is one complete JSON value and more lines follow.
    static func firstLineIsOneValue(_ body: [UInt8]) -> Bool {
        var lines = body.split(separator: 10, omittingEmptySubsequences: true).filter { line in !line.allSatisfy { isSpace($0) } }[...]
        guard lines.count >= 2, let first = lines.popFirst() else { return false }
        if case .success = JSONValue.parse(first) { return true }
        return false
    }

}
