import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// A record priced against a catalog imported from LiteLLM's file.
struct LiteLLMPricedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let json: String
    let cost: String
    let model: String
    let unpriced: Bool
    var testDescription: String { name }

    static func priced(_ name: String, _ json: String, _ cost: String, _ model: String) -> Self {
        Self(name: name, json: json, cost: cost, model: model, unpriced: false)
    }
}

@Suite("LiteLLM price import")
struct LiteLLMImportTests {
    /// A small `model_prices_and_context_window.json` in LiteLLM's documented format: USD per token
    /// (or per unit), `sample_spec` documenting the keys, and one model without any price field.
    static let file = #"""
    {
        "sample_spec": {
            "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it. IF not set to max_input_tokens, if provider specifies it.",
            "max_input_tokens": "max input tokens, if the provider specifies it. if not default to max_tokens",
            "max_output_tokens": "max output tokens, if the provider specifies it. if not default to max_tokens",
            "input_cost_per_token": 0.0000,
            "output_cost_per_token": 0.000,
            "output_cost_per_reasoning_token": 0.000,
            "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
            "mode": "one of: chat, embedding, completion, image_generation, audio_transcription, audio_speech, image_generation, moderation, rerank",
            "supports_function_calling": true,
            "supports_parallel_function_calling": true,
            "supports_vision": true,
            "supports_audio_input": true,
            "supports_audio_output": true,
            "supports_prompt_caching": true,
            "supports_response_schema": true,
            "supports_system_messages": true,
            "supports_reasoning": true,
            "supports_web_search": true,
            "deprecation_date": "date when the model becomes deprecated in the format YYYY-MM-DD"
        },
        "gpt-4o-mini": {
            "max_tokens": 16384,
            "max_input_tokens": 128000,
            "max_output_tokens": 16384,
            "input_cost_per_token": 1.5e-07,
            "output_cost_per_token": 6e-07,
            "cache_read_input_token_cost": 7.5e-08,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_function_calling": true,
            "supports_prompt_caching": true
        },
        "o3-mini": {
            "max_tokens": 100000,
            "max_input_tokens": 200000,
            "max_output_tokens": 100000,
            "input_cost_per_token": 1.1e-06,
            "output_cost_per_token": 4.4e-06,
            "cache_read_input_token_cost": 5.5e-07,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_reasoning": true
        },
        "claude-3-5-sonnet-20241022": {
            "max_tokens": 8192,
            "max_input_tokens": 200000,
            "max_output_tokens": 8192,
            "input_cost_per_token": 3e-06,
            "output_cost_per_token": 1.5e-05,
            "cache_creation_input_token_cost": 3.75e-06,
            "cache_read_input_token_cost": 3e-07,
            "litellm_provider": "anthropic",
            "mode": "chat",
            "supports_prompt_caching": true
        },
        "claude-sonnet-4-20250514": {
            "max_tokens": 64000,
            "max_input_tokens": 1000000,
            "max_output_tokens": 64000,
            "input_cost_per_token": 3e-06,
            "output_cost_per_token": 1.5e-05,
            "cache_creation_input_token_cost": 3.75e-06,
            "cache_read_input_token_cost": 3e-07,
            "input_cost_per_token_above_200k_tokens": 6e-06,
            "output_cost_per_token_above_200k_tokens": 2.25e-05,
            "cache_creation_input_token_cost_above_200k_tokens": 7.5e-06,
            "cache_read_input_token_cost_above_200k_tokens": 6e-07,
            "litellm_provider": "anthropic",
            "mode": "chat",
            "supports_prompt_caching": true,
            "supports_reasoning": true
        },
        "gemini/gemini-1.5-pro": {
            "max_tokens": 8192,
            "max_input_tokens": 2097152,
            "max_output_tokens": 8192,
            "input_cost_per_token": 1.25e-06,
            "input_cost_per_token_above_128k_tokens": 2.5e-06,
            "output_cost_per_token": 5e-06,
            "output_cost_per_token_above_128k_tokens": 1e-05,
            "litellm_provider": "gemini",
            "mode": "chat",
            "supports_function_calling": true
        },
        "gemini/gemini-2.5-flash-preview-04-17": {
            "max_tokens": 65535,
            "max_input_tokens": 1048576,
            "max_output_tokens": 65535,
            "input_cost_per_token": 1.5e-07,
            "output_cost_per_token": 6e-07,
            "output_cost_per_reasoning_token": 3.5e-06,
            "cache_read_input_token_cost": 3.75e-08,
            "litellm_provider": "gemini",
            "mode": "chat",
            "supports_reasoning": true
        },
        "text-embedding-3-small": {
            "max_tokens": 8191,
            "max_input_tokens": 8191,
            "output_vector_size": 1536,
            "input_cost_per_token": 2e-08,
            "output_cost_per_token": 0.0,
            "litellm_provider": "openai",
            "mode": "embedding"
        },
        "vertex_ai/imagen-3.0-generate-002": {
            "output_cost_per_image": 0.04,
            "litellm_provider": "vertex_ai-image-models",
            "mode": "image_generation"
        },
        "vertex_ai/veo-3.0-generate-preview": {
            "max_input_tokens": 1024,
            "output_cost_per_second": 0.75,
            "litellm_provider": "vertex_ai-video-models",
            "mode": "video_generation",
            "supported_modalities": ["text"],
            "supported_output_modalities": ["video"]
        },
        "whisper-1": {
            "mode": "audio_transcription",
            "input_cost_per_second": 0.0001,
            "output_cost_per_second": 0.0001,
            "litellm_provider": "openai"
        },
        "tts-1": {
            "mode": "audio_speech",
            "input_cost_per_character": 1.5e-05,
            "litellm_provider": "openai"
        },
        "tts-1-hd": {
            "mode": "audio_speech",
            "input_cost_per_character": 3e-05,
            "litellm_provider": "openai"
        },
        "example/model-without-prices": {
            "max_tokens": 8192,
            "max_input_tokens": 8192,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_function_calling": true
        }
    }
    """#

    static let now = RFC3339.parse("2026-11-25T00:00:00Z")!

    /// The POST pipeline up to pricing: bytes → JSON value → normalized record.
    static func record(_ json: String) throws -> UsageRecord {
        let value = try JSONValue.parse(Array(json.utf8)[...]).get()
        let now = Self.now
        return try RecordNormalizer(maxAge: 3650 * 86400, now: { now }).normalize(value).get()
    }

    /// The `CatalogError` `body` throws, or nil (any other outcome fails the calling expectation).
    static func catalogError(_ body: () throws -> Void) -> CatalogError? {
        do {
            try body()
            return nil
        } catch let error as CatalogError {
            return error
        } catch {
            Issue.record("expected a CatalogError, got \(error)")
            return nil
        }
    }

    // MARK: Reading the file

    @Test func readsEveryPricedModelSkipsSampleSpecAndReportsModelsWithoutPrices() throws {
        let result = try LiteLLMImporter.entries(from: Data(Self.file.utf8))
        #expect(result.entries.map(\.model) == [
            "claude-3-5-sonnet-20241022", "claude-sonnet-4-20250514", "gemini/gemini-1.5-pro",
            "gemini/gemini-2.5-flash-preview-04-17", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "tts-1",
            "tts-1-hd", "vertex_ai/imagen-3.0-generate-002", "vertex_ai/veo-3.0-generate-preview", "whisper-1",
        ])
        #expect(!result.entries.contains { $0.model == "sample_spec" })
        #expect(result.skipped == ["example/model-without-prices: no price fields"])
        #expect(result.entries.allSatisfy { $0.validFrom == nil && $0.source == "LiteLLM import" })
    }

    @Test func convertsUSDPerTokenToExactPicoPrices() throws {
        let result = try LiteLLMImporter.entries(from: Data(Self.file.utf8))
        let byModel = Dictionary(uniqueKeysWithValues: result.entries.map { ($0.model, $0) })

        // $1.5e-07 per token = $0.15 per 1M = 150000 pico-USD per token.
        let mini = try #require(byModel["gpt-4o-mini"])
        #expect(mini.tokens == TokenPrices(input: PicoPrice(pico: 150_000), cachedInput: PicoPrice(pico: 75_000),
                                           output: PicoPrice(pico: 600_000)))
        #expect(mini.provider == "openai")
        #expect(mini.category == .text)

        let sonnet = try #require(byModel["claude-sonnet-4-20250514"])
        #expect(sonnet.tokens == TokenPrices(input: PicoPrice(pico: 3_000_000), cachedInput: PicoPrice(pico: 300_000),
                                             cacheWrite: PicoPrice(pico: 3_750_000), output: PicoPrice(pico: 15_000_000)))
        #expect(sonnet.tiers == [ContextTier(aboveInputTokens: 200_000, prices: TokenPrices(
            input: PicoPrice(pico: 6_000_000), cachedInput: PicoPrice(pico: 600_000),
            cacheWrite: PicoPrice(pico: 7_500_000), output: PicoPrice(pico: 22_500_000)))])

        let pro = try #require(byModel["gemini/gemini-1.5-pro"])
        #expect(pro.tiers == [ContextTier(aboveInputTokens: 128_000, prices: TokenPrices(
            input: PicoPrice(pico: 2_500_000), output: PicoPrice(pico: 10_000_000)))])
        #expect(pro.provider == "gemini")

        // output_cost_per_reasoning_token $3.5e-06 → 3500000 pico per token.
        #expect(byModel["gemini/gemini-2.5-flash-preview-04-17"]?.tokens.reasoning == PicoPrice(pico: 3_500_000))

        let imagen = try #require(byModel["vertex_ai/imagen-3.0-generate-002"])
        #expect(imagen.perImage == PicoPrice(pico: 40_000_000_000))  // $0.04
        #expect(imagen.category == .image_gen)

        let veo = try #require(byModel["vertex_ai/veo-3.0-generate-preview"])
        #expect(veo.perSecond == PicoPrice(pico: 750_000_000_000))  // $0.75
        #expect(veo.category == .video_gen)

        let whisper = try #require(byModel["whisper-1"])
        #expect(whisper.perSecond == PicoPrice(pico: 100_000_000))  // $0.0001 per second = $0.006 per minute
        #expect(whisper.category == .transcription)

        // $1.5e-05 per character = $0.015 per 1k characters.
        let tts = try #require(byModel["tts-1"])
        #expect(tts.per1kCharacters == PicoPrice(pico: 15_000_000_000))
        #expect(tts.category == .tts)

        #expect(byModel["text-embedding-3-small"]?.category == .embedding)
        #expect(byModel["text-embedding-3-small"]?.tokens.input == PicoPrice(pico: 20_000))
    }

    // MARK: Pricing with the imported catalog

    static let cases: [LiteLLMPricedCase] = [
        LiteLLMPricedCase(name: "a dated name the file does not list is unpriced, never priced from its family",
                          json: #"{"operation":"chat","model":"gpt-4o-mini-2024-07-18","input_tokens":1000}"#,
                          cost: "0.000000000", model: "gpt-4o-mini-2024-07-18", unpriced: true),
        .priced("token prices with cache read",
                #"{"operation":"chat","model":"gpt-4o-mini","usage":{"prompt_tokens":1500,"completion_tokens":200,"total_tokens":1700,"prompt_tokens_details":{"cached_tokens":500}}}"#,
                // input 1500−500 = 1000: 1000×1.5e-07 + 500×7.5e-08 + 200×6e-07 = 150 + 37.5 + 120 µUSD = 307.5 µUSD
                "0.000307500", "gpt-4o-mini"),
        .priced("reasoning defaults to the output price (o3-mini, Responses usage)",
                #"{"operation":"chat","model":"o3-mini","usage":{"input_tokens":2000,"input_tokens_details":{"cached_tokens":1000},"output_tokens":3000,"output_tokens_details":{"reasoning_tokens":2000},"total_tokens":5000}}"#,
                // 1000×1.1e-06 + 1000×5.5e-07 + 1000×4.4e-06 + 2000×4.4e-06 = 1100 + 550 + 4400 + 8800 = 14850 µUSD
                "0.014850000", "o3-mini"),
        .priced("output_cost_per_reasoning_token prices thoughts (Gemini usage)",
                #"{"operation":"chat","model":"gemini/gemini-2.5-flash-preview-04-17","usage":{"promptTokenCount":1000,"candidatesTokenCount":200,"thoughtsTokenCount":800}}"#,
                // 1000×1.5e-07 + 200×6e-07 + 800×3.5e-06 = 150 + 120 + 2800 = 3070 µUSD
                "0.003070000", "gemini/gemini-2.5-flash-preview-04-17"),
        .priced("cache read and cache creation prices (Anthropic usage, provider prefix)",
                #"{"operation":"chat","model":"anthropic/claude-3-5-sonnet-20241022","usage":{"input_tokens":2000,"cache_read_input_tokens":10000,"cache_creation_input_tokens":4000,"output_tokens":500}}"#,
                // 2000×3e-06 + 10000×3e-07 + 4000×3.75e-06 + 500×1.5e-05 = 6000 + 3000 + 15000 + 7500 = 31500 µUSD
                "0.031500000", "claude-3-5-sonnet-20241022"),
        .priced("exactly 128k: base price",
                #"{"operation":"chat","model":"gemini/gemini-1.5-pro","usage":{"promptTokenCount":128000,"candidatesTokenCount":1000}}"#,
                // 128000×1.25e-06 + 1000×5e-06 = 160000 + 5000 = 165000 µUSD
                "0.165000000", "gemini/gemini-1.5-pro"),
        .priced("above 128k: the _above_128k_tokens prices for the whole request",
                #"{"operation":"chat","model":"gemini/gemini-1.5-pro","usage":{"promptTokenCount":128001,"candidatesTokenCount":1000}}"#,
                // 128001×2.5e-06 + 1000×1e-05 = 320002.5 + 10000 = 330002.5 µUSD
                "0.330002500", "gemini/gemini-1.5-pro"),
        .priced("exactly 200k: base price",
                #"{"operation":"chat","model":"claude-sonnet-4-20250514","input_tokens":200000,"output_tokens":100}"#,
                // 200000×3e-06 + 100×1.5e-05 = 600000 + 1500 = 601500 µUSD
                "0.601500000", "claude-sonnet-4-20250514"),
        .priced("above 200k counting cache read and creation: the _above_200k_tokens prices",
                #"{"operation":"chat","model":"claude-sonnet-4-20250514","usage":{"input_tokens":100000,"cache_read_input_tokens":50001,"cache_creation_input_tokens":50000,"output_tokens":1000}}"#,
                // prompt 100000+50001+50000 = 200001 > 200000:
                // 100000×6e-06 + 50001×6e-07 + 50000×7.5e-06 + 1000×2.25e-05 = 600000 + 30000.6 + 375000 + 22500 = 1027500.6 µUSD
                "1.027500600", "claude-sonnet-4-20250514"),
        .priced("embedding input price",
                #"{"operation":"embed","model":"text-embedding-3-small","usage":{"prompt_tokens":123456,"total_tokens":123456}}"#,
                // 123456×2e-08 = 2469.12 µUSD
                "0.002469120", "text-embedding-3-small"),
        .priced("output_cost_per_image",
                #"{"operation":"draw","model":"vertex_ai/imagen-3.0-generate-002","units":{"images":3}}"#,
                // 3 × $0.04 = $0.12
                "0.120000000", "vertex_ai/imagen-3.0-generate-002"),
        .priced("output_cost_per_second",
                #"{"operation":"video","model":"vertex_ai/veo-3.0-generate-preview","units":{"seconds":8}}"#,
                // 8 × $0.75 = $6
                "6.000000000", "vertex_ai/veo-3.0-generate-preview"),
        .priced("per second priced from minutes (whisper-1)",
                #"{"operation":"transcribe","model":"whisper-1","units":{"minutes":1.5}}"#,
                // 1.5 min = 90 s × $0.0001 = $0.009
                "0.009000000", "whisper-1"),
        .priced("input_cost_per_character (tts-1)",
                #"{"operation":"speak","model":"tts-1","units":{"characters":2500}}"#,
                // 2500 × $1.5e-05 = $0.0375
                "0.037500000", "tts-1"),
        .priced("input_cost_per_character (tts-1-hd)",
                #"{"operation":"speak","model":"tts-1-hd","units":{"characters":1234}}"#,
                // 1234 × $3e-05 = $0.03702
                "0.037020000", "tts-1-hd"),
        LiteLLMPricedCase(name: "a model the file does not list is unpriced",
                          json: #"{"operation":"chat","model":"gpt-4o","input_tokens":1000,"output_tokens":1000}"#,
                          cost: "0.000000000", model: "gpt-4o", unpriced: true),
    ]

    @Test(arguments: cases)
    func pricesWithTheImportedCatalog(_ c: LiteLLMPricedCase) throws {
        let result = try LiteLLMImporter.entries(from: Data(Self.file.utf8))
        let service = PricingService(base: [], changes: result.entries.map(PriceChange.put))
        let priced = service.price(try Self.record(c.json))
        #expect(Money.decimalString(nano: priced.costNanoUSD) == c.cost)
        #expect(priced.model == c.model)
        #expect(priced.unpriced == c.unpriced)
    }

    @Test func importedEntriesAsTheBaseCatalogPriceTheSame() throws {
        let result = try PriceImport.entries(from: Data(Self.file.utf8), format: "litellm", validFrom: nil, source: "litellm")
        let service = PricingService(base: result.entries)
        // 2500 × $1.5e-05 = $0.0375
        let priced = service.price(try Self.record(#"{"operation":"speak","model":"tts-1","units":{"characters":2500}}"#))
        #expect(Money.decimalString(nano: priced.costNanoUSD) == "0.037500000")
        #expect(priced.category == .tts)
        #expect(priced.provider == "openai")
    }

    // MARK: Dating an import

    @Test func validFromDatesEveryImportedEntry() throws {
        let from = RFC3339.parse("2026-01-01T00:00:00Z")!
        let result = try PriceImport.entries(from: Data(Self.file.utf8), format: "litellm", validFrom: from, source: "litellm 2026-01")
        #expect(result.entries.count == 12)
        #expect(result.entries.allSatisfy { $0.validFrom == from })
        #expect(result.entries.allSatisfy { $0.source == "litellm 2026-01" })
        #expect(result.skipped == ["example/model-without-prices: no price fields"])

        // Only the import in the catalog: nothing before `from`, the imported price from it on.
        let service = PricingService(base: [], changes: result.entries.map(PriceChange.put))
        let before = service.price(try Self.record(#"{"operation":"speak","model":"tts-1","timestamp":"2025-12-31T23:59:59Z","units":{"characters":2500}}"#))
        #expect(before.unpriced)
        #expect(before.costNanoUSD == 0)
        let at = service.price(try Self.record(#"{"operation":"speak","model":"tts-1","timestamp":"2026-01-01T00:00:00Z","units":{"characters":2500}}"#))
        #expect(!at.unpriced)
        #expect(Money.decimalString(nano: at.costNanoUSD) == "0.037500000")  // 2500 × $1.5e-05
    }

    @Test func aDatedImportOverTheShippedCatalogStartsANewVersion() throws {
        let newPrices = #"{"gpt-4o-mini": {"input_cost_per_token": 3e-07, "output_cost_per_token": 1.2e-06, "litellm_provider": "openai", "mode": "chat"}}"#
        let from = RFC3339.parse("2026-01-01T00:00:00Z")!
        let result = try PriceImport.entries(from: Data(newPrices.utf8), format: "litellm", validFrom: from, source: "litellm")
        let service = PricingService(base: try DefaultCatalog.entries(), changes: result.entries.map(PriceChange.put))

        // One second before: the shipped price, 1000×0.15 + 1000×0.60 per 1M = 150 + 600 = 750 µUSD.
        let before = service.price(try Self.record(#"{"operation":"chat","model":"gpt-4o-mini","timestamp":"2025-12-31T23:59:59Z","input_tokens":1000,"output_tokens":1000}"#))
        #expect(Money.decimalString(nano: before.costNanoUSD) == "0.000750000")
        // From `from`: 1000×3e-07 + 1000×1.2e-06 = 300 + 1200 = 1500 µUSD.
        let after = service.price(try Self.record(#"{"operation":"chat","model":"gpt-4o-mini","timestamp":"2026-01-01T00:00:00Z","input_tokens":1000,"output_tokens":1000}"#))
        #expect(Money.decimalString(nano: after.costNanoUSD) == "0.001500000")
        // The new version has no cache price: cached tokens bill at its input price, 1000×3e-07 = 300 µUSD.
        let cached = service.price(try Self.record(#"{"operation":"chat","model":"gpt-4o-mini","timestamp":"2026-06-01T00:00:00Z","cached_input_tokens":1000}"#))
        #expect(Money.decimalString(nano: cached.costNanoUSD) == "0.000300000")
    }

    @Test func validFromOverridesEveryEntryOfATokenmeterCatalogToo() throws {
        let catalog = #"{"catalog_version":"test","models":[{"model":"acme-1","input":1.0,"output":2.0},{"model":"acme-2","request":0.01,"valid_from":"2020-01-01T00:00:00Z"}]}"#
        let from = RFC3339.parse("2026-01-01T00:00:00Z")!
        let dated = try PriceImport.entries(from: Data(catalog.utf8), format: "catalog", validFrom: from, source: "file")
        #expect(dated.entries.map(\.validFrom) == [from, from])
        let undated = try PriceImport.entries(from: Data(catalog.utf8), format: "catalog", validFrom: nil, source: "file")
        #expect(undated.entries.map(\.validFrom) == [nil, RFC3339.parse("2020-01-01T00:00:00Z")])
    }

    // MARK: Invalid files

    @Test func aFileThatIsNotJSONThrowsAHelpfulCatalogError() {
        let error = Self.catalogError { _ = try LiteLLMImporter.entries(from: Data("model,input\ngpt-4o,2.5\n".utf8)) }
        #expect(error?.description.contains("not valid JSON") == true, "\(String(describing: error))")
        let viaImport = Self.catalogError {
            _ = try PriceImport.entries(from: Data("{\"gpt-4o\": ".utf8), format: "litellm", validFrom: nil, source: "x")
        }
        #expect(viaImport?.description.contains("not valid JSON") == true, "\(String(describing: viaImport))")
    }

    @Test func aTopLevelArrayThrowsAHelpfulCatalogError() {
        let error = Self.catalogError {
            _ = try LiteLLMImporter.entries(from: Data(#"[{"gpt-4o": {"input_cost_per_token": 2.5e-06}}]"#.utf8))
        }
        #expect(error?.description.contains("top level must be an object") == true, "\(String(describing: error))")
    }

    @Test func anUnknownFormatOrABadCatalogPriceThrowsAHelpfulCatalogError() {
        let format = Self.catalogError {
            _ = try PriceImport.entries(from: Data("{}".utf8), format: "csv", validFrom: nil, source: "x")
        }
        #expect(format?.description.contains("must be litellm or catalog") == true, "\(String(describing: format))")
        let negative = Self.catalogError {
            _ = try PriceImport.entries(from: Data(#"{"models":[{"model":"acme","input":-1}]}"#.utf8), format: "catalog", validFrom: nil, source: "prices.json")
        }
        #expect(negative?.description.contains("price must be a non-negative number") == true, "\(String(describing: negative))")
        #expect(negative?.description.hasPrefix("prices.json") == true, "\(String(describing: negative))")
    }
}
