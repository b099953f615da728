import Foundation
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// Builds spans and requests for the OTLP tests, and encodes them as protobuf with the same field
/// numbers as opentelemetry-proto (the e2e differential test checks the decoder against the
/// official Python encoder; this one only saves hand-writing bytes).
enum OTLPFixture {
    static let start = RFC3339.parse("2026-11-25T11:59:00Z")!
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!
    static let startNanos = UInt64(start.timeIntervalSince1970) * 1_000_000_000
    static let traceID: [UInt8] = Array(0x10...0x1F)
    static let normalizer = RecordNormalizer(now: { now })

    static func span(_ attributes: [(String, OTLPValue)], name: String = "chat gpt-4o-mini", spanID: UInt8 = 1,
                     parent: UInt8? = nil, durationNanos: UInt64 = 1_500_000_000, status: Int32 = 0, message: String = "") -> OTLPSpan {
        OTLPSpan(traceID: traceID, spanID: [0, 0, 0, 0, 0, 0, 0xAB, spanID], parentSpanID: parent.map { [0, 0, 0, 0, 0, 0, 0xAB, $0] } ?? [],
                 name: name, startTimeUnixNano: startNanos, endTimeUnixNano: startNanos + durationNanos,
                 attributes: attributes.map { OTLPKeyValue($0.0, $0.1) }, statusCode: status, statusMessage: message)
    }

    static func request(_ spans: [OTLPSpan], service: String? = "chatbot") -> OTLPTraceRequest {
        OTLPTraceRequest(resourceSpans: [OTLPResourceSpans(
            resourceAttributes: service.map { [OTLPKeyValue("service.name", .string($0))] } ?? [], spans: spans)])
    }

    /// The one outcome of a single-span request (nil when the span was ignored).
    static func outcome(_ span: OTLPSpan, service: String? = "chatbot") -> Result<UsageRecord, NormalizationError>? {
        let outcomes = SpanMapping.records(from: request([span], service: service))
        precondition(outcomes.count <= 1)
        return outcomes.first.map { $0.record.flatMap(normalizer.normalize) }
    }

    // MARK: protobuf

    static func encode(_ request: OTLPTraceRequest) -> [UInt8] {
        var out = ProtoWriter()
        for resource in request.resourceSpans {
            var rs = ProtoWriter()
            var res = ProtoWriter()
            for kv in resource.resourceAttributes { res.lengthDelimited(1, encode(kv)) }
            rs.lengthDelimited(1, res.bytes)
            var scope = ProtoWriter()
            for span in resource.spans { scope.lengthDelimited(2, encode(span)) }
            rs.lengthDelimited(2, scope.bytes)
            out.lengthDelimited(1, rs.bytes)
        }
        return out.bytes
    }

    static func encode(_ span: OTLPSpan) -> [UInt8] {
        var w = ProtoWriter()
        w.lengthDelimited(1, span.traceID)
        w.lengthDelimited(2, span.spanID)
        if !span.parentSpanID.isEmpty { w.lengthDelimited(4, span.parentSpanID) }
        w.string(5, span.name)
        w.int(6, 3)  // kind CLIENT: a field the decoder skips
        w.fixed64(7, span.startTimeUnixNano)
        w.fixed64(8, span.endTimeUnixNano)
        for kv in span.attributes { w.lengthDelimited(9, encode(kv)) }
        var status = ProtoWriter()
        status.string(2, span.statusMessage)
        status.int(3, Int64(span.statusCode))
        w.lengthDelimited(15, status.bytes)
        return w.bytes
    }

    static func encode(_ kv: OTLPKeyValue) -> [UInt8] {
        var w = ProtoWriter()
        w.string(1, kv.key)
        w.lengthDelimited(2, encode(kv.value))
        return w.bytes
    }

    static func encode(_ value: OTLPValue) -> [UInt8] {
        var w = ProtoWriter()
        switch value {
        case .empty: break
        case .string(let s): w.lengthDelimited(1, Array(s.utf8))
        case .bool(let b): w.tag(2, .varint); w.varint(b ? 1 : 0)
        case .int(let i): w.tag(3, .varint); w.varint(UInt64(bitPattern: i))
        case .double(let d): w.fixed64(4, d.bitPattern)
        case .array(let items):
            var a = ProtoWriter()
            for item in items { a.lengthDelimited(1, encode(item)) }
            w.lengthDelimited(5, a.bytes)
        case .kvlist(let pairs):
            var l = ProtoWriter()
            for pair in pairs { l.lengthDelimited(1, encode(pair)) }
            w.lengthDelimited(6, l.bytes)
        case .bytes(let b): w.lengthDelimited(7, b)
        }
        return w.bytes
    }
}
