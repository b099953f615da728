import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

let fixedNow = RFC3339.parse("2026-11-25T12:00:00Z")!

func normalize(_ json: String, now: Date = fixedNow) -> Result<UsageRecord, NormalizationError> {
    JSONValue.parse(Array(json.utf8)[...]).flatMap(RecordNormalizer(maxAge: 90 * 86400, now: { now }).normalize)
}

@Suite("Normalization of provider usage shapes")
struct ProviderShapeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let json: String
        let tokens: TokenCounts
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "OpenAI Chat", json: #"{"operation":"chat","model":"gpt-4o","usage":{"prompt_tokens":1000,"completion_tokens":300,"total_tokens":1300,"prompt_tokens_details":{"cached_tokens":200},"completion_tokens_details":{"reasoning_tokens":100}}}"#,
             tokens: TokenCounts(input: 800, cachedInput: 200, cacheWrite: 0, output: 300, reasoning: 100)),
        Case(name: "OpenAI Responses", json: #"{"operation":"chat","model":"o3","usage":{"input_tokens":500,"output_tokens":250,"total_tokens":750,"input_tokens_details":{"cached_tokens":100},"output_tokens_details":{"reasoning_tokens":200}}}"#,
             tokens: TokenCounts(input: 400, cachedInput: 100, cacheWrite: 0, output: 250, reasoning: 200)),
        Case(name: "Anthropic with cache", json: #"{"operation":"chat","model":"claude-sonnet-4","usage":{"input_tokens":50,"cache_read_input_tokens":1000,"cache_creation_input_tokens":300,"output_tokens":80}}"#,
             tokens: TokenCounts(input: 50, cachedInput: 1000, cacheWrite: 300, output: 80, reasoning: 0)),
        Case(name: "Anthropic plain", json: #"{"operation":"chat","model":"claude-3-5-haiku","usage":{"input_tokens":12,"output_tokens":34}}"#,
             tokens: TokenCounts(input: 12, output: 34)),
        Case(name: "Gemini", json: #"{"operation":"chat","model":"gemini-2.5-flash","usage":{"promptTokenCount":900,"cachedContentTokenCount":100,"candidatesTokenCount":40,"thoughtsTokenCount":60,"totalTokenCount":1000}}"#,
             tokens: TokenCounts(input: 800, cachedInput: 100, cacheWrite: 0, output: 100, reasoning: 60)),
        Case(name: "Gemini snake case via usage_metadata", json: #"{"operation":"chat","model":"gemini-2.5-flash","usage_metadata":{"prompt_token_count":10,"candidates_token_count":5}}"#,
             tokens: TokenCounts(input: 10, output: 5)),
        Case(name: "OpenAI Chat spread at top level", json: #"{"operation":"chat","model":"gpt-4o","prompt_tokens":70,"completion_tokens":30,"total_tokens":100,"prompt_tokens_details":{"cached_tokens":20}}"#,
             tokens: TokenCounts(input: 50, cachedInput: 20, output: 30)),
        Case(name: "explicit fields win over usage", json: #"{"operation":"chat","model":"gpt-4o","input_tokens":5,"output_tokens":6,"usage":{"prompt_tokens":1000,"completion_tokens":300}}"#,
             tokens: TokenCounts(input: 5, output: 6)),
        Case(name: "top-level cached split off prompt_tokens", json: #"{"operation":"chat","model":"gpt-4o","prompt_tokens":100,"cached_input_tokens":40,"completion_tokens":1}"#,
             tokens: TokenCounts(input: 60, cachedInput: 40, output: 1)),
    ]

    @Test(arguments: cases)
    func normalizesToDisjointTokens(_ c: Case) throws {
        let record = try normalize(c.json).get()
        #expect(record.tokens == c.tokens)
    }
}

