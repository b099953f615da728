import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("OTLP decoders (protobuf, JSON, gzip)")
struct OTLPDecoderTests {
    typealias F = OTLPFixture

    static let everyValueType: [(String, OTLPValue)] = [
        ("s", .string("héllo ✓")), ("empty-string", .string("")), ("b", .bool(true)), ("f", .bool(false)),
        ("i", .int(-9_223_372_036_854_775_808)), ("big", .int(9_223_372_036_854_775_807)), ("zero", .int(0)),
        ("d", .double(-1.5e-300)), ("bytes", .bytes([0, 255, 7])), ("none", .empty),
        ("arr", .array([.string("x"), .int(2), .array([.bool(false)])])),
        ("kv", .kvlist([OTLPKeyValue("inner", .double(2.5)), OTLPKeyValue("deeper", .kvlist([OTLPKeyValue("z", .string("z"))]))])),
    ]

    @Test func protobufRoundTripsEveryValueTypeAndSpanField() throws {
        let spans = [F.span(Self.everyValueType, name: "ünïcode span", spanID: 1, parent: 7, status: 2, message: "boom"),
                     F.span([], name: "", spanID: 2)]
        let request = OTLPTraceRequest(resourceSpans: [
            OTLPResourceSpans(resourceAttributes: [OTLPKeyValue("service.name", .string("svc"))], spans: spans),
            OTLPResourceSpans(resourceAttributes: [], spans: []),
        ])
        #expect(try OTLPProtobufDecoder.decode(F.encode(request)) == request)
    }

    @Test func protobufSkipsUnknownFieldsOfEveryWireType() throws {
        var span = ProtoWriter()
        span.lengthDelimited(1, F.traceID)
        span.tag(100, .varint); span.varint(300)
        span.fixed64(101, 42)
        span.tag(102, .fixed32); for _ in 0..<4 { span.varint(1) }
        span.lengthDelimited(3, Array("trace-state".utf8))  // a known field the decoder does not keep
        span.lengthDelimited(11, [0x0A, 0x01, 0x61])  // an event
        span.string(5, "kept")
        var scope = ProtoWriter()
        scope.lengthDelimited(1, [0x0A, 0x03, 0x6C, 0x69, 0x62])  // InstrumentationScope{name: "lib"}
        scope.lengthDelimited(2, span.bytes)
        var resourceSpans = ProtoWriter()
        resourceSpans.lengthDelimited(2, scope.bytes)
        resourceSpans.string(3, "https://opentelemetry.io/schemas/1.30.0")
        var request = ProtoWriter()
        request.lengthDelimited(1, resourceSpans.bytes)
        request.tag(99, .varint); request.varint(1)
        let decoded = try OTLPProtobufDecoder.decode(request.bytes)
        #expect(decoded.resourceSpans.first?.spans == [OTLPSpan(traceID: F.traceID, name: "kept")])
    }

    @Test func protobufMergesARepeatedStatusAndLetsTheLastScalarWin() throws {
        var span = ProtoWriter()
        span.string(5, "first")
        span.string(5, "second")
        span.lengthDelimited(15, [0x12, 0x01, 0x61])  // Status{message: "a"}
        span.lengthDelimited(15, [0x18, 0x02])  // Status{code: ERROR}
        var reader = ProtoReader(span.bytes)
        let decoded = try OTLPProtobufDecoder.span(&reader)
        #expect(decoded.name == "second" && decoded.statusMessage == "a" && decoded.status == .error)
    }

    @Test func anEmptyBodyIsAnEmptyExport() throws {
        #expect(try OTLPProtobufDecoder.decode([]) == OTLPTraceRequest())
    }

