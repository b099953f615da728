/// How record fields that have no column of their own are stored, the same in every store.
public enum StoreRowCoding {
    /// `{"path": count}` with sorted keys, or `nil` when every usage field was understood.
    public static func unrecognizedJSON(_ fields: [String: Int64]) -> String? { RecordRow.unrecognizedJSON(fields) }

    public static func unrecognized(fromJSON text: String?) -> [String: Int64] { RecordRow.unrecognized(fromJSON: text) }
}
