/// The unit of work a record belongs to (`resource_type` + `resource_id`, or one of the aliases
/// loggers already send) and its `tags`. Pure: reads a `FieldReader`, throws errors naming the field.
package enum ResourceFields {
    /// Alias → the resource type it implies, in the order they are tried: the first present one wins
    /// and the others stay in `metadata` (a call can carry a session id and a trace id at once).
    static let aliases: [(key: String, type: String)] = [
        ("pipeline_run_id", "pipeline_run"), ("run_id", "pipeline_run"),
        ("session_id", "session"), ("conversation_id", "session"),
        ("trace_id", "trace"), ("job_id", "job"),
    ]

    /// `resource_type` and `resource_keys`: letters, digits and `_ . : -` (a rollup key and a label).
    static func isName(_ text: String, maxBytes: Int) -> Bool {
        guard !text.isEmpty, text.utf8.count <= maxBytes else { return false }
        return text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x3A || b == 0x2D
        }
    }

    static let nameRule = "letters, digits, '_', '.', ':' or '-'"

    /// An explicit pair wins over the aliases (which then stay in `metadata`); an explicit
    /// `resource_type` or `resource_id` alone is an error naming the missing one.
    static func read(_ r: inout FieldReader) throws(NormalizationError) -> (type: String, id: String)? {
        let hasType = r.peek("resource_type").map { $0 != .null } ?? false
        let hasID = r.peek("resource_id").map { $0 != .null } ?? false
        if hasType || hasID {
            let type = try r.string("resource_type", maxBytes: RecordLimits.resourceTypeBytes)
            let id = try id(&r, "resource_id")
            guard let type else { throw NormalizationError("resource_type: required with resource_id (e.g. \"pipeline_run\")") }
            guard let id else { throw NormalizationError("resource_id: required with resource_type") }
            guard isName(type, maxBytes: RecordLimits.resourceTypeBytes) else {
                throw NormalizationError("resource_type: '\(type.prefix(64))' must be \(nameRule), at most \(RecordLimits.resourceTypeBytes) bytes")
            }
            return (type, id)
        }
        for (key, type) in aliases {
            // A null alias says nothing (read, so not kept in metadata), like any null field.
            guard let id = try id(&r, key) else { continue }
            return (type, id)
        }
        return nil
    }

    /// A string or integer id, without control characters, at most `resourceIDBytes`.
    private static func id(_ r: inout FieldReader, _ key: String) throws(NormalizationError) -> String? {
        guard let id = try r.string(key, maxBytes: RecordLimits.resourceIDBytes, allowNumber: true) else { return nil }
        if id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw NormalizationError("\(key): contains a control character")
        }
        return id
    }

    /// `tags`: an object of at most `maxTags` string values; keys follow `nameRule`.
    static func readTags(_ r: inout FieldReader) throws(NormalizationError) -> [String: String] {
        guard let (key, value) = r.take("tags") else { return [:] }
        guard case .object(let object) = value else {
            throw NormalizationError("\(key): must be an object of string values, got \(value.typeName)")
        }
        guard object.count <= RecordLimits.maxTags else {
            throw NormalizationError("tags: \(object.count) tags, more than the limit of \(RecordLimits.maxTags)")
        }
        var tags: [String: String] = [:]
        for name in object.keys.sorted() {
            guard isName(name, maxBytes: RecordLimits.tagKeyBytes) else {
                throw NormalizationError("tags: key '\(name.prefix(64))' must be \(nameRule), 1 to \(RecordLimits.tagKeyBytes) bytes")
            }
            guard case .string(let text) = object[name]! else {
                throw NormalizationError("tags.\(name): must be a string, got \(object[name]!.typeName)")
            }
            if text.utf8.count > RecordLimits.tagValueBytes {
                throw NormalizationError("tags.\(name): \(text.utf8.count) bytes, longer than the limit of \(RecordLimits.tagValueBytes)")
            }
            if text.unicodeScalars.contains(where: { $0.value == 0 }) {
                throw NormalizationError("tags.\(name): contains a NUL character (U+0000)")
            }
            tags[name] = text
        }
        return tags
    }

    /// Tags as stored: a JSON object with sorted keys, or nil when there are none.
    package static func json(_ tags: [String: String]) -> String? {
        tags.isEmpty ? nil : JSONValue.object(tags.mapValues { .string($0) }).serialized()
    }

    package static func tags(fromJSON text: String?) -> [String: String] {
        guard let text, case .success(.object(let object)) = JSONValue.parse(Array(text.utf8)) else { return [:] }
        var tags: [String: String] = [:]
        for (key, value) in object { if case .string(let s) = value { tags[key] = s } }
        return tags
    }
}
