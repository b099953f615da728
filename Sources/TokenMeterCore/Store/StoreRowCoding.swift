/// How record fields that have no column of their own are stored, the same in every store.
public enum StoreRowCoding {
    /// The columns of a stored record that every store has, in the order stores bind them; each
    /// store appends its own (SQLite: the id key; PostgreSQL: the instance that accepted the record).
    public static let recordColumns = [
        "id", "id_given", "ts", "received_at", "user_id", "plan", "paying", "service", "operation", "category", "provider",
        "model", "model_raw", "status", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "units_requests", "units_images", "units_seconds", "units_minutes", "units_characters",
        "cost_nano", "cost_source", "caller_cost_nano", "price_version", "unpriced", "credits_micro",
        "caller_credits_micro", "duration_us", "error_type", "error_message", "metadata", "user_ordinal",
        "cache_write_1h_tokens", "router_cost_nano", "unrecognized_usage", "price_match", "unpriced_reason",
        "resource_type", "resource_id", "tags",
    ]

    /// `{"path": count}` with sorted keys, or `nil` when every usage field was understood.
    public static func unrecognizedJSON(_ fields: [String: Int64]) -> String? {
        guard !fields.isEmpty else { return nil }
        return JSONValue.object(fields.mapValues { .int($0) }).serialized()
    }

    public static func unrecognized(fromJSON text: String?) -> [String: Int64] {
        guard let text, case .success(.object(let object)) = JSONValue.parse(Array(text.utf8)) else { return [:] }
        var counts: [String: Int64] = [:]
        for (key, value) in object { if case .int(let i) = value { counts[key] = i } }
        return counts
    }
}
