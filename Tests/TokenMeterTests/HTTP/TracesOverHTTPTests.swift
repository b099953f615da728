import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("POST /v1/traces through the live HTTP server")
struct TracesOverHTTPTests {
    typealias F = OTLPFixture

    static func chat(_ id: UInt8, input: Int64 = 1000, cached: Int64 = 400, output: Int64 = 200) -> OTLPSpan {
        F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.provider.name", .string("openai")),
                ("gen_ai.request.model", .string("gpt-4o-mini")), ("gen_ai.usage.input_tokens", .int(input)),
                ("gen_ai.usage.cache_read.input_tokens", .int(cached)), ("gen_ai.usage.output_tokens", .int(output))], spanID: id)
    }

    static func export(_ client: any TestClientProtocol, _ body: [UInt8], contentType: String = "application/x-protobuf",
                       encoding: String? = nil, token: String? = nil, path: String = "/v1/traces") async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: contentType]
        if let encoding { headers[.contentEncoding] = encoding }
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(bytes: body))
    }

    static let labels = ["service": "chatbot", "operation": "chat", "category": "text", "provider": "openai", "model": "gpt-4o-mini"]

    @Test func protobufExportIsCountedExactlyAndAReExportChangesNothing() async throws {
        try await withLiveServer(testConfig(), now: { F.now }) { _, client in
            let body = F.encode(F.request([Self.chat(1), Self.chat(2), F.span([("http.route", .string("/ask"))], spanID: 3)]))
            let first = try await Self.export(client, body)
            #expect(first.status == .ok)
            #expect(first.headers[.contentType] == "application/x-protobuf")
            #expect(first.body.readableBytes == 0)  // ExportTraceServiceResponse with partial_success unset

            let m = try await client.metrics()
            #expect(m.value("tokenmeter_requests_total", Self.labels.merging(["status": "success"]) { $1 }) == 2)
            #expect(m.value("tokenmeter_tokens_total", Self.labels.merging(["type": "input"]) { $1 }) == 1200)
            #expect(m.value("tokenmeter_tokens_total", Self.labels.merging(["type": "cached_input"]) { $1 }) == 800)
            #expect(m.value("tokenmeter_cost_usd_total", Self.labels) == 0.00048)  // 2 × (600×0.15 + 400×0.075 + 200×0.60) per 1M

            let again = try await Self.export(client, gzipCompress(body), encoding: "gzip")
            #expect(again.status == .ok)
            let after = try await client.metrics()
            #expect(after.value("tokenmeter_requests_total", Self.labels.merging(["status": "success"]) { $1 }) == 2)
            #expect(after.value("tokenmeter_cost_usd_total", Self.labels) == 0.00048)
            #expect(after.sum("tokenmeter_ingest_records_total", where: ["result": "duplicate"]) == 2)
        }
    }

    @Test func jsonExportAnswersPartialSuccessNamingTheRejectedSpans() async throws {
        try await withLiveServer(testConfig(), now: { F.now }) { _, client in
            let request = F.request([Self.chat(1), Self.chat(2, input: 10, cached: 50), Self.chat(3)])
            let body = Array(OTLPJSONEncoder.encode(request).serialized().utf8)
            let response = try await Self.export(client, body, contentType: "application/json")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let partial = try #require(try response.json()["partialSuccess"] as? [String: Any])
            #expect(partial["rejectedSpans"] as? String == "1")
            let message = try #require(partial["errorMessage"] as? String)
            #expect(message.hasPrefix("1 of 3 spans rejected: resource_spans[0] span 1 (span_id 000000000000ab02): gen_ai.usage.cache_read.input_tokens = 50 exceeds"))
            let m = try await client.metrics()
            #expect(m.value("tokenmeter_requests_total", Self.labels.merging(["status": "success"]) { $1 }) == 2)
            #expect(m.sum("tokenmeter_ingest_records_total", where: ["result": "rejected"]) == 1)

            let clean = try await Self.export(client, Array(OTLPJSONEncoder.encode(F.request([Self.chat(9)])).serialized().utf8), contentType: "application/json")
            #expect(String(buffer: clean.body) == "{}")
        }
    }

    @Test func bodyLimitAppliesBeforeAndAfterGzip() async throws {
        var config = testConfig()
        config.bodyLimitBytes = 4096
        try await withLiveServer(config, now: { F.now }) { _, client in
            let big = F.encode(F.request((1...60).map { Self.chat(UInt8($0)) }))
            #expect(big.count > 4096)
            let compressed = gzipCompress(big)
            #expect(compressed.count < 4096)
            let inflated = try await Self.export(client, compressed, encoding: "gzip")
            #expect(inflated.status == .contentTooLarge)
            let status = try #require(try? OTLPTestStatus(inflated.body))
            #expect(status.code == 3 && status.message.contains("inflates to more than the limit of 4096 bytes"))
            #expect(try await Self.export(client, big).status == .contentTooLarge)
        }
    }

    @Test func undecodableBodiesAndUnsupportedTypesAreRefusedInTheRequestsEncoding() async throws {
        try await withLiveServer(testConfig()) { _, client in
            let garbage = try await Self.export(client, [0x0A, 0xFF])
            #expect(garbage.status == .badRequest)
            #expect(garbage.headers[.contentType] == "application/x-protobuf")
            let status = try OTLPTestStatus(garbage.body)
            #expect(status.code == 3)
            #expect(status.message == "not a valid OTLP ExportTraceServiceRequest (protobuf): truncated varint")

            let json = try await Self.export(client, Array("{oops".utf8), contentType: "application/json")
            #expect(json.status == .badRequest)
            let answer = try json.json()
            #expect(answer["code"] as? Int == 3)
            #expect((answer["error"] as? String)?.contains("not valid JSON") == true)

            #expect(try await Self.export(client, [0x1F, 0x8B, 0], encoding: "gzip").status == .badRequest)
            #expect(try await Self.export(client, [], contentType: "text/plain").status == .unsupportedMediaType)
            #expect(try await Self.export(client, [], encoding: "br").status == .unsupportedMediaType)
        }
    }

    @Test func metricsAndLogsSignalsPointToTraces() async throws {
        try await withLiveServer(testConfig()) { _, client in
            for signal in ["metrics", "logs"] {
                let response = try await Self.export(client, [], contentType: "application/json", path: "/v1/\(signal)")
                #expect(response.status == .notFound)
                let message = try #require(try response.json()["message"] as? String)
                #expect(message.contains("does not take OTLP \(signal)") && message.contains("POST /v1/traces"))
            }
        }
    }

    @Test func exportersNeedTheIngestRole() async throws {
        let config = testConfig(tokens: [(.ingest, "ingest-token-1"), (.read, "read-token-1")])
        try await withLiveServer(config, now: { F.now }) { _, client async throws in
            let body = F.encode(F.request([Self.chat(1)]))
            #expect(try await Self.export(client, body).status == .unauthorized)
            #expect(try await Self.export(client, body, token: "read-token-1").status == .forbidden)
            #expect(try await Self.export(client, body, token: "ingest-token-1").status == .ok)
            #expect(try await Self.export(client, [], token: "ingest-token-1", path: "/v1/metrics").status == .notFound)
        }
    }

    @Test func aFailingStoreAnswers503WithRetryAfter() async throws {
        let config = testConfig()
        let store = FaultInjectingStore(try SQLiteStore(path: config.databasePath, synchronous: .normal))
        let components = try await AppComponents.open(config: config, store: store, now: { F.now })
        let app = try buildApplication(components, logger: .init(label: "test"))
        try await app.test(.live) { client in
            store.failing.withLock { $0 = true }
            let failed = try await Self.export(client, F.encode(F.request([Self.chat(1)])))
            #expect(failed.status == .serviceUnavailable)
            #expect(failed.headers[.retryAfter] == "5")
            #expect(try OTLPTestStatus(failed.body).code == 14)
            store.failing.withLock { $0 = false }
            #expect(try await Self.export(client, F.encode(F.request([Self.chat(1)]))).status == .ok)
        }
    }
}

/// `google.rpc.Status` read back from a protobuf error body.
struct OTLPTestStatus {
    var code: Int32 = 0
    var message = ""

    init(_ buffer: ByteBuffer) throws {
        var reader = ProtoReader(Array(buffer.readableBytesView))
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1: code = Int32(truncatingIfNeeded: try reader.varint())
            case 2: message = try reader.string()
            default: try reader.skip(wire)
            }
        }
    }
}
