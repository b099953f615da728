import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("OTLP span → record mapping")
struct SpanMappingTableTests {
    typealias F = OTLPFixture

    struct Variant: CustomTestStringConvertible, Sendable {
        var name: String
        var spanName = "chat gpt-4o-mini"
        var attributes: [(String, OTLPValue)]
        var model: String
        var provider: String?
        var operation: String
        var tokens: TokenCounts
        var testDescription: String { name }
    }

    static let variants: [Variant] = [
        Variant(name: "semconv current (opentelemetry-instrumentation-openai-v2): cached read split out of input",
                attributes: [("gen_ai.operation.name", .string("chat")), ("gen_ai.provider.name", .string("openai")),
                             ("gen_ai.request.model", .string("gpt-4o-mini")), ("gen_ai.response.model", .string("gpt-4o-mini-2024-07-18")),
                             ("gen_ai.usage.input_tokens", .int(1000)), ("gen_ai.usage.output_tokens", .int(200)),
                             ("gen_ai.usage.cache_read.input_tokens", .int(400)), ("gen_ai.usage.reasoning.output_tokens", .int(0))],
                model: "gpt-4o-mini-2024-07-18", provider: "openai", operation: "chat",
                tokens: TokenCounts(input: 600, cachedInput: 400, output: 200)),
        Variant(name: "semconv current, Anthropic: cache reads and writes both inside input",
                spanName: "chat claude-sonnet-4",
                attributes: [("gen_ai.operation.name", .string("chat")), ("gen_ai.provider.name", .string("anthropic")),
                             ("gen_ai.request.model", .string("claude-sonnet-4-20250514")),
                             ("gen_ai.usage.input_tokens", .int(1350)), ("gen_ai.usage.cache_read.input_tokens", .int(1000)),
                             ("gen_ai.usage.cache_creation.input_tokens", .int(300)), ("gen_ai.usage.output_tokens", .int(80))],
                model: "claude-sonnet-4-20250514", provider: "anthropic", operation: "chat",
                tokens: TokenCounts(input: 50, cachedInput: 1000, cacheWrite: 300, output: 80)),
        Variant(name: "semconv current: reasoning is part of the output",
                attributes: [("gen_ai.operation.name", .string("chat")), ("gen_ai.provider.name", .string("openai")),
                             ("gen_ai.request.model", .string("o4-mini")), ("gen_ai.usage.input_tokens", .int(500)),
                             ("gen_ai.usage.output_tokens", .int(250)), ("gen_ai.usage.reasoning.output_tokens", .int(200))],
                model: "o4-mini", provider: "openai", operation: "chat",
                tokens: TokenCounts(input: 500, output: 250, reasoning: 200)),
        Variant(name: "deprecated gen_ai.system az.ai.openai, no gen_ai.provider.name",
                attributes: [("gen_ai.operation.name", .string("chat")), ("gen_ai.system", .string("az.ai.openai")),
                             ("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(10)), ("gen_ai.usage.output_tokens", .int(5))],
                model: "gpt-4o", provider: "azure", operation: "chat", tokens: TokenCounts(input: 10, output: 5)),
        Variant(name: "gen_ai.provider.name wins over gen_ai.system; aws.bedrock → bedrock",
                attributes: [("gen_ai.operation.name", .string("chat")), ("gen_ai.system", .string("aws")),
                             ("gen_ai.provider.name", .string("aws.bedrock")),
                             ("gen_ai.request.model", .string("anthropic.claude-3-5-haiku-20241022-v1:0")),
                             ("gen_ai.usage.input_tokens", .int(70)), ("gen_ai.usage.output_tokens", .int(7))],
                model: "anthropic.claude-3-5-haiku-20241022-v1:0", provider: "bedrock", operation: "chat", tokens: TokenCounts(input: 70, output: 7)),
        Variant(name: "gcp.gemini → google, counts sent as whole doubles",
                attributes: [("gen_ai.operation.name", .string("generate_content")), ("gen_ai.provider.name", .string("gcp.gemini")),
                             ("gen_ai.request.model", .string("gemini-2.5-flash")), ("gen_ai.usage.input_tokens", .double(900)),
                             ("gen_ai.usage.output_tokens", .double(40))],
                model: "gemini-2.5-flash", provider: "google", operation: "generate_content", tokens: TokenCounts(input: 900, output: 40)),
        Variant(name: "OpenLLMetry (old names): prompt/completion tokens, llm.usage.total_tokens, operation from the span name",
                spanName: "openai.chat",
                attributes: [("gen_ai.system", .string("OpenAI")), ("llm.request.type", .string("chat")),
                             ("gen_ai.request.model", .string("gpt-4o-mini")), ("gen_ai.response.model", .string("gpt-4o-mini-2024-07-18")),
                             ("gen_ai.usage.prompt_tokens", .int(120)), ("gen_ai.usage.completion_tokens", .int(30)),
                             ("llm.usage.total_tokens", .int(150)), ("gen_ai.usage.cache_read_input_tokens", .int(20))],
                model: "gpt-4o-mini-2024-07-18", provider: "openai", operation: "openai.chat",
                tokens: TokenCounts(input: 100, cachedInput: 20, output: 30)),
        Variant(name: "OpenLLMetry (new names): input/output tokens, Anthropic cache attributes, llm.usage.reasoning_tokens",
                spanName: "anthropic.chat",
                attributes: [("gen_ai.system", .string("Anthropic")), ("gen_ai.operation.name", .string("chat")),
                             ("gen_ai.request.model", .string("claude-3-7-sonnet-latest")),
                             ("gen_ai.usage.input_tokens", .int(2010)), ("gen_ai.usage.cache_creation_input_tokens", .int(1000)),
                             ("gen_ai.usage.cache_read_input_tokens", .int(1000)), ("gen_ai.usage.output_tokens", .int(300)),
                             ("llm.usage.reasoning_tokens", .int(120))],
                model: "claude-3-7-sonnet-latest", provider: "anthropic", operation: "chat",
                tokens: TokenCounts(input: 10, cachedInput: 1000, cacheWrite: 1000, output: 300, reasoning: 120)),
        Variant(name: "OpenLIT: gen_ai.usage.reasoning_tokens, cost attribute kept beside the catalog price",
                attributes: [("gen_ai.system", .string("openai")), ("gen_ai.operation.name", .string("chat")),
                             ("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(300)),
                             ("gen_ai.usage.output_tokens", .int(90)), ("gen_ai.usage.reasoning_tokens", .int(10)),
                             ("gen_ai.usage.total_tokens", .int(390)), ("gen_ai.usage.cost", .double(0.00165))],
                model: "gpt-4o", provider: "openai", operation: "chat", tokens: TokenCounts(input: 300, output: 90, reasoning: 10)),
        Variant(name: "embeddings span: input tokens only",
                spanName: "embeddings text-embedding-3-small",
                attributes: [("gen_ai.operation.name", .string("embeddings")), ("gen_ai.provider.name", .string("openai")),
                             ("gen_ai.request.model", .string("text-embedding-3-small")), ("gen_ai.usage.input_tokens", .int(64))],
                model: "text-embedding-3-small", provider: "openai", operation: "embeddings", tokens: TokenCounts(input: 64)),
    ]

    @Test(arguments: variants)
    func eachInstrumentationVariantBecomesOneRecordWithDisjointTokens(_ variant: Variant) throws {
        let span = F.span(variant.attributes, name: variant.spanName)
        let record = try #require(try F.outcome(span)?.get())
        #expect(record.model == variant.model)
        #expect(record.provider == variant.provider)
        #expect(record.operation == variant.operation)
        #expect(record.tokens == variant.tokens)
        #expect(record.service == "chatbot")
        #expect(record.status == .success)
        #expect(record.id == "101112131415161718191a1b1c1d1e1f-000000000000ab01")
        #expect(record.idWasGiven)
        #expect(record.timestamp == F.start)
        #expect(record.durationMs == 1500)
        #expect(record.callerCostNanoUSD == nil)
    }

    @Test func openLITCostIsKeptInMetadataAndTheCatalogStillPrices() throws {
        let span = F.span([("gen_ai.system", .string("openai")), ("gen_ai.operation.name", .string("chat")),
                           ("gen_ai.request.model", .string("gpt-4o-mini")), ("gen_ai.usage.input_tokens", .int(1000)),
                           ("gen_ai.usage.output_tokens", .int(200)), ("gen_ai.usage.cost", .double(0.99))])
        let record = try #require(try F.outcome(span)?.get())
        let metadata = try #require(record.metadataJSON)
        #expect(metadata.contains(#""gen_ai.usage.cost":0.99"#))
        let priced = try PricingService(base: DefaultCatalog.entries()).priceWithinLimits(record).get()
        #expect(priced.costSource == .catalog)
        #expect(priced.costNanoUSD == 270_000)  // 1000 × 0.15 + 200 × 0.60 per 1M tokens, not the 0.99 the span claims
    }

    @Test func statusErrorTypeUserAndOperationAttributes() throws {
        let failed = F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .string("gpt-4o-mini")),
                             ("error.type", .string("RateLimitError")), ("user.id", .string("u-7")), ("tokenmeter.operation", .string("horoscope"))],
                            status: 2, message: "Rate limit reached")
        let record = try #require(try F.outcome(failed)?.get())
        #expect(record.status == .error)
        #expect(record.errorType == "RateLimitError")
        #expect(record.errorMessage == "Rate limit reached")
        #expect(record.userID == "u-7")
        #expect(record.operation == "horoscope")
        #expect(record.tokens == TokenCounts())

        let statusOnly = F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .string("gpt-4o-mini")),
                                 ("enduser.id", .string("end-9"))], status: 2)
        let second = try #require(try F.outcome(statusOnly)?.get())
        #expect(second.status == .error && second.errorType == "span_status_error" && second.userID == "end-9")

        let repr = F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .string("m")),
                           ("error.type", .string("<class 'openai.RateLimitError'>"))])
        #expect(try F.outcome(repr)?.get().errorType == "openai.RateLimitError")

        let unknownService = try #require(try F.outcome(F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .string("m"))]), service: nil)?.get())
        #expect(unknownService.service == "default")
    }

    @Test func operationComesFromTheAttributeThenTheNearestAncestorInTheRequestThenTheOperationName() throws {
        let chat: [(String, OTLPValue)] = [("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .string("gpt-4o-mini")),
                                           ("gen_ai.usage.input_tokens", .int(1))]
        let tagged = F.span([("tokenmeter.operation", .string("summarize"))], name: "handler", spanID: 1)
        let plain = F.span([], name: "POST /ask", spanID: 2)
        let spans = [
            F.span(chat, spanID: 3, parent: 1),  // parent carries tokenmeter.operation
            F.span(chat, spanID: 4, parent: 2),  // parent's name
            F.span(chat, spanID: 5, parent: 9),  // parent not in this request
            F.span(chat + [("tokenmeter.operation", .string("own"))], spanID: 6, parent: 1),  // its own attribute wins
            tagged, plain,
        ]
        let outcomes = SpanMapping.records(from: F.request(spans))
        let operations = try outcomes.map { try $0.record.flatMap(F.normalizer.normalize).get().operation }
        #expect(operations == ["summarize", "POST /ask", "chat", "own"])
    }

    struct Ignored: CustomTestStringConvertible, Sendable {
        var name: String
        var attributes: [(String, OTLPValue)]
        var testDescription: String { name }
    }

    static let ignored: [Ignored] = [
        Ignored(name: "an HTTP client span", attributes: [("http.request.method", .string("POST")), ("url.full", .string("https://api.openai.com/v1/chat/completions"))]),
        Ignored(name: "a database span", attributes: [("db.system", .string("postgresql")), ("db.statement", .string("SELECT 1"))]),
        Ignored(name: "a span with only a model (no usage, no operation)", attributes: [("gen_ai.request.model", .string("gpt-4o"))]),
        Ignored(name: "an agent span carrying the sum of its calls' usage",
                attributes: [("gen_ai.operation.name", .string("invoke_agent")), ("gen_ai.request.model", .string("gpt-4o")), ("gen_ai.usage.input_tokens", .int(5000))]),
        Ignored(name: "a tool span", attributes: [("gen_ai.operation.name", .string("execute_tool")), ("gen_ai.tool.name", .string("search"))]),
        Ignored(name: "a span with no attributes", attributes: []),
    ]

    @Test(arguments: ignored)
    func spansWithoutGenAIUsageOrOperationAreIgnoredNotRejected(_ case_: Ignored) {
        #expect(F.outcome(F.span(case_.attributes)) == nil)
    }

    struct Malformed: CustomTestStringConvertible, Sendable {
        var name: String
        var span: OTLPSpan
        var error: String
        var testDescription: String { name }
    }

    static let usage: [(String, OTLPValue)] = [("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .string("gpt-4o-mini")),
                                               ("gen_ai.usage.input_tokens", .int(100)), ("gen_ai.usage.output_tokens", .int(10))]

    static func with(_ attributes: [(String, OTLPValue)]) -> OTLPSpan { F.span(usage + attributes) }

    static let malformed: [Malformed] = {
        var shortTrace = F.span(usage)
        shortTrace.traceID = Array(shortTrace.traceID.prefix(15))
        var zeroSpan = F.span(usage)
        zeroSpan.spanID = Array(repeating: 0, count: 8)
        var noTrace = F.span(usage)
        noTrace.traceID = []
        var noStart = F.span(usage)
        noStart.startTimeUnixNano = 0
        return [
            Malformed(name: "trace id of 15 bytes", span: shortTrace, error: "trace_id: must be 16 bytes and not all zero (32 hex digits in JSON), got 15 bytes"),
            Malformed(name: "no trace id", span: noTrace, error: "trace_id: must be 16 bytes and not all zero (32 hex digits in JSON), got 0 bytes"),
            Malformed(name: "all-zero span id", span: zeroSpan, error: "span_id: must be 8 bytes and not all zero (16 hex digits in JSON), got 8 bytes"),
            Malformed(name: "no start time", span: noStart, error: "start_time_unix_nano: missing"),
            Malformed(name: "negative input tokens", span: with([("gen_ai.usage.input_tokens", .int(-5))]), error: "gen_ai.usage.input_tokens: must not be negative, got -5"),
            Malformed(name: "fractional output tokens", span: with([("gen_ai.usage.output_tokens", .double(10.5))]), error: "gen_ai.usage.output_tokens: must be a whole number of tokens, got 10.5"),
            Malformed(name: "token count as a string", span: with([("gen_ai.usage.output_tokens", .string("10"))]), error: "gen_ai.usage.output_tokens: must be an integer, got a string"),
            Malformed(name: "old-name count negative", span: F.span([("gen_ai.system", .string("openai")), ("gen_ai.request.model", .string("gpt-4o")),
                                                                  ("gen_ai.usage.prompt_tokens", .int(-1))]), error: "gen_ai.usage.prompt_tokens: must not be negative"),
            Malformed(name: "cached > input", span: with([("gen_ai.usage.cache_read.input_tokens", .int(150))]),
                      error: "gen_ai.usage.cache_read.input_tokens = 150 exceeds gen_ai.usage.input_tokens = 100"),
            Malformed(name: "cache read + write > input", span: with([("gen_ai.usage.cache_read.input_tokens", .int(60)), ("gen_ai.usage.cache_creation.input_tokens", .int(50))]),
                      error: "gen_ai.usage.cache_read.input_tokens = 60 + gen_ai.usage.cache_creation.input_tokens = 50 exceeds gen_ai.usage.input_tokens = 100"),
            Malformed(name: "cached tokens with no input count", span: F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .string("m")),
                                                                            ("gen_ai.usage.cache_read_input_tokens", .int(3))]),
                      error: "gen_ai.usage.cache_read_input_tokens = 3 exceeds gen_ai.usage.input_tokens = 0"),
            Malformed(name: "reasoning > output", span: with([("gen_ai.usage.reasoning.output_tokens", .int(11))]), error: "reasoning_tokens: 11 exceeds output_tokens (10)"),
            Malformed(name: "no model", span: F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.usage.input_tokens", .int(3))]),
                      error: "gen_ai.request.model: missing (and no gen_ai.response.model)"),
            Malformed(name: "model that is not a string", span: F.span([("gen_ai.operation.name", .string("chat")), ("gen_ai.request.model", .int(4))]),
                      error: "gen_ai.request.model: must be a string, got an integer"),
            Malformed(name: "negative caller cost", span: with([("gen_ai.usage.cost", .double(-0.1))]), error: "gen_ai.usage.cost: must be a finite number from 0"),
            Malformed(name: "timestamp older than the raw retention", span: {
                var old = F.span(usage)
                old.startTimeUnixNano = 1_000_000_000
                old.endTimeUnixNano = 2_000_000_000
                return old
            }(), error: "is older than the raw retention"),
        ]
    }()

    @Test(arguments: malformed)
    func malformedSpansAreRejectedOneByOneWithTheFieldNamed(_ case_: Malformed) throws {
        let outcome = try #require(F.outcome(case_.span))
        guard case .failure(let error) = outcome else {
            Issue.record("accepted: \(outcome)")
            return
        }
        #expect(error.message.hasPrefix(case_.error) || error.message.contains(case_.error), "\(error.message)")
    }

    @Test func aBadSpanLosesNothingValidInTheSameRequest() throws {
        var bad = F.span(Self.usage + [("gen_ai.usage.input_tokens", .int(-1))], spanID: 2)
        bad.traceID = F.traceID
        let good = F.span(Self.usage, spanID: 3)
        let outcomes = SpanMapping.records(from: F.request([bad, F.span([("http.route", .string("/"))], spanID: 4), good]))
        #expect(outcomes.count == 2)
        #expect((try? outcomes[0].record.get()) == nil)
        #expect(outcomes[0].label.contains("span 0"))
        #expect(try outcomes[1].record.flatMap(F.normalizer.normalize).get().tokens == TokenCounts(input: 100, output: 10))
    }

    @Test func providerNamesAreNormalized() {
        let table = ["openai": "openai", "Anthropic": "anthropic", "az.ai.openai": "azure", "azure.ai.inference": "azure",
                     "aws.bedrock": "bedrock", "gcp.gemini": "google", "gcp.vertex_ai": "google", "vertex_ai": "google",
                     "mistral_ai": "mistral", "x_ai": "xai", "ibm.watsonx.ai": "ibm", "deepseek": "deepseek", "Groq": "groq"]
        for (raw, expected) in table {
            #expect(SpanMapping.normalizedProvider(raw) == expected, "\(raw)")
        }
    }
}
