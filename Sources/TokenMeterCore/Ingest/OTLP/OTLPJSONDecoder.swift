import Foundation

/// Decodes `application/json` bodies: OTLP's JSON encoding of `ExportTraceServiceRequest`
/// (proto3 JSON with OTLP's deviations: trace and span ids as hex, not base64; enums as integers).
/// Keys are lowerCamelCase (the original snake_case names are accepted too, as proto3 JSON parsers
/// do); int64 and fixed64 values are decimal strings or JSON integers; unknown keys are ignored.
/// A wrong type inside one span rejects that span only; anywhere above a span it is a 400.
public enum OTLPJSONDecoder {
    public static func decode(_ body: [UInt8]) throws(OTLPDecodeError) -> OTLPTraceRequest {
        let root: JSONValue
        switch JSONValue.parse(body) {
        case .success(let value): root = value
        case .failure(let error): throw OTLPDecodeError("body: not valid JSON (\(error.message))")
        }
        guard case .object(let object) = root else { throw OTLPDecodeError("body: must be a JSON object, got \(root.typeName)") }
        var request = OTLPTraceRequest()
        for (r, item) in try array(object, "resourceSpans", "resource_spans", path: "").enumerated() {
            let path = "resourceSpans[\(r)]"
            guard case .object(let resourceSpans) = item else { throw OTLPDecodeError("\(path): must be an object, got \(item.typeName)") }
            var result = OTLPResourceSpans()
            if let resource = try objectField(resourceSpans, "resource", path: path) {
                result.resourceAttributes = try attributes(resource, path: "\(path).resource")
            }
            for (s, scopeItem) in try array(resourceSpans, "scopeSpans", "scope_spans", path: path).enumerated() {
                let scopePath = "\(path).scopeSpans[\(s)]"
                guard case .object(let scope) = scopeItem else { throw OTLPDecodeError("\(scopePath): must be an object, got \(scopeItem.typeName)") }
                for (k, spanItem) in try array(scope, "spans", path: scopePath).enumerated() {
                    let spanPath = "\(scopePath).spans[\(k)]"
                    do {
                        result.spans.append(try span(spanItem, path: spanPath))
                    } catch {
                        result.undecodableSpans.append(error.message)
                    }
                }
            }
            request.resourceSpans.append(result)
        }
        return request
    }

    static func span(_ value: JSONValue, path: String) throws(OTLPDecodeError) -> OTLPSpan {
        guard case .object(let object) = value else { throw OTLPDecodeError("\(path): must be an object, got \(value.typeName)") }
        var span = OTLPSpan()
        span.traceID = try hexID(object, "traceId", "trace_id", path: path)
        span.spanID = try hexID(object, "spanId", "span_id", path: path)
        span.parentSpanID = try hexID(object, "parentSpanId", "parent_span_id", path: path)
        span.name = try string(object, "name", path: path) ?? ""
        span.startTimeUnixNano = try unsigned(object, "startTimeUnixNano", "start_time_unix_nano", path: path) ?? 0
        span.endTimeUnixNano = try unsigned(object, "endTimeUnixNano", "end_time_unix_nano", path: path) ?? 0
        span.attributes = try attributes(object, path: path)
        if let status = try objectField(object, "status", path: path) {
            span.statusMessage = try string(status, "message", path: "\(path).status") ?? ""
            span.statusCode = try statusCode(status, path: "\(path).status")
        }
        return span
    }

    // MARK: - Values

    static func attributes(_ object: [String: JSONValue], path: String) throws(OTLPDecodeError) -> [OTLPKeyValue] {
        try array(object, "attributes", path: path).enumerated().map { (i, item) throws(OTLPDecodeError) in
            try keyValue(item, path: "\(path).attributes[\(i)]", depth: 0)
        }
    }

    static func keyValue(_ item: JSONValue, path: String, depth: Int) throws(OTLPDecodeError) -> OTLPKeyValue {
        guard case .object(let kv) = item else { throw OTLPDecodeError("\(path): must be an object, got \(item.typeName)") }
        let key = try string(kv, "key", path: path) ?? ""
        guard let raw = kv["value"], raw != .null else { return OTLPKeyValue(key, .empty) }
        return OTLPKeyValue(key, try anyValue(raw, path: "\(path) (\(key.prefix(64))).value", depth: depth))
    }

    static func anyValue(_ value: JSONValue, path: String, depth: Int) throws(OTLPDecodeError) -> OTLPValue {
        guard depth < OTLPLimits.maxValueDepth else {
            throw OTLPDecodeError("\(path): values nested deeper than \(OTLPLimits.maxValueDepth) levels")
        }
        guard case .object(let object) = value else { throw OTLPDecodeError("\(path): must be an AnyValue object, got \(value.typeName)") }
        if let s = try string(object, "stringValue", "string_value", path: path) { return .string(s) }
        if let (key, raw) = member(object, "boolValue", "bool_value") {
            guard case .bool(let b) = raw else { throw OTLPDecodeError("\(path).\(key): must be true or false, got \(raw.typeName)") }
            return .bool(b)
        }
        if let (key, raw) = member(object, "intValue", "int_value") { return .int(try int64(raw, field: "\(path).\(key)")) }
        if let (key, raw) = member(object, "doubleValue", "double_value") { return .double(try double(raw, field: "\(path).\(key)")) }
        if let (key, raw) = member(object, "arrayValue", "array_value") {
            guard case .object(let array) = raw else { throw OTLPDecodeError("\(path).\(key): must be an object, got \(raw.typeName)") }
            let values = try self.array(array, "values", path: "\(path).\(key)")
            return .array(try values.enumerated().map { (i, item) throws(OTLPDecodeError) in
                try anyValue(item, path: "\(path).\(key).values[\(i)]", depth: depth + 1)
            })
        }
        if let (key, raw) = member(object, "kvlistValue", "kvlist_value") {
            guard case .object(let list) = raw else { throw OTLPDecodeError("\(path).\(key): must be an object, got \(raw.typeName)") }
            let values = try array(list, "values", path: "\(path).\(key)")
            return .kvlist(try values.enumerated().map { (i, item) throws(OTLPDecodeError) in
                try keyValue(item, path: "\(path).\(key).values[\(i)]", depth: depth + 1)
            })
        }
        if let (key, raw) = member(object, "bytesValue", "bytes_value") {
            guard case .string(let text) = raw, let data = Data(base64Encoded: text) else {
                throw OTLPDecodeError("\(path).\(key): must be a base64 string")
            }
            return .bytes(Array(data))
        }
        return .empty
    }

