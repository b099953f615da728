import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// Every serialization the real SDKs produce (pydantic `model_dump()` with its nulls,
/// `exclude_none`, camelCase aliases, whole response objects, final stream chunks) read by values.
@Suite("Usage shapes are detected from values, not key presence")
struct UsageShapeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let json: String
        let tokens: TokenCounts
        var unrecognized: [String: Int64] = [:]
        var routerCostNanoUSD: Int64?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // Anthropic: the SDK's model_dump() carries output_tokens_details: null and more nulls.
        Case(name: "Anthropic model_dump() with null details",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":300},"cache_creation_input_tokens":300,"cache_read_input_tokens":1000,"inference_geo":null,"input_tokens":50,"output_tokens":80,"output_tokens_details":null,"server_tool_use":null,"service_tier":"standard","speed":null}}"#,
             tokens: TokenCounts(input: 50, cachedInput: 1000, cacheWrite: 300, output: 80)),
        Case(name: "Anthropic exclude_none",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"cache_creation_input_tokens":300,"cache_read_input_tokens":1000,"input_tokens":50,"output_tokens":80}}"#,
             tokens: TokenCounts(input: 50, cachedInput: 1000, cacheWrite: 300, output: 80)),
        Case(name: "Anthropic 1-hour and 5-minute cache writes",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"cache_creation":{"ephemeral_1h_input_tokens":2000,"ephemeral_5m_input_tokens":500},"cache_creation_input_tokens":2500,"cache_read_input_tokens":0,"input_tokens":20,"output_tokens":10}}"#,
             tokens: TokenCounts(input: 20, cacheWrite: 2500, output: 10, cacheWrite1h: 2000)),
        Case(name: "Anthropic cache_creation without the total",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"cache_creation":{"ephemeral_1h_input_tokens":200,"ephemeral_5m_input_tokens":100},"input_tokens":20,"output_tokens":10}}"#,
             tokens: TokenCounts(input: 20, cacheWrite: 300, output: 10, cacheWrite1h: 200)),
        Case(name: "Anthropic extended thinking (output_tokens_details.thinking_tokens)",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"cache_creation":null,"cache_creation_input_tokens":null,"cache_read_input_tokens":null,"input_tokens":400,"output_tokens":900,"output_tokens_details":{"thinking_tokens":600}}}"#,
             tokens: TokenCounts(input: 400, output: 900, reasoning: 600)),
        Case(name: "Anthropic thinking with zero cache fields",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":400,"output_tokens":900,"output_tokens_details":{"thinking_tokens":600}}}"#,
             tokens: TokenCounts(input: 400, output: 900, reasoning: 600)),
        Case(name: "Anthropic server tool use is flagged, not dropped",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":5,"server_tool_use":{"web_search_requests":3,"web_fetch_requests":0}}}"#,
             tokens: TokenCounts(input: 10, output: 5), unrecognized: ["server_tool_use.web_search_requests": 3]),
        Case(name: "Anthropic whole Message object",
             json: #"{"operation":"chat","id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"SECRET"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":3,"cache_read_input_tokens":11,"cache_creation_input_tokens":null,"output_tokens_details":null}}"#,
             tokens: TokenCounts(input: 7, cachedInput: 11, output: 3)),
        Case(name: "Anthropic stream message_delta usage",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"input_tokens":9,"output_tokens":44,"output_tokens_details":null,"server_tool_use":null}}"#,
             tokens: TokenCounts(input: 9, cachedInput: 100, output: 44)),
        // OpenAI Chat and the providers that copy it.
        Case(name: "OpenAI Chat model_dump() with null details",
             json: #"{"operation":"chat","model":"gpt-4o","usage":{"completion_tokens":30,"prompt_tokens":100,"total_tokens":130,"completion_tokens_details":null,"prompt_tokens_details":null}}"#,
             tokens: TokenCounts(input: 100, output: 30)),
        Case(name: "OpenAI Chat with cache read, cache write and reasoning",
             json: #"{"operation":"chat","model":"o4-mini","usage":{"completion_tokens":300,"prompt_tokens":2000,"total_tokens":2300,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":200,"rejected_prediction_tokens":0,"text_tokens":null},"prompt_tokens_details":{"audio_tokens":0,"cache_write_tokens":500,"cached_tokens":1024,"image_tokens":null,"text_tokens":null}}}"#,
             tokens: TokenCounts(input: 476, cachedInput: 1024, cacheWrite: 500, output: 300, reasoning: 200)),
        Case(name: "OpenAI Chat final stream chunk",
             json: #"{"operation":"chat","id":"chatcmpl-1","object":"chat.completion.chunk","created":1796000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":5,"total_tokens":55,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
             tokens: TokenCounts(input: 50, output: 5)),
        Case(name: "OpenRouter usage.cost is the router's figure",
             json: #"{"operation":"chat","model":"openai/gpt-4o","usage":{"prompt_tokens":194,"completion_tokens":2,"total_tokens":196,"cost":0.95,"is_byok":false,"cost_details":{"upstream_inference_cost":19},"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
             tokens: TokenCounts(input: 94, cacheWrite: 100, output: 2), routerCostNanoUSD: 950_000_000),
        Case(name: "DeepSeek prompt_cache_hit/miss",
             json: #"{"operation":"chat","model":"deepseek-chat","usage":{"prompt_tokens":300,"completion_tokens":20,"total_tokens":320,"prompt_cache_hit_tokens":256,"prompt_cache_miss_tokens":44}}"#,
             tokens: TokenCounts(input: 44, cachedInput: 256, output: 20)),
        Case(name: "DeepSeek hit/miss without prompt_tokens",
             json: #"{"operation":"chat","model":"deepseek-chat","usage":{"completion_tokens":20,"prompt_cache_hit_tokens":256,"prompt_cache_miss_tokens":44}}"#,
             tokens: TokenCounts(input: 44, cachedInput: 256, output: 20)),
        Case(name: "xAI reasoning outside completion_tokens",
             json: #"{"operation":"chat","model":"grok-3-mini","usage":{"prompt_tokens":30,"completion_tokens":10,"total_tokens":340,"prompt_tokens_details":{"text_tokens":30,"audio_tokens":0,"image_tokens":0,"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":300,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"num_sources_used":0}}"#,
             tokens: TokenCounts(input: 24, cachedInput: 6, output: 310, reasoning: 300)),
        Case(name: "xAI without total_tokens, with its cost in ticks",
             json: #"{"operation":"chat","model":"grok-4","usage":{"prompt_tokens":10120,"completion_tokens":1499,"prompt_tokens_details":{"cached_tokens":128},"completion_tokens_details":{"reasoning_tokens":2809},"cost_in_usd_ticks":232856000}}"#,
             tokens: TokenCounts(input: 9992, cachedInput: 128, output: 4308, reasoning: 2809), routerCostNanoUSD: 23_285_600),
        Case(name: "Mistral",
             json: #"{"operation":"chat","model":"mistral-large-latest","usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}"#,
             tokens: TokenCounts(input: 12, output: 8)),
        Case(name: "LiteLLM Usage of an Anthropic call (prompt includes cache)",
             json: #"{"operation":"chat","model":"claude-sonnet-4-5","usage":{"prompt_tokens":1350,"completion_tokens":80,"total_tokens":1430,"cache_creation_input_tokens":300,"cache_read_input_tokens":1000,"prompt_tokens_details":{"cached_tokens":1000,"cache_creation_tokens":300,"cache_creation_token_details":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"audio_tokens":null,"text_tokens":null,"image_tokens":null},"completion_tokens_details":{"reasoning_tokens":0,"text_tokens":80}}}"#,
             tokens: TokenCounts(input: 50, cachedInput: 1000, cacheWrite: 300, output: 80, cacheWrite1h: 200)),
        Case(name: "unknown token field in a chat usage object is flagged",
             json: #"{"operation":"chat","model":"gpt-4o","usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":0,"video_tokens":0,"hologram_tokens":7}}}"#,
             tokens: TokenCounts(input: 10, output: 5), unrecognized: ["prompt_tokens_details.hologram_tokens": 7]),
        // OpenAI Responses.
        Case(name: "OpenAI Responses with cache write and reasoning",
             json: #"{"operation":"chat","model":"o3","usage":{"input_tokens":5000,"input_tokens_details":{"cache_write_tokens":1000,"cached_tokens":3000,"cache_write_tokens_details":{"ttl_12h_tokens":0,"ttl_30m_tokens":1000}},"output_tokens":700,"output_tokens_details":{"reasoning_tokens":512},"total_tokens":5700}}"#,
             tokens: TokenCounts(input: 1000, cachedInput: 3000, cacheWrite: 1000, output: 700, reasoning: 512)),
        Case(name: "OpenAI Responses with zero details",
             json: #"{"operation":"chat","model":"gpt-4.1","usage":{"input_tokens":50,"input_tokens_details":{"cache_write_tokens":0,"cached_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":59}}"#,
             tokens: TokenCounts(input: 50, output: 9)),
        Case(name: "OpenAI whole Response object (status completed, created_at seconds)",
             json: #"{"operation":"chat","id":"resp_1","object":"response","created_at":1795000000,"status":"completed","model":"gpt-4.1","output":[{"type":"message","content":[{"type":"output_text","text":"SECRET"}]}],"instructions":null,"metadata":{},"usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":10,"cache_write_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":59}}"#,
             tokens: TokenCounts(input: 40, cachedInput: 10, output: 9)),
        // Gemini.
        Case(name: "Gemini camelCase with tool use and thoughts",
             json: #"{"operation":"chat","model":"gemini-2.5-flash","usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":400,"candidatesTokenCount":50,"thoughtsTokenCount":70,"toolUsePromptTokenCount":30,"totalTokenCount":1150,"promptTokensDetails":[{"modality":"TEXT","tokenCount":1000}]}}"#,
             tokens: TokenCounts(input: 630, cachedInput: 400, output: 120, reasoning: 70)),
        Case(name: "Gemini snake model_dump() with nulls",
             json: #"{"operation":"chat","model":"gemini-2.5-flash","usage_metadata":{"cache_tokens_details":null,"cached_content_token_count":null,"candidates_token_count":5,"candidates_tokens_details":null,"prompt_token_count":10,"prompt_tokens_details":[{"modality":"TEXT","token_count":10}],"thoughts_token_count":null,"tool_use_prompt_token_count":null,"tool_use_prompt_tokens_details":null,"total_token_count":15,"traffic_type":null}}"#,
             tokens: TokenCounts(input: 10, output: 5)),
        Case(name: "Gemini whole GenerateContentResponse with model_version",
             json: #"{"operation":"chat","candidates":[{"content":{"parts":[{"text":"SECRET"}],"role":"model"}}],"model_version":"gemini-2.5-flash","response_id":"r-1","sdk_http_response":{"headers":{"x":"y"}},"usage_metadata":{"prompt_token_count":10,"candidates_token_count":5,"thoughts_token_count":2,"total_token_count":17}}"#,
             tokens: TokenCounts(input: 10, output: 7, reasoning: 2)),
        Case(name: "Gemini unknown count flagged",
             json: #"{"operation":"chat","model":"gemini-2.5-flash","usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"futureTokenCount":3}}"#,
             tokens: TokenCounts(input: 10, output: 5), unrecognized: ["futureTokenCount": 3]),
        // Bedrock Converse.
        Case(name: "Bedrock Converse with cache and 1-hour writes",
             json: #"{"operation":"chat","model":"anthropic.claude-sonnet-4-5-v1:0","usage":{"inputTokens":20,"outputTokens":10,"totalTokens":1530,"cacheReadInputTokens":1000,"cacheWriteInputTokens":500,"cacheDetails":[{"ttl":"1h","inputTokens":400},{"ttl":"5m","inputTokens":100}]}}"#,
             tokens: TokenCounts(input: 20, cachedInput: 1000, cacheWrite: 500, output: 10, cacheWrite1h: 400)),
        Case(name: "Bedrock Converse plain",
             json: #"{"operation":"chat","model":"amazon.nova-lite-v1:0","usage":{"inputTokens":20,"outputTokens":10,"totalTokens":30}}"#,
             tokens: TokenCounts(input: 20, output: 10)),
        // Absent and all-null usage.
        Case(name: "usage null", json: #"{"operation":"chat","model":"gpt-4o","usage":null,"input_tokens":3}"#, tokens: TokenCounts(input: 3)),
        Case(name: "usage with only nulls", json: #"{"operation":"chat","model":"gpt-4o","usage":{"prompt_tokens":null,"output_tokens_details":null}}"#, tokens: TokenCounts()),
        Case(name: "empty usage", json: #"{"operation":"chat","model":"gpt-4o","usage":{}}"#, tokens: TokenCounts()),
        Case(name: "explicit 1-hour cache writes", json: #"{"operation":"chat","model":"claude-sonnet-4-5","cache_write_tokens":100,"cache_write_1h_tokens":60}"#,
             tokens: TokenCounts(cacheWrite: 100, cacheWrite1h: 60)),
    ]

    @Test(arguments: cases)
    func readsEveryShape(_ c: Case) throws {
        let record = try normalize(c.json).get()
        #expect(record.tokens == c.tokens)
        #expect(record.unrecognizedUsage == c.unrecognized)
        #expect(record.routerCostNanoUSD == c.routerCostNanoUSD)
    }

    @Test func responseTextIsNeverKeptInMetadata() throws {
        for c in Self.cases where c.json.contains("SECRET") {
            let record = try normalize(c.json).get()
            #expect(!(record.metadataJSON ?? "").contains("SECRET"), "\(c.name)")
        }
    }

    @Test func wholeResponseObjectsGiveModelAndID() throws {
        let gemini = try normalize(Self.cases.first { $0.name.hasPrefix("Gemini whole") }!.json).get()
        #expect(gemini.model == "gemini-2.5-flash")
        #expect(gemini.id == "r-1")
        let responses = try normalize(Self.cases.first { $0.name.hasPrefix("OpenAI whole") }!.json).get()
        #expect(responses.id == "resp_1")
        #expect(responses.status == .success)
        #expect(responses.timestamp == Date(timeIntervalSince1970: 1_795_000_000))
        let incomplete = Self.cases.first { $0.name.hasPrefix("OpenAI whole") }!.json.replacingOccurrences(of: #""status":"completed""#, with: #""status":"incomplete""#)
        #expect(try normalize(incomplete).get().status == .success)
    }

    @Test(arguments: [
        (#"{"operation":"c","model":"m","usage":{"input_tokens":10,"output_tokens":1,"input_tokens_details":{"cached_tokens":4},"cache_read_input_tokens":5}}"#,
         "usage: input_tokens_details (OpenAI Responses) and cache_read_input_tokens (Anthropic) both carry values"),
        (#"{"operation":"c","model":"m","usage":{"input_tokens":1,"output_tokens":1,"cache_creation_input_tokens":10,"cache_creation":{"ephemeral_1h_input_tokens":20}}}"#,
         "usage.1-hour cache writes (20) exceed the cache writes (10)"),
        (#"{"operation":"c","model":"m","usage":{"input_tokens":1,"output_tokens":5,"output_tokens_details":{"thinking_tokens":9}}}"#,
         "usage.reasoning tokens (9) exceed the output tokens (5)"),
        (#"{"operation":"c","model":"m","usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":6,"cache_write_tokens":6}}}"#,
         "usage.prompt_tokens_details.cache_write_tokens: 6 plus 6 cached exceeds usage.prompt_tokens (10)"),
        (#"{"operation":"c","model":"m","usage":{"prompt_tokens":10,"prompt_tokens_details":7}}"#,
         "usage.prompt_tokens_details: must be an object, got a number"),
        (#"{"operation":"c","model":"m","usage":{"inputTokens":1,"cacheDetails":{"ttl":"1h"}}}"#,
         "usage.cacheDetails: must be an array, got an object"),
        (#"{"operation":"c","model":"m","usage":{"inputTokens":1,"cacheWriteInputTokens":5,"cacheDetails":[{"ttl":"1h","inputTokens":-1}]}}"#,
         "usage.cacheDetails[0].inputTokens: must not be negative"),
        (#"{"operation":"c","model":"m","usage":{"promptTokenCount":5,"cachedContentTokenCount":9}}"#,
         "usage.cachedContentTokenCount: 9 exceeds usage.promptTokenCount (5)"),
        (#"{"operation":"c","model":"m","usage":{"cost":-1,"prompt_tokens":1}}"#, "usage.cost: must not be negative"),
        (#"{"operation":"c","model":"m","cache_write_tokens":5,"cache_write_1h_tokens":6}"#, "cache_write_1h_tokens: 6 exceeds cache_write_tokens (5)"),
        (#"{"operation":"c","model":"m","usage":{"prompt_cache_hit_tokens":"x"}}"#, "usage.prompt_cache_hit_tokens: must be a non-negative integer, got a string"),
    ])
    func badVariantsAreRejectedNamingTheField(json: String, message: String) {
        switch normalize(json) {
        case .success(let record): Issue.record("accepted \(record)")
        case .failure(let error): #expect(error.message.contains(message), "\(error.message)")
        }
    }
}

@Suite("LiteLLM StandardLoggingPayload")
struct LiteLLMPayloadTests {
    /// A trimmed `standard_logging_object` as LiteLLM 1.110 builds it for an Anthropic call.
    static func payload(status: String = "success", tags: String = #"["operation:horoscope","service:bot"]"#, extra: String = "") -> String {
        #"""
        {"id":"chatcmpl-abc","trace_id":"t-1","litellm_call_id":"call-1","call_type":"completion","stream":false,
         "response_cost":0.006345,"status":"\#(status)","custom_llm_provider":"anthropic","total_tokens":1430,
         "prompt_tokens":1350,"completion_tokens":80,"startTime":1795000000.25,"endTime":1795000001.5,
         "completionStartTime":1795000001.0,"model":"claude-sonnet-4-5","model_group":null,"model_id":null,"api_base":"https://api.anthropic.com",
         "metadata":{"user_api_key_end_user_id":"end-7","user_api_key_user_id":"key-user","user_api_key_team_alias":"team-a",
           "usage_object":{"prompt_tokens":1350,"completion_tokens":80,"total_tokens":1430,"cache_creation_input_tokens":300,
             "cache_read_input_tokens":1000,"prompt_tokens_details":{"cached_tokens":1000,"cache_creation_tokens":300}},
           "spend_logs_metadata":null},
         "cache_hit":null,"request_tags":\#(tags),"end_user":"","messages":[{"role":"user","content":"MARKER-\#(String(repeating: "x", count: 20000))"}],
         "response":{"choices":[{"message":{"content":"MARKER reply"}}]},"model_parameters":{"user":"param-user"},
         "model_map_information":{"model_map_key":"claude-sonnet-4-5","model_map_value":{"input_cost_per_token":3e-06}},
         "error_str":null,"error_information":{"error_class":"","error_message":""},"hidden_params":{"response_cost":0.006345}\#(extra)}
        """#
    }

    @Test func mapsEveryField() throws {
        let record = try normalize(Self.payload()).get()
        #expect(record.id == "chatcmpl-abc")
        #expect(record.model == "claude-sonnet-4-5")
        #expect(record.provider == "anthropic")
        #expect(record.operation == "horoscope")
        #expect(record.service == "bot")
        #expect(record.userID == "end-7")
        #expect(record.timestamp == Date(timeIntervalSince1970: 1_795_000_000.25))
        #expect(record.durationMs == 1250)
        #expect(record.status == .success)
        #expect(record.tokens == TokenCounts(input: 50, cachedInput: 1000, cacheWrite: 300, output: 80))
        #expect(record.routerCostNanoUSD == 6_345_000)
        #expect(record.callerCostNanoUSD == nil)
        let metadata = record.metadataJSON ?? ""
        #expect(!metadata.contains("MARKER"))
        #expect(metadata.contains("\"litellm_trace_id\":\"t-1\""))
        #expect(!metadata.contains("model_map"))
    }

    @Test func operationFallsBackToCallTypeAndServiceToTeam() throws {
        let record = try normalize(Self.payload(tags: "[]")).get()
        #expect(record.operation == "completion")
        #expect(record.service == "team-a")
    }

    @Test func failureCarriesTheErrorClass() throws {
        let failed = Self.payload(status: "failure").replacingOccurrences(
            of: #""error_information":{"error_class":"","error_message":""}"#,
            with: #""error_information":{"error_class":"RateLimitError","error_message":"slow down"}"#)
        let record = try normalize(failed).get()
        #expect(record.status == .error)
        #expect(record.errorType == "RateLimitError")
        #expect(record.errorMessage == "slow down")
    }

    @Test func cacheHitCostsNothing() throws {
        let hit = Self.payload().replacingOccurrences(of: #""cache_hit":null"#, with: #""cache_hit":true"#)
        #expect(try normalize(hit).get().callerCostNanoUSD == 0)
    }

    @Test func ndjsonSentAsJSONIsReadLineByLine() throws {
        let one = Self.payload().replacingOccurrences(of: "\n", with: "")
        let body = Array((one + "\n" + one.replacingOccurrences(of: "chatcmpl-abc", with: "chatcmpl-def") + "\n").utf8)
        let elements = IngestBody.elements(of: body, format: .json)
        #expect(elements.count == 2)
        for element in elements { #expect((try? element.get()) != nil) }
        // A body that is broken on its first line stays one error.
        #expect(IngestBody.elements(of: Array("{\"a\":\n1}\n{}".utf8), format: .json).count == 1)
    }
}