@Suite("Field aliases")
struct AliasTests {
    @Test func everyAliasMapsToItsField() throws {
        let r = try normalize(#"""
            {"generation_id":"gen-1","created_at":"2026-11-25T11:00:00Z","model_id":"gpt-4o","service_name":"bot",
             "service_action":"horoscope","operation_category":"text_with_image","tokens_cost":12.5,"cost_dollars":0.25,
             "latency_ms":340,"input_data":{"prompt_len":3},"error_code":"RateLimitError","success":false,
             "prompt_tokens":10,"completion_tokens":5,"total_tokens":15}
            """#).get()
        #expect(r.id == "gen-1" && r.idWasGiven)
        #expect(r.timestamp == RFC3339.parse("2026-11-25T11:00:00Z"))
        #expect(r.model == "gpt-4o" && r.service == "bot" && r.operation == "horoscope")
        #expect(r.category == .text_with_image)
        #expect(r.creditsMicro == 12_500_000 && r.callerCostNanoUSD == 250_000_000)
        #expect(r.durationMs == 340 && r.errorType == "RateLimitError" && r.status == .error)
        #expect(r.metadataJSON == #"{"prompt_len":3}"#)
        #expect(r.tokens == TokenCounts(input: 10, output: 5))
    }

    @Test(arguments: [
        (#"{"request_id":"x","operation":"a","model":"m"}"#, "id"),
        (#"{"ai_model":"m","action":"a"}"#, "model"),
        (#"{"model":"m","action_type":"a"}"#, "operation"),
        (#"{"model":"m","operation":"a","category_code":"tts"}"#, "category"),
        (#"{"model":"m","operation":"a","credits_charged":3}"#, "credits"),
        (#"{"model":"m","operation":"a","total_cost_usd":0.5}"#, "cost"),
        (#"{"model":"m","operation":"a","request_duration_ms":7}"#, "duration"),
        (#"{"model":"m","operation":"a","processing_time_seconds":1.5}"#, "duration-seconds"),
        (#"{"model":"m","operation":"a","request_metadata":{"k":"v"}}"#, "metadata"),
        (#"{"model":"m","operation":"a","status":"completed"}"#, "status-completed"),
        (#"{"model":"m","operation":"a","status":"failed"}"#, "status-failed"),
        (#"{"model":"m","operation":"a","status":"ok"}"#, "status-ok"),
        (#"{"model":"m","operation":"a","status":"failure"}"#, "status-failure"),
    ])
    func aliasIsAccepted(json: String, field: String) throws {
        let r = try normalize(json).get()
        switch field {
        case "id": #expect(r.id == "x")
        case "model": #expect(r.model == "m" && r.operation == "a")
        case "operation": #expect(r.operation == "a")
        case "category": #expect(r.category == .tts)
        case "credits": #expect(r.creditsMicro == 3_000_000)
        case "cost": #expect(r.callerCostNanoUSD == 500_000_000)
        case "duration": #expect(r.durationMs == 7)
        case "duration-seconds": #expect(r.durationMs == 1500)
        case "metadata": #expect(r.metadataJSON == #"{"k":"v"}"#)
        case "status-completed", "status-ok": #expect(r.status == .success)
        case "status-failed", "status-failure": #expect(r.status == .error)
        default: Issue.record("unknown field \(field)")
        }
    }

    @Test func defaultsAndUnknownFieldsGoToMetadata() throws {
        let r = try normalize(#"{"operation":"chat","model":"gpt-4o","user_id":42,"plan":"pro","paying":true,"chat_id":"c-9","metadata":{"a":1}}"#).get()
        #expect(r.service == "default" && r.status == .success && !r.idWasGiven)
        #expect(r.userID == "42" && r.plan == "pro" && r.paying == true)
        #expect(r.timestamp == fixedNow)
        #expect(r.metadataJSON == #"{"a":1,"chat_id":"c-9"}"#)
    }

    @Test func timestampAsUnixSecondsAndOffsets() throws {
        let seconds = try normalize(#"{"operation":"a","model":"m","timestamp":1795000000.5}"#).get()
        #expect(seconds.timestamp.timeIntervalSince1970 == 1795000000.5)
        let offset = try normalize(#"{"operation":"a","model":"m","timestamp":"2026-11-25T14:30:00+03:00"}"#).get()
        #expect(offset.timestamp == RFC3339.parse("2026-11-25T11:30:00Z"))
    }

    @Test func errorMessageIsTruncatedToOneKiB() throws {
        let long = String(repeating: "é", count: 2000)
        let r = try normalize(#"{"operation":"a","model":"m","status":"error","error_message":"\#(long)"}"#).get()
        #expect(r.errorMessage!.utf8.count <= 1024 && r.errorMessage!.utf8.count >= 1022)
    }
}

@Suite("Invalid records are rejected with a message naming the field")
struct InvalidRecordTests {
    @Test(arguments: [
        (#"{"model":"gpt-4o"}"#, "operation: required"),
        (#"{"operation":"chat"}"#, "model: required"),
        (#"[1]"#, "record: must be a JSON object, got an array"),
        (#"{"operation":"chat","model":"m","input_tokens":-5}"#, "input_tokens: must not be negative, got -5"),
        (#"{"operation":"chat","model":"m","output_tokens":1.5}"#, "output_tokens: must be a whole number, got 1.5"),
        (#"{"operation":"chat","model":"m","output_tokens":"12"}"#, "output_tokens: must be a non-negative integer, got a string"),
        (#"{"operation":"chat","model":"m","input_tokens":1e20}"#, "input_tokens: 1e+20 is too large"),
        (#"{"operation":"chat","model":"m","output_tokens":5,"reasoning_tokens":9}"#, "reasoning_tokens: 9 exceeds output_tokens (5)"),
        (#"{"operation":"chat","model":"m","usage":{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":20}}}"#, "usage.prompt_tokens_details.cached_tokens: 20 exceeds usage.prompt_tokens (10)"),
        (#"{"operation":"chat","model":"m","usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":99}}"#, "usage.total_tokens: 99 is not prompt_tokens + completion_tokens (15)"),
        (#"{"operation":"chat","model":"m","usage":{"output_tokens":3,"output_tokens_details":{"reasoning_tokens":4}}}"#, "usage.reasoning tokens (4) exceed the output tokens (3)"),
        (#"{"operation":"chat","model":"m","usage":"lots"}"#, "usage: must be an object, got a string"),
        (#"{"operation":"chat","model":"m","category":"poetry"}"#, "category: unknown category 'poetry'"),
        (#"{"operation":"chat","model":"m","status":"maybe"}"#, "status: unknown status 'maybe'"),
        (#"{"operation":"chat","model":"m","timestamp":"yesterday"}"#, "timestamp: 'yesterday' is not an RFC 3339 timestamp"),
        (#"{"operation":"chat","model":"m","timestamp":"2027-01-01T00:00:00Z"}"#, "timestamp: 2027-01-01T00:00:00Z is more than 5 minutes in the future"),
        (#"{"operation":"chat","model":"m","timestamp":1795000000000}"#, "(Unix seconds expected; was it milliseconds?)"),
        (#"{"operation":"chat","model":"m","timestamp":"2020-01-01T00:00:00Z"}"#, "timestamp: 2020-01-01T00:00:00Z is older than the raw retention of 90 days"),
        (#"{"operation":"chat","model":"m","cost_usd":-1}"#, "cost_usd: must not be negative"),
        (#"{"operation":"chat","model":"m","units":{"frames":3}}"#, "units.frames: unknown unit"),
        (#"{"operation":"chat","model":"m","units":{"seconds":-3}}"#, "units.seconds: must not be negative"),
        (#"{"operation":"chat","model":"m","paying":"yes"}"#, "paying: must be true or false, got a string"),
        (#"{"operation":"","model":"m"}"#, "operation: must not be empty"),
        (#"{"operation":"chat","model":"m","status":"pending"}"#, "id: required when status is pending"),
        (#"{"operation":"chat","model":"m","usage":{"prompt_tokens":10,"completion_tokens":5},"total_tokens":14}"#, "total_tokens: 14 is not the sum"),
        (#"{"operation":"chat","model":"m","id":"a\u0000b"}"#, "id: contains a NUL character"),
        (#"{"operation":"ch\u0000at","model":"m"}"#, "operation: contains a NUL character"),
    ])
    func rejected(json: String, message: String) {
        switch normalize(json) {
        case .success(let record): Issue.record("accepted \(record)")
        case .failure(let error): #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func labelValueLongerThanLimitIsRejected() {
        let model = String(repeating: "m", count: 300)
        guard case .failure(let error) = normalize(#"{"operation":"chat","model":"\#(model)"}"#) else {
            Issue.record("accepted")
            return
        }
        #expect(error.message == "model: 300 bytes, longer than the limit of 256")
    }

    @Test func oversizedMetadataIsRejected() {
        let blob = String(repeating: "x", count: 20_000)
        guard case .failure(let error) = normalize(#"{"operation":"chat","model":"m","prompt":"\#(blob)"}"#) else {
            Issue.record("accepted")
            return
        }
        #expect(error.message.hasPrefix("metadata:"))
    }
}

@Suite("Request bodies")
struct IngestBodyTests {
    @Test func ndjsonKeepsValidLinesAndSkipsBlankOnes() {
        let body = "{\"a\":1}\n\n  \n{broken\n{\"b\":2}\r\n"
        let elements = IngestBody.elements(of: Array(body.utf8), format: .ndjson)
        #expect(elements.count == 3)
        #expect((try? elements[0].get()) == .object(["a": .int(1)]))
        #expect(throws: NormalizationError.self) { try elements[1].get() }
        #expect((try? elements[2].get()) == .object(["b": .int(2)]))
    }

    @Test func deepNestingIsRefusedBeforeDecoding() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: NormalizationError("invalid JSON: nested deeper than 64 levels")) { try JSONValue.parse(Array(deep.utf8)).get() }
        let fine = #"{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[","b":[[[1]]]}"#
        #expect((try? JSONValue.parse(Array(fine.utf8)).get()) != nil)
    }

    @Test func emptyAndTruncatedBodiesGiveOneError() {
        for body in ["", "   ", "[{\"a\":1},", "[]"] {
            let elements = IngestBody.elements(of: Array(body.utf8), format: .json)
            #expect(elements.count == 1)
            #expect(throws: NormalizationError.self) { try elements[0].get() }
        }
    }
}
