import Foundation

/// Splits a POST /v1/usage body into its records: one JSON object, a JSON array, or NDJSON.
/// Each element is either a JSON value to normalize or the error that made it unreadable.
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
            case .failure(let error): return [.failure(error)]
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

}
