import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Ingest through the live HTTP server")
struct IngestOverHTTPTests {
    @Test func allBodyFormsAliasesAndProviderShapesReachTheMetricsExactly() async throws {
        try await withLiveServer(testConfig()) { components, client in
            // One object: OpenAI Chat usage, aliases service_name/action/latency_ms, dated model name.
            let single = try await client.post("/v1/usage", json: #"""
                {"id":"r1","service_name":"bot","action":"horoscope","model":"gpt-4o-mini-2024-07-18","user_id":"u1",
                 "usage":{"prompt_tokens":1000,"completion_tokens":200,"total_tokens":1200,"prompt_tokens_details":{"cached_tokens":400}},
                 "latency_ms":350}
                """#)
            #expect(single.status == .ok)
            #expect(try single.json()["accepted"] as? Int == 1)

            // A JSON array: Anthropic shape with a prefixed dated name, Gemini shape as an error, one invalid record.
            let array = try await client.post("/v1/usage", json: #"""
                [{"id":"r2","service":"bot","operation":"chat","model":"anthropic/claude-sonnet-4-20250514",
                  "usage":{"input_tokens":50,"cache_read_input_tokens":1000,"cache_creation_input_tokens":300,"output_tokens":80},"duration_ms":1500},
                 {"id":"r3","service":"bot","operation":"chat","model":"gemini-2.5-flash","status":"error","error_type":"Timeout",
                  "usage":{"promptTokenCount":900,"cachedContentTokenCount":100,"candidatesTokenCount":40,"thoughtsTokenCount":60},"duration_ms":20},
                 {"operation":"chat"}]
                """#)
            #expect(array.status == .ok)
            let arrayAnswer = try array.json()
            #expect(arrayAnswer["accepted"] as? Int == 2 && arrayAnswer["rejected"] as? Int == 1)
            let errors = arrayAnswer["errors"] as? [[String: Any]]
            #expect(errors?.first?["index"] as? Int == 2)
            #expect((errors?.first?["error"] as? String)?.contains("model: required") == true)

            // NDJSON: OpenAI Responses shape, an unpriced model, a duplicate id, a blank and a broken line.
            let ndjson = try await client.post("/v1/usage", json: """
                {"id":"r4","operation":"chat","model":"o4-mini","usage":{"input_tokens":500,"output_tokens":250,"input_tokens_details":{"cached_tokens":100},"output_tokens_details":{"reasoning_tokens":200}}}
                {"id":"r5","operation":"chat","model":"my-private-model","provider":"acme","input_tokens":10,"output_tokens":5}
                {"id":"r1","operation":"x","model":"y"}

                {oops
                """, contentType: "application/x-ndjson")
            #expect(ndjson.status == .ok)
            let ndjsonAnswer = try ndjson.json()
            #expect(ndjsonAnswer["accepted"] as? Int == 2)
            #expect(ndjsonAnswer["duplicates"] as? Int == 1)
            #expect(ndjsonAnswer["rejected"] as? Int == 1)
            #expect((ndjsonAnswer["errors"] as? [[String: Any]])?.first?["index"] as? Int == 3)

            let m = try await client.metrics()
            let mini = ["service": "bot", "operation": "horoscope", "category": "text", "provider": "openai", "model": "gpt-4o-mini"]
            #expect(m.value("tokenmeter_requests_total", mini.merging(["status": "success"]) { $1 }) == 1)
            #expect(m.value("tokenmeter_tokens_total", mini.merging(["type": "input"]) { $1 }) == 600)
            #expect(m.value("tokenmeter_tokens_total", mini.merging(["type": "cached_input"]) { $1 }) == 400)
            #expect(m.value("tokenmeter_tokens_total", mini.merging(["type": "output"]) { $1 }) == 200)
            #expect(m.value("tokenmeter_cost_usd_total", mini) == 0.00024)  // 600×0.15 + 400×0.075 + 200×0.60 per 1M

            let claude = ["service": "bot", "operation": "chat", "category": "text", "provider": "anthropic", "model": "claude-sonnet-4"]
            #expect(m.value("tokenmeter_tokens_total", claude.merging(["type": "cache_write"]) { $1 }) == 300)
            #expect(m.value("tokenmeter_tokens_total", claude.merging(["type": "cached_input"]) { $1 }) == 1000)
            #expect(m.value("tokenmeter_cost_usd_total", claude) == 0.002775)  // 50×3 + 1000×0.3 + 300×3.75 + 80×15

            let gemini = ["service": "bot", "operation": "chat", "category": "text", "provider": "google", "model": "gemini-2.5-flash"]
            #expect(m.value("tokenmeter_requests_total", gemini.merging(["status": "error"]) { $1 }) == 1)
            #expect(m.value("tokenmeter_reasoning_tokens_total", gemini) == 60)
            #expect(m.value("tokenmeter_errors_total", ["service": "bot", "operation": "chat", "provider": "google", "model": "gemini-2.5-flash", "error_type": "Timeout"]) == 1)

            let o4 = ["service": "default", "operation": "chat", "category": "text", "provider": "openai", "model": "o4-mini"]
            #expect(m.value("tokenmeter_reasoning_tokens_total", o4) == 200)
            #expect(m.value("tokenmeter_tokens_total", o4.merging(["type": "input"]) { $1 }) == 400)
            #expect(abs(m.value("tokenmeter_cost_usd_total", o4)! - 0.0015675) < 1e-15)  // 400×1.1 + 100×0.275 + 250×4.4

            #expect(m.value("tokenmeter_unpriced_requests_total", ["provider": "acme", "model": "my-private-model"]) == 1)
            #expect(abs(m.sum("tokenmeter_cost_usd_total") - 0.0050755) < 1e-12)
            #expect(m.sum("tokenmeter_requests_total") == 5)

            #expect(m.value("tokenmeter_ingest_records_total", ["result": "accepted"]) == 5)
            #expect(m.value("tokenmeter_ingest_records_total", ["result": "duplicate"]) == 1)
            #expect(m.value("tokenmeter_ingest_records_total", ["result": "rejected"]) == 2)

            let miniDuration = ["service": "bot", "operation": "horoscope", "provider": "openai", "model": "gpt-4o-mini"]
            #expect(m.value("tokenmeter_request_duration_seconds_bucket", miniDuration.merging(["le": "0.32"]) { $1 }) == 0)
            #expect(m.value("tokenmeter_request_duration_seconds_bucket", miniDuration.merging(["le": "0.64"]) { $1 }) == 1)
            #expect(m.value("tokenmeter_request_duration_seconds_bucket", miniDuration.merging(["le": "+Inf"]) { $1 }) == 1)
            #expect(m.value("tokenmeter_request_duration_seconds_sum", miniDuration) == 0.35)
            #expect(m.value("tokenmeter_request_duration_seconds_count", miniDuration) == 1)
            let geminiDuration = ["service": "bot", "operation": "chat", "provider": "google", "model": "gemini-2.5-flash"]
            #expect(m.value("tokenmeter_request_duration_seconds_bucket", geminiDuration.merging(["le": "0.01"]) { $1 }) == 0)
            #expect(m.value("tokenmeter_request_duration_seconds_bucket", geminiDuration.merging(["le": "0.02"]) { $1 }) == 1)
            let buckets = m.series("tokenmeter_request_duration_seconds_bucket").filter { $0.labels["model"] == "gpt-4o-mini" }.compactMap { $0.labels["le"] }
            let expectedBuckets: [String] = (0...16).map { (n: Int) -> String in String(0.01 * Double(1 << n)) } + ["+Inf"]
            #expect(buckets == expectedBuckets)
            #expect(m.types["tokenmeter_request_duration_seconds"] == "histogram")
            #expect(m.types["tokenmeter_requests_total"] == "counter")

            // The store holds the same figures, exactly.
            let figures = try await components.store.figures(
                FigureQuery(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(60)),
                retention: RetentionPolicy(), now: Date())
            #expect(figures.groups[[]]?.costNanoUSD == 5_075_500)
            #expect(figures.groups[[]]?.requests == 5)
        }
    }

    @Test func aBodyWithOnlyInvalidRecordsIs400() async throws {
        try await withLiveServer(testConfig()) { _, client in
            let response = try await client.post("/v1/usage", json: #"[{"model":"m"},{"operation":"o"}]"#)
            #expect(response.status == .badRequest)
            let answer = try response.json()
            #expect(answer["accepted"] as? Int == 0 && answer["rejected"] as? Int == 2)
            let invalidJSON = try await client.post("/v1/usage", json: #"{"model": "#)
            #expect(invalidJSON.status == .badRequest)
            #expect(invalidJSON.text.contains("invalid JSON"))
        }
    }

    @Test func oversizedBodiesAre413AndOtherContentTypes415() async throws {
        var config = testConfig()
        config.bodyLimitBytes = 2048
        try await withLiveServer(config) { _, client in
            let big = "[" + Array(repeating: #"{"operation":"chat","model":"gpt-4o","input_tokens":1}"#, count: 60).joined(separator: ",") + "]"
            let tooLarge = try await client.post("/v1/usage", json: big)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(try tooLarge.json()["error"] as? String != nil)
            let form = try await client.post("/v1/usage", json: "a=b", contentType: "application/x-www-form-urlencoded")
            #expect(form.status == .unsupportedMediaType)
            #expect((try form.json()["error"] as? String)?.contains("application/x-ndjson") == true)
            let notFound = try await client.get("/v1/nothing")
            #expect(notFound.status == .notFound)
            #expect(try notFound.json()["error"] as? String != nil)
        }
    }

    @Test func pendingRecordsCountOnlyOnceCompleted() async throws {
        try await withLiveServer(testConfig()) { _, client in
            try await client.post("/v1/usage", json: #"{"id":"p1","operation":"gen","model":"gpt-4o-mini","status":"pending","input_tokens":100}"#)
            var m = try await client.metrics()
            #expect(m.value("tokenmeter_pending_requests", ["service": "default", "operation": "gen", "model": "gpt-4o-mini"]) == 1)
            #expect(m.sum("tokenmeter_requests_total") == 0)

            let done = try await client.execute(uri: "/v1/usage/p1", method: .patch, headers: [.contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"status":"success","output_tokens":50,"duration_ms":100}"#))
            #expect(done.status == .ok)
            #expect(try done.json()["cost_usd"] as? String == "0.000045000")  // 100×0.15 + 50×0.60 per 1M
            m = try await client.metrics()
            #expect(m.value("tokenmeter_pending_requests", ["service": "default", "operation": "gen", "model": "gpt-4o-mini"]) == nil)  // removed at 0
            #expect(m.value("tokenmeter_requests_total", ["service": "default", "operation": "gen", "category": "text", "provider": "openai", "model": "gpt-4o-mini", "status": "success"]) == 1)
            #expect(m.value("tokenmeter_cost_usd_total", ["service": "default", "operation": "gen", "category": "text", "provider": "openai", "model": "gpt-4o-mini"]) == 0.000045)

            let again = try await client.execute(uri: "/v1/usage/p1", method: .patch, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"status":"error"}"#))
            #expect(again.status == .conflict)
            let unknown = try await client.execute(uri: "/v1/usage/nope", method: .patch, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"status":"success"}"#))
            #expect(unknown.status == .notFound)
            try await client.post("/v1/usage", json: #"{"id":"a b/c","operation":"gen","model":"gpt-4o-mini","status":"pending"}"#)
            let encoded = try await client.execute(uri: "/v1/usage/a%20b%2Fc", method: .patch, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"status":"success"}"#))
            #expect(encoded.status == .ok)
            let bad = try await client.execute(uri: "/v1/usage/p1", method: .patch, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"status":"pending"}"#))
            #expect(bad.status == .badRequest)
        }
    }

    @Test func labelHostileValuesRoundTripThroughTheExposition() async throws {
        let hostile = ["we\"ird\\model\nnext}", "#comment {x=\"y\"}", "модель-🚀-é", "tab\there"]
        try await withLiveServer(testConfig()) { _, client in
            for (i, name) in hostile.enumerated() {
                let record: [String: Any] = ["id": "h\(i)", "operation": name, "model": name, "service": name, "error_type": name,
                                             "status": "error", "input_tokens": 1, "duration_ms": 5]
                let json = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
                #expect(try await client.post("/v1/usage", json: json).status == .ok)
            }
            let m = try await client.metrics()
            for name in hostile {
                #expect(m.value("tokenmeter_requests_total", ["service": name, "operation": name, "category": "text", "provider": "unknown", "model": name, "status": "error"]) == 1)
                #expect(m.value("tokenmeter_errors_total", ["service": name, "operation": name, "provider": "unknown", "model": name, "error_type": name]) == 1)
            }
        }
    }

    @Test func openMetricsIsServedWhenAsked() async throws {
        try await withLiveServer(testConfig()) { _, client in
            try await client.post("/v1/usage", json: #"{"operation":"chat","model":"gpt-4o","input_tokens":1}"#)
            let response = try await client.get("/metrics", headers: [.accept: "application/openmetrics-text; version=1.0.0"])
            #expect(response.headers[.contentType]?.hasPrefix("application/openmetrics-text") == true)
            #expect(response.text.hasSuffix("# EOF\n"))
            #expect(response.text.contains("# TYPE tokenmeter_requests counter"))
            #expect(response.text.contains("tokenmeter_requests_total{"))
        }
    }

    @Test func aFloodOfTenThousandModelsKeepsTheSeriesBoundedAndTheServerUp() async throws {
        try await withLiveServer(testConfig()) { _, client in
            let body = (0..<10_000).map { #"{"operation":"chat","model":"flood-\#($0)","input_tokens":1}"# }.joined(separator: "\n")
            let response = try await client.post("/v1/usage", json: body, contentType: "application/x-ndjson")
            #expect(try response.json()["accepted"] as? Int == 10_000)
            let m = try await client.metrics()
            #expect(Set(m.series("tokenmeter_requests_total").compactMap { $0.labels["model"] }).count == 201)
            #expect(m.series("tokenmeter_unpriced_requests_total").count == 201)
            #expect(m.sum("tokenmeter_requests_total") == 10_000)
            #expect(m.value("tokenmeter_label_overflow_total", ["label": "model"]) == 9_800)
            #expect(try await client.get("/healthz").status == .ok)
        }
    }
}
