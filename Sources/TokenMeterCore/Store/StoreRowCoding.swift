/// How record fields that have no column of their own are stored, the same in every store.
public enum StoreRowCoding {
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