    // MARK: - Scalars

    private static func member(_ object: [String: JSONValue], _ names: String...) -> (String, JSONValue)? {
        for name in names {
            if let value = object[name], value != .null { return (name, value) }
        }
        return nil
    }

    private static func array(_ object: [String: JSONValue], _ names: String..., path: String) throws(OTLPDecodeError) -> [JSONValue] {
        for name in names {
            guard let value = object[name], value != .null else { continue }
            guard case .array(let items) = value else {
                throw OTLPDecodeError("\(path.isEmpty ? "" : path + ".")\(name): must be an array, got \(value.typeName)")
            }
            return items
        }
        return []
    }

    private static func objectField(_ object: [String: JSONValue], _ name: String, path: String) throws(OTLPDecodeError) -> [String: JSONValue]? {
        guard let value = object[name], value != .null else { return nil }
        guard case .object(let inner) = value else { throw OTLPDecodeError("\(path).\(name): must be an object, got \(value.typeName)") }
        return inner
    }

    private static func string(_ object: [String: JSONValue], _ names: String..., path: String) throws(OTLPDecodeError) -> String? {
        for name in names {
            guard let value = object[name], value != .null else { continue }
            guard case .string(let text) = value else { throw OTLPDecodeError("\(path).\(name): must be a string, got \(value.typeName)") }
            return text
        }
        return nil
    }

    /// Trace and span ids: hex in OTLP JSON (case-insensitive); an empty string is an absent id.
    private static func hexID(_ object: [String: JSONValue], _ camel: String, _ snake: String, path: String) throws(OTLPDecodeError) -> [UInt8] {
        guard let (key, value) = member(object, camel, snake) else { return [] }
        guard case .string(let text) = value else { throw OTLPDecodeError("\(path).\(key): must be a hex string, got \(value.typeName)") }
        guard let bytes = Hex.decode(text) else {
            throw OTLPDecodeError("\(path).\(key): '\(text.prefix(64))' is not hex (OTLP JSON ids are hex, not base64)")
        }
        return bytes
    }

    private static func unsigned(_ object: [String: JSONValue], _ camel: String, _ snake: String, path: String) throws(OTLPDecodeError) -> UInt64? {
        guard let (key, value) = member(object, camel, snake) else { return nil }
        let field = "\(path).\(key)"
        switch value {
        case .int(let i):
            guard i >= 0 else { throw OTLPDecodeError("\(field): must not be negative, got \(i)") }
            return UInt64(i)
        case .string(let text):
            guard let parsed = UInt64(text) else { throw OTLPDecodeError("\(field): '\(text.prefix(64))' is not an unsigned decimal integer") }
            return parsed
        case .double(let d) where d >= 0 && d == d.rounded() && d < 1.8e19:
            return UInt64(d)
        default:
            throw OTLPDecodeError("\(field): must be a decimal string or a non-negative integer, got \(value.typeName)")
        }
    }

    private static func int64(_ value: JSONValue, field: String) throws(OTLPDecodeError) -> Int64 {
        switch value {
        case .int(let i): return i
        case .string(let text):
            guard let parsed = Int64(text) else { throw OTLPDecodeError("\(field): '\(text.prefix(64))' is not a decimal integer") }
            return parsed
        case .double(let d) where d == d.rounded() && abs(d) < 9.2e18:
            return Int64(d)
        default:
            throw OTLPDecodeError("\(field): must be an integer or a decimal string, got \(value.typeName)")
        }
    }

    private static func double(_ value: JSONValue, field: String) throws(OTLPDecodeError) -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        case .string(let text):
            guard let parsed = Double(text) else { throw OTLPDecodeError("\(field): '\(text.prefix(64))' is not a number") }
            return parsed
        default:
            throw OTLPDecodeError("\(field): must be a number, got \(value.typeName)")
        }
    }

    private static func statusCode(_ status: [String: JSONValue], path: String) throws(OTLPDecodeError) -> Int32 {
        guard let value = status["code"], value != .null else { return 0 }
        switch value {
        case .int(let i) where i >= Int64(Int32.min) && i <= Int64(Int32.max): return Int32(i)
        case .string("STATUS_CODE_UNSET"): return 0
        case .string("STATUS_CODE_OK"): return 1
        case .string("STATUS_CODE_ERROR"): return 2
        default:
            throw OTLPDecodeError("\(path).code: must be 0, 1 or 2 (unset, ok, error), got \(value)")
        }
    }
}

enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            i += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}
