import Foundation

/// Writes a decoded request back as OTLP JSON (hex ids, int64 and fixed64 as decimal strings),
/// for `tokenmeter otlp decode`: what tokenmeter read from an export, field by field. Only the
/// fields tokenmeter keeps appear (no events, links, scopes or trace state).
public enum OTLPJSONEncoder {
    public static func encode(_ request: OTLPTraceRequest) -> JSONValue {
        .object(["resourceSpans": .array(request.resourceSpans.map { resource in
            .object([
                "resource": .object(["attributes": attributes(resource.resourceAttributes)]),
                "scopeSpans": .array([.object(["spans": .array(resource.spans.map(span))])]),
            ])
        })])
    }

    static func span(_ span: OTLPSpan) -> JSONValue {
        .object([
            "traceId": .string(Hex.encode(span.traceID)),
            "spanId": .string(Hex.encode(span.spanID)),
            "parentSpanId": .string(Hex.encode(span.parentSpanID)),
            "name": .string(span.name),
            "startTimeUnixNano": .string(String(span.startTimeUnixNano)),
            "endTimeUnixNano": .string(String(span.endTimeUnixNano)),
            "attributes": attributes(span.attributes),
            "status": .object(["code": .int(Int64(span.statusCode)), "message": .string(span.statusMessage)]),
        ])
    }

    static func attributes(_ list: [OTLPKeyValue]) -> JSONValue {
        .array(list.map { .object(["key": .string($0.key), "value": value($0.value)]) })
    }

    static func value(_ value: OTLPValue) -> JSONValue {
        switch value {
        case .empty: .object([:])
        case .string(let s): .object(["stringValue": .string(s)])
        case .bool(let b): .object(["boolValue": .bool(b)])
        case .int(let i): .object(["intValue": .string(String(i))])
        case .double(let d):
            if d.isNaN { .object(["doubleValue": .string("NaN")]) }
            else if d.isInfinite { .object(["doubleValue": .string(d > 0 ? "Infinity" : "-Infinity")]) }
            else { .object(["doubleValue": .double(d)]) }
        case .bytes(let b): .object(["bytesValue": .string(Data(b).base64EncodedString())])
        case .array(let items): .object(["arrayValue": .object(["values": .array(items.map(Self.value))])])
        case .kvlist(let pairs): .object(["kvlistValue": .object(["values": attributes(pairs)])])
        }
    }
}