    struct Broken: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var error: String
        var testDescription: String { name }
    }

    static let broken: [Broken] = {
        let valid = F.encode(F.request([F.span([("k", .string("v"))])]))
        var deep: OTLPValue = .string("leaf")
        for _ in 0..<40 { deep = .array([deep]) }
        return [
            Broken(name: "truncated in the middle", bytes: Array(valid.prefix(valid.count - 3)), error: "runs past the end"),
            Broken(name: "truncated varint", bytes: [0x0A, 0xFF], error: "truncated varint"),
            Broken(name: "varint over 64 bits", bytes: Array(repeating: 0xFF, count: 9) + [0x7F], error: "varint longer than 64 bits"),
            Broken(name: "field number 0", bytes: [0x00, 0x00], error: "invalid field number 0"),
            Broken(name: "wire type 6", bytes: [0x0E], error: "invalid wire type 6"),
            Broken(name: "a group", bytes: [0x0B], error: "groups"),
            Broken(name: "resource_spans as a varint", bytes: [0x08, 0x01], error: "resource_spans[0]: wire type 0, expected 2"),
            Broken(name: "start time as a varint", bytes: wrap(span: [0x38, 0x01]), error: "start_time_unix_nano: wire type 0, expected 1"),
            Broken(name: "a name that is not UTF-8", bytes: wrap(span: [0x2A, 0x02, 0xC3, 0x28]), error: "not valid UTF-8"),
            Broken(name: "attribute values nested 40 deep", bytes: F.encode(F.request([F.span([("deep", deep)])])), error: "nested deeper than 32"),
            Broken(name: "text, not protobuf", bytes: Array(#"{"resourceSpans":[]}"#.utf8), error: ""),
        ]
    }()

    static func wrap(span: [UInt8]) -> [UInt8] {
        var scope = ProtoWriter()
        scope.lengthDelimited(2, span)
        var rs = ProtoWriter()
        rs.lengthDelimited(2, scope.bytes)
        var request = ProtoWriter()
        request.lengthDelimited(1, rs.bytes)
        return request.bytes
    }

    @Test(arguments: broken)
    func malformedProtobufIsAnErrorThatSaysWhere(_ case_: Broken) {
        #expect {
            _ = try OTLPProtobufDecoder.decode(case_.bytes)
        } throws: { error in
            guard let error = error as? OTLPDecodeError else { return false }
            return case_.error.isEmpty || error.message.contains(case_.error)
        }
    }

    @Test func jsonWithHexIdsStringInt64sUnknownKeysAndEnumNames() throws {
        let body = #"""
        {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}],"droppedAttributesCount":0},
          "scopeSpans":[{"scope":{"name":"lib"},"spans":[
            {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"","name":"chat",
             "kind":3,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
             "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"m","value":{"intValue":7}},
                           {"key":"d","value":{"doubleValue":"NaN"}},{"key":"b","value":{"bytesValue":"AP8H"}},
                           {"key":"a","value":{"arrayValue":{"values":[{"boolValue":true}]}}},
                           {"key":"kv","value":{"kvlistValue":{"values":[{"key":"x","value":{"stringValue":"y"}}]}}},
                           {"key":"e","value":{}}, {"key":"future","value":{"someNewValue":1}}],
             "events":[{"name":"e"}],"status":{"code":"STATUS_CODE_ERROR","message":"bad"},"futureField":true}]}],
          "schemaUrl":"x"}]}
        """#
        let decoded = try OTLPJSONDecoder.decode(Array(body.utf8))
        let resource = try #require(decoded.resourceSpans.first)
        #expect(resource.resourceAttributes == [OTLPKeyValue("service.name", .string("svc"))])
        let span = try #require(resource.spans.first)
        #expect(Hex.encode(span.traceID) == "5b8efff798038103d269b633813fc60c")
        #expect(Hex.encode(span.spanID) == "eee19b7ec3c1b174")
        #expect(span.parentSpanID.isEmpty)
        #expect(span.startTimeUnixNano == 1_544_712_660_000_000_000 && span.endTimeUnixNano == 1_544_712_661_000_000_000)
        #expect(span.status == .error && span.statusMessage == "bad")
        let values = span.attributes.map(\.value)
        #expect(values[0] == .int(42) && values[1] == .int(7) && values[3] == .bytes([0, 255, 7]))
        if case .double(let d) = values[2] { #expect(d.isNaN) } else { Issue.record("NaN not decoded") }
        #expect(values[4] == .array([.bool(true)]))
        #expect(values[5] == .kvlist([OTLPKeyValue("x", .string("y"))]))
        #expect(values[6] == .empty && values[7] == .empty)
    }

    @Test func jsonAcceptsTheSnakeCaseNamesProto3ParsersAccept() throws {
        let body = #"{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708","start_time_unix_nano":"5"}]}]}]}"#
        let span = try #require(try OTLPJSONDecoder.decode(Array(body.utf8)).resourceSpans.first?.spans.first)
        #expect(span.traceID == Array(1...16) && span.spanID == Array(1...8) && span.startTimeUnixNano == 5)
    }

    @Test func aJSONSpanOfTheWrongShapeIsRejectedAloneWithItsPath() throws {
        let body = #"""
        {"resourceSpans":[{"scopeSpans":[{"spans":[
          {"traceId":"not-hex","spanId":"0102030405060708"},
          {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","startTimeUnixNano":-1},
          {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","attributes":[{"key":"k","value":{"intValue":"1.5"}}]},
          {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060709","name":"fine"}]}]}]}
        """#
        let resource = try #require(try OTLPJSONDecoder.decode(Array(body.utf8)).resourceSpans.first)
        #expect(resource.spans.map(\.name) == ["fine"])
        #expect(resource.undecodableSpans.count == 3)
        #expect(resource.undecodableSpans[0].hasPrefix("resourceSpans[0].scopeSpans[0].spans[0].traceId: 'not-hex' is not hex"))
        #expect(resource.undecodableSpans[1].contains("spans[1].startTimeUnixNano: must not be negative"))
        #expect(resource.undecodableSpans[2].contains("spans[2].attributes[0] (k).value.intValue: '1.5' is not a decimal integer"))
    }

    @Test func jsonThatIsNotAnExportIsAnError() {
        for (body, message) in [("[]", "must be a JSON object"), (#"{"resourceSpans":{}}"#, "resourceSpans: must be an array"),
                                ("{oops", "not valid JSON"), (#"{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}"#, "spans: must be an array")] {
            #expect(throws: OTLPDecodeError.self) { try OTLPJSONDecoder.decode(Array(body.utf8)) }
            do { _ = try OTLPJSONDecoder.decode(Array(body.utf8)) } catch { #expect(error.message.contains(message), "\(error.message)") }
        }
    }

    @Test func theJSONEncoderWritesWhatTheJSONDecoderReads() throws {
        let request = F.request([F.span(Self.everyValueType, spanID: 1, parent: 2, status: 1, message: "ok")])
        let json = OTLPJSONEncoder.encode(request).serialized()
        #expect(try OTLPJSONDecoder.decode(Array(json.utf8)) == request)
    }

    @Test func gzipInflatesWithinTheLimitAndRefusesBeyondIt() throws {
        let body = F.encode(F.request((1...50).map { F.span(SpanMappingTableTests.usage, spanID: UInt8($0)) }))
        let compressed = gzipCompress(body)
        #expect(compressed.count < body.count)
        #expect(try Gzip.decompress(compressed, limit: body.count) == body)
        #expect(try Gzip.decompress(compressed + gzipCompress([1, 2]), limit: body.count + 2) == body + [1, 2])
        #expect(throws: Gzip.Failure.tooLarge(limit: body.count - 1)) { try Gzip.decompress(compressed, limit: body.count - 1) }
        // A bomb: 64 MiB of zeros in ~64 KiB stops at the limit.
        let bomb = gzipCompress([UInt8](repeating: 0, count: 64 << 20))
        #expect(throws: Gzip.Failure.tooLarge(limit: 1 << 20)) { try Gzip.decompress(bomb, limit: 1 << 20) }
        #expect { try Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), limit: 1 << 20) } throws: { error in
            (error as? Gzip.Failure) == .corrupt("the gzip stream is truncated")
        }
        #expect { try Gzip.decompress(body, limit: 1 << 20) } throws: { error in
            if case .corrupt(let reason) = error as? Gzip.Failure { return reason.contains("not a valid gzip stream") }
            return false
        }
    }
}
