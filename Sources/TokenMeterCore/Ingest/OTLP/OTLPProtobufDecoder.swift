/// Decodes `application/x-protobuf` bodies: `ExportTraceServiceRequest` from
/// opentelemetry-proto v1 (trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto).
/// Field numbers below are those of the .proto files; unknown fields are skipped, as proto3 requires.
/// A repeated embedded message field that appears twice is merged (proto3 semantics), a repeated
/// scalar's last value wins.
public enum OTLPProtobufDecoder {
    public static func decode(_ body: [UInt8]) throws(OTLPDecodeError) -> OTLPTraceRequest {
        var reader = ProtoReader(body)
        var request = OTLPTraceRequest()
        while let (number, wire) = try reader.nextField() {
            if number == 1 {
                let path = "resource_spans[\(request.resourceSpans.count)]"
                try ProtoReader.expect(wire, .lengthDelimited, field: path)
                var message = try reader.message()
                do {
                    request.resourceSpans.append(try resourceSpans(&message))
                } catch {
                    throw error.at(path)
                }
            } else {
                try reader.skip(wire)
            }
        }
        return request
    }

    private static func resourceSpans(_ reader: inout ProtoReader) throws(OTLPDecodeError) -> OTLPResourceSpans {
        var result = OTLPResourceSpans()
        var scopes = 0
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:  // Resource resource
                try ProtoReader.expect(wire, .lengthDelimited, field: "resource")
                var message = try reader.message()
                while let (field, fieldWire) = try message.nextField() {
                    if field == 1 {  // repeated KeyValue attributes
                        let path = "resource.attributes[\(result.resourceAttributes.count)]"
                        try ProtoReader.expect(fieldWire, .lengthDelimited, field: path)
                        var kv = try message.message()
                        do { result.resourceAttributes.append(try keyValue(&kv, depth: 0)) } catch { throw error.at(path) }
                    } else {
                        try message.skip(fieldWire)
                    }
                }
            case 2:  // repeated ScopeSpans scope_spans
                let path = "scope_spans[\(scopes)]"
                try ProtoReader.expect(wire, .lengthDelimited, field: path)
                var message = try reader.message()
                do { try scopeSpans(&message, into: &result.spans) } catch { throw error.at(path) }
                scopes += 1
            default:
                try reader.skip(wire)
            }
        }
        return result
    }

    private static func scopeSpans(_ reader: inout ProtoReader, into spans: inout [OTLPSpan]) throws(OTLPDecodeError) {
        var count = 0
        while let (number, wire) = try reader.nextField() {
            if number == 2 {  // repeated Span spans
                let path = "spans[\(count)]"
                try ProtoReader.expect(wire, .lengthDelimited, field: path)
                var message = try reader.message()
                do { spans.append(try span(&message)) } catch { throw error.at(path) }
                count += 1
            } else {
                try reader.skip(wire)
            }
        }
    }

    static func span(_ reader: inout ProtoReader) throws(OTLPDecodeError) -> OTLPSpan {
        var span = OTLPSpan()
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(wire, .lengthDelimited, field: "trace_id")
                span.traceID = try reader.bytesField()
            case 2:
                try ProtoReader.expect(wire, .lengthDelimited, field: "span_id")
                span.spanID = try reader.bytesField()
            case 4:
                try ProtoReader.expect(wire, .lengthDelimited, field: "parent_span_id")
                span.parentSpanID = try reader.bytesField()
            case 5:
                try ProtoReader.expect(wire, .lengthDelimited, field: "name")
                span.name = try reader.string()
            case 7:
                try ProtoReader.expect(wire, .fixed64, field: "start_time_unix_nano")
                span.startTimeUnixNano = try reader.fixed64()
            case 8:
                try ProtoReader.expect(wire, .fixed64, field: "end_time_unix_nano")
                span.endTimeUnixNano = try reader.fixed64()
            case 9:
                let path = "attributes[\(span.attributes.count)]"
                try ProtoReader.expect(wire, .lengthDelimited, field: path)
                var message = try reader.message()
                do { span.attributes.append(try keyValue(&message, depth: 0)) } catch { throw error.at(path) }
            case 15:  // Status status: message = 2, code = 3
                try ProtoReader.expect(wire, .lengthDelimited, field: "status")
                var message = try reader.message()
                while let (field, fieldWire) = try message.nextField() {
                    switch field {
                    case 2:
                        try ProtoReader.expect(fieldWire, .lengthDelimited, field: "status.message")
                        span.statusMessage = try message.string()
                    case 3:
                        try ProtoReader.expect(fieldWire, .varint, field: "status.code")
                        span.statusCode = Int32(truncatingIfNeeded: try message.varint())
                    default:
                        try message.skip(fieldWire)
                    }
                }
            default:
                try reader.skip(wire)
            }
        }
        return span
    }

    static func keyValue(_ reader: inout ProtoReader, depth: Int) throws(OTLPDecodeError) -> OTLPKeyValue {
        var key = ""
        var value = OTLPValue.empty
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(wire, .lengthDelimited, field: "key")
                key = try reader.string()
            case 2:
                try ProtoReader.expect(wire, .lengthDelimited, field: "value")
                var message = try reader.message()
                do { value = try anyValue(&message, depth: depth) } catch { throw error.at(key.isEmpty ? "value" : key) }
            default:
                try reader.skip(wire)
            }
        }
        return OTLPKeyValue(key, value)
    }

    static func anyValue(_ reader: inout ProtoReader, depth: Int) throws(OTLPDecodeError) -> OTLPValue {
        guard depth < OTLPLimits.maxValueDepth else {
            throw OTLPDecodeError("values nested deeper than \(OTLPLimits.maxValueDepth) levels")
        }
        var value = OTLPValue.empty
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try ProtoReader.expect(wire, .lengthDelimited, field: "string_value")
                value = .string(try reader.string())
            case 2:
                try ProtoReader.expect(wire, .varint, field: "bool_value")
                value = .bool(try reader.varint() != 0)
            case 3:
                try ProtoReader.expect(wire, .varint, field: "int_value")
                value = .int(Int64(bitPattern: try reader.varint()))
            case 4:
                try ProtoReader.expect(wire, .fixed64, field: "double_value")
                value = .double(Double(bitPattern: try reader.fixed64()))
            case 5, 6:  // ArrayValue { repeated AnyValue values = 1 }, KeyValueList { repeated KeyValue values = 1 }
                try ProtoReader.expect(wire, .lengthDelimited, field: number == 5 ? "array_value" : "kvlist_value")
                var message = try reader.message()
                var items: [OTLPValue] = []
                var pairs: [OTLPKeyValue] = []
                while let (field, fieldWire) = try message.nextField() {
                    guard field == 1 else { try message.skip(fieldWire); continue }
                    try ProtoReader.expect(fieldWire, .lengthDelimited, field: "values")
                    var inner = try message.message()
                    if number == 5 {
                        items.append(try anyValue(&inner, depth: depth + 1))
                    } else {
                        pairs.append(try keyValue(&inner, depth: depth + 1))
                    }
                }
                value = number == 5 ? .array(items) : .kvlist(pairs)
            case 7:
                try ProtoReader.expect(wire, .lengthDelimited, field: "bytes_value")
                value = .bytes(try reader.bytesField())
            default:
                try reader.skip(wire)
            }
        }
        return value
    }
}
