import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// One record as a client POSTs it, and what it must cost against the shipped catalog.
/// Costs are exact USD with 9 decimals (nano-USD); every one is worked out by hand from the
/// prices in `Pricing/Resources/default-catalog.json` (USD per 1M tokens, per-unit prices in USD).
struct PricedRecordCase: Sendable, CustomTestStringConvertible {
    let name: String
    let json: String
    let cost: String
    /// The canonical catalog name, or the name as sent when the record is unpriced.
    let model: String
    let source: CostSource

    var expectsUnpriced: Bool { source == .unpriced }
    var testDescription: String { name }

    /// Priced from the catalog.
    static func catalog(_ name: String, _ json: String, _ cost: String, _ model: String) -> Self {
        Self(name: name, json: json, cost: cost, model: model, source: .catalog)
    }

    /// The caller's `cost_usd` (or an alias of it) wins.
    static func caller(_ name: String, _ json: String, _ cost: String, _ model: String) -> Self {
        Self(name: name, json: json, cost: cost, model: model, source: .caller)
    }

    /// No price matched and no cost given: cost 0, flagged unpriced, model as sent.
    static func unpriced(_ name: String, _ json: String, _ model: String) -> Self {
        Self(name: name, json: json, cost: "0.000000000", model: model, source: .unpriced)
    }
}

@Suite("Priced records: JSON in, exact nano-USD out")
struct PricedRecordTableTests {
    /// 2026-11-25T00:00:00Z: the time of receipt for records that carry no timestamp.
    static let now = RFC3339.parse("2026-11-25T00:00:00Z")!

    /// The POST pipeline up to pricing: bytes → JSON value → normalized record.
    static func record(_ json: String) throws -> UsageRecord {
        let value = try JSONValue.parse(Array(json.utf8)[...]).get()
        let now = Self.now
        return try RecordNormalizer(maxAge: 3650 * 86400, now: { now }).normalize(value).get()
    }

    // Units in the comments: tokens × USD per 1M tokens = µUSD (1e-6 USD); 1 µUSD = 1000 nano-USD.
    static let cases: [PricedRecordCase] = [
        // MARK: Price dimensions, explicit disjoint token fields
        .catalog("explicit input, cached and output fields (gpt-4o-mini)",
                 #"{"operation":"chat","model":"gpt-4o-mini","input_tokens":600,"cached_input_tokens":400,"output_tokens":200}"#,
                 // 600×0.15 + 400×0.075 + 200×0.60 per 1M = 90 + 30 + 120 = 240 µUSD
                 "0.000240000", "gpt-4o-mini"),
        .catalog("cache_write without a cache_write price bills at input (gpt-4o)",
                 #"{"operation":"chat","model":"gpt-4o","cache_write_tokens":1000}"#,
                 // 1000×2.50 (no cache_write price → input) = 2500 µUSD
                 "0.002500000", "gpt-4o"),
        .catalog("cached_input without a cached price bills at input (gpt-4o-2024-05-13 has its own entry)",
                 #"{"operation":"chat","model":"gpt-4o-2024-05-13","input_tokens":1000,"cached_input_tokens":1000,"output_tokens":100}"#,
                 // own entry, not gpt-4o: 1000×5 + 1000×5 (no cached price → input) + 100×15 = 5000 + 5000 + 1500 = 11500 µUSD
                 "0.011500000", "gpt-4o-2024-05-13"),
        .catalog("reasoning without a reasoning price bills at output (o1, explicit fields)",
                 #"{"operation":"solve","model":"o1","input_tokens":100,"output_tokens":1000,"reasoning_tokens":900}"#,
                 // 100×15 + (1000−900)×60 + 900×60 (reasoning = output) = 1500 + 6000 + 54000 = 61500 µUSD
                 "0.061500000", "o1"),
        .catalog("gpt-image-1 is priced by tokens",
                 #"{"operation":"draw","category":"image_gen","model":"gpt-image-1","input_tokens":50,"output_tokens":4160}"#,
                 // 50×5 + 4160×40 = 250 + 166400 = 166650 µUSD
                 "0.166650000", "gpt-image-1"),

        // MARK: OpenAI Chat usage (prompt_tokens_details / completion_tokens_details)
        .catalog("OpenAI Chat usage, openai/ prefix, cached split off the prompt (gpt-4o-mini)",
                 #"{"operation":"chat","model":"openai/gpt-4o-mini","usage":{"prompt_tokens":2500,"completion_tokens":800,"total_tokens":3300,"prompt_tokens_details":{"cached_tokens":1500},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
                 // input 2500−1500 = 1000: 1000×0.15 + 1500×0.075 + 800×0.60 = 150 + 112.5 + 480 = 742.5 µUSD
                 "0.000742500", "gpt-4o-mini"),
        .catalog("OpenAI Chat usage with cached and reasoning tokens (o4-mini)",
                 #"{"operation":"chat","model":"o4-mini","usage":{"prompt_tokens":2000,"completion_tokens":1200,"total_tokens":3200,"prompt_tokens_details":{"cached_tokens":512},"completion_tokens_details":{"reasoning_tokens":800}}}"#,
                 // 1488×1.1 + 512×0.275 + (1200−800)×4.4 + 800×4.4 = 1636.8 + 140.8 + 1760 + 3520 = 7057.6 µUSD
                 "0.007057600", "o4-mini"),
        .catalog("OpenAI embeddings usage: prompt_tokens only (text-embedding-3-small)",
                 #"{"operation":"embed","model":"text-embedding-3-small","usage":{"prompt_tokens":123456,"total_tokens":123456}}"#,
                 // 123456×0.02 = 2469.12 µUSD
                 "0.002469120", "text-embedding-3-small"),

        // MARK: OpenAI Responses usage (input_tokens_details / output_tokens_details)
        .catalog("OpenAI Responses usage (gpt-5)",
                 #"{"operation":"agent","model":"gpt-5","usage":{"input_tokens":10000,"input_tokens_details":{"cached_tokens":8000},"output_tokens":2000,"output_tokens_details":{"reasoning_tokens":1500},"total_tokens":12000}}"#,
                 // input 10000−8000 = 2000: 2000×1.25 + 8000×0.125 + (2000−1500)×10 + 1500×10 = 2500 + 1000 + 5000 + 15000 = 23500 µUSD
                 "0.023500000", "gpt-5"),
        .catalog("OpenAI Responses usage spread at the top level (gpt-5-mini)",
                 #"{"operation":"agent","model":"gpt-5-mini","input_tokens":40000,"input_tokens_details":{"cached_tokens":30000},"output_tokens":5000,"output_tokens_details":{"reasoning_tokens":4000}}"#,
                 // input 40000−30000 = 10000: 10000×0.25 + 30000×0.025 + 1000×2 + 4000×2 = 2500 + 750 + 2000 + 8000 = 13250 µUSD
                 "0.013250000", "gpt-5-mini"),

        // MARK: Anthropic usage (cache_read_input_tokens / cache_creation_input_tokens)
        .catalog("Anthropic usage with cache read and write, dated name (claude-3-5-haiku)",
                 #"{"operation":"chat","model":"claude-3-5-haiku-20241022","usage":{"input_tokens":1200,"cache_read_input_tokens":5000,"cache_creation_input_tokens":3000,"output_tokens":700}}"#,
                 // 1200×0.8 + 5000×0.08 + 3000×1.0 + 700×4 = 960 + 400 + 3000 + 2800 = 7160 µUSD
                 "0.007160000", "claude-3-5-haiku"),
        .catalog("Anthropic plain usage, dated name (claude-opus-4-1)",
                 #"{"operation":"chat","model":"claude-opus-4-1-20250805","usage":{"input_tokens":100,"output_tokens":50}}"#,
                 // 100×15 + 50×75 = 1500 + 3750 = 5250 µUSD
                 "0.005250000", "claude-opus-4-1"),
        .catalog("Anthropic usage, anthropic/ prefix and dated name (claude-3-5-sonnet)",
                 #"{"operation":"chat","model":"anthropic/claude-3-5-sonnet-20241022","usage":{"input_tokens":3000,"cache_read_input_tokens":20000,"cache_creation_input_tokens":0,"output_tokens":1000}}"#,
                 // 3000×3 + 20000×0.30 + 0×3.75 + 1000×15 = 9000 + 6000 + 0 + 15000 = 30000 µUSD
                 "0.030000000", "claude-3-5-sonnet"),
        .catalog("Anthropic usage spread at the top level, alias (claude-haiku-4.5)",
                 #"{"operation":"chat","model":"claude-haiku-4.5","input_tokens":500,"cache_read_input_tokens":10000,"cache_creation_input_tokens":2000,"output_tokens":300}"#,
                 // 500×1 + 10000×0.10 + 2000×1.25 + 300×5 = 500 + 1000 + 2500 + 1500 = 5500 µUSD
                 "0.005500000", "claude-haiku-4-5"),

        // MARK: Gemini usage (promptTokenCount / cachedContentTokenCount / candidatesTokenCount / thoughtsTokenCount)
        .catalog("Gemini usageMetadata with cache and thoughts (gemini-2.5-flash)",
                 #"{"operation":"chat","model":"gemini-2.5-flash","usageMetadata":{"promptTokenCount":4000,"cachedContentTokenCount":1000,"candidatesTokenCount":600,"thoughtsTokenCount":900,"totalTokenCount":5500}}"#,
                 // input 4000−1000 = 3000, output 600+900 = 1500 (900 reasoning at output):
                 // 3000×0.30 + 1000×0.03 + 600×2.5 + 900×2.5 = 900 + 30 + 1500 + 2250 = 4680 µUSD
                 "0.004680000", "gemini-2.5-flash"),
        .catalog("Gemini usage without cache (gemini-2.0-flash)",
                 #"{"operation":"chat","model":"gemini-2.0-flash","usage":{"promptTokenCount":10000,"candidatesTokenCount":2000,"totalTokenCount":12000}}"#,
                 // 10000×0.1 + 2000×0.4 = 1000 + 800 = 1800 µUSD
                 "0.001800000", "gemini-2.0-flash"),
        .catalog("Gemini snake_case usage spread at the top level, alias (gemini-flash-lite)",
                 #"{"operation":"chat","model":"gemini-flash-lite","prompt_token_count":8000,"cached_content_token_count":5000,"candidates_token_count":1000}"#,
                 // input 8000−5000 = 3000: 3000×0.1 + 5000×0.01 + 1000×0.4 = 300 + 50 + 400 = 750 µUSD
                 "0.000750000", "gemini-2.5-flash-lite"),
        .catalog("Gemini usage with cache (gemini-1.5-flash, fractional cached price)",
                 #"{"operation":"chat","model":"gemini-1.5-flash","usage":{"promptTokenCount":100000,"cachedContentTokenCount":40000,"candidatesTokenCount":1000}}"#,
                 // input 100000−40000 = 60000: 60000×0.075 + 40000×0.01875 + 1000×0.3 = 4500 + 750 + 300 = 5550 µUSD
                 "0.005550000", "gemini-1.5-flash"),

        // MARK: Flat aliases (CONTRACT 1.1)
        .catalog("flat prompt/completion tokens with cached details, model_id alias (gpt-4.1-mini)",
                 #"{"operation":"chat","model_id":"gpt-4.1-mini","prompt_tokens":3000,"completion_tokens":500,"total_tokens":3500,"prompt_tokens_details":{"cached_tokens":1000}}"#,
                 // input 3000−1000 = 2000: 2000×0.4 + 1000×0.1 + 500×1.6 = 800 + 100 + 800 = 1700 µUSD
                 "0.001700000", "gpt-4.1-mini"),
        .catalog("flat prompt/completion tokens, ai_model alias (gpt-4.1-nano)",
                 #"{"operation":"chat","ai_model":"gpt-4.1-nano","prompt_tokens":1000,"completion_tokens":1000}"#,
                 // 1000×0.1 + 1000×0.4 = 100 + 400 = 500 µUSD
                 "0.000500000", "gpt-4.1-nano"),
        .catalog("flat completion_tokens_details reasoning, action alias (o1-mini)",
                 #"{"action":"solve","model":"o1-mini","prompt_tokens":500,"completion_tokens":3000,"completion_tokens_details":{"reasoning_tokens":2500}}"#,
                 // 500×1.1 + (3000−2500)×4.4 + 2500×4.4 = 550 + 2200 + 11000 = 13750 µUSD
                 "0.013750000", "o1-mini"),

        // MARK: Caller-given cost wins
        .caller("cost_usd wins over the catalog (claude-sonnet-4)",
                #"{"operation":"chat","model":"claude-sonnet-4","input_tokens":1000,"output_tokens":1000,"cost_usd":0.001}"#,
                // given $0.001 (the catalog would say 1000×3 + 1000×15 = 18000 µUSD)
                "0.001000000", "claude-sonnet-4"),
        .caller("cost_dollars alias wins over the catalog (gpt-4o)",
                #"{"operation":"chat","model":"gpt-4o","input_tokens":1000,"output_tokens":1000,"cost_dollars":0.5}"#,
                // given $0.5 (the catalog would say 1000×2.5 + 1000×10 = 12500 µUSD)
                "0.500000000", "gpt-4o"),
        .caller("total_cost_usd alias prices a model the catalog does not know",
                #"{"operation":"chat","model":"openrouter/mistralai/mixtral-8x22b","total_cost_usd":0.0123,"prompt_tokens":100,"completion_tokens":10}"#,
                // given $0.0123; no catalog match, so the model stays as sent
                "0.012300000", "openrouter/mistralai/mixtral-8x22b"),
        .caller("cost_usd 0 is a known zero, not unpriced",
                #"{"operation":"chat","model":"my-local-llama","cost_usd":0,"input_tokens":100}"#,
                // given $0
                "0.000000000", "my-local-llama"),
        .caller("cost_usd with 9 decimals is kept exactly",
                #"{"operation":"chat","model":"gpt-4o-mini","input_tokens":10,"cost_usd":0.123456789}"#,
                // given $0.123456789 = 123456789 nano-USD
                "0.123456789", "gpt-4o-mini"),

        // MARK: Context tiers (whole request once input + cached + cache_write > threshold)
        .catalog("claude-sonnet-4 just below 200k",
                 #"{"operation":"chat","model":"claude-sonnet-4","input_tokens":199999,"output_tokens":1000}"#,
                 // prompt 199999 ≤ 200000, base: 199999×3 + 1000×15 = 599997 + 15000 = 614997 µUSD
                 "0.614997000", "claude-sonnet-4"),
        .catalog("claude-sonnet-4 exactly at 200k (cached and cache write count toward the prompt)",
                 #"{"operation":"chat","model":"claude-sonnet-4","input_tokens":150000,"cached_input_tokens":30000,"cache_write_tokens":20000,"output_tokens":1000}"#,
                 // prompt 150000+30000+20000 = 200000, not above, base:
                 // 150000×3 + 30000×0.3 + 20000×3.75 + 1000×15 = 450000 + 9000 + 75000 + 15000 = 549000 µUSD
                 "0.549000000", "claude-sonnet-4"),
        .catalog("claude-sonnet-4 just above 200k, Anthropic usage, dated name",
                 #"{"operation":"chat","model":"claude-sonnet-4-20250514","usage":{"input_tokens":150001,"cache_read_input_tokens":30000,"cache_creation_input_tokens":20000,"output_tokens":1000}}"#,
                 // prompt 200001 > 200000, long-context tier for everything:
                 // 150001×6 + 30000×0.6 + 20000×7.5 + 1000×22.5 = 900006 + 18000 + 150000 + 22500 = 1090506 µUSD
                 "1.090506000", "claude-sonnet-4"),
        .catalog("claude-sonnet-4-5 exactly at 200k",
                 #"{"operation":"chat","model":"claude-sonnet-4-5","input_tokens":200000,"output_tokens":2000}"#,
                 // not above, base: 200000×3 + 2000×15 = 600000 + 30000 = 630000 µUSD
                 "0.630000000", "claude-sonnet-4-5"),
        .catalog("claude-sonnet-4-5 above 200k, prefixed and dated name",
                 #"{"operation":"chat","model":"anthropic/claude-sonnet-4-5-20250929","input_tokens":250000,"output_tokens":2000}"#,
                 // tier: 250000×6 + 2000×22.5 = 1500000 + 45000 = 1545000 µUSD
                 "1.545000000", "claude-sonnet-4-5"),
        .catalog("gemini-1.5-pro just below 128k",
                 #"{"operation":"chat","model":"gemini-1.5-pro","usage":{"promptTokenCount":127999,"candidatesTokenCount":1000}}"#,
                 // base: 127999×1.25 + 1000×5 = 159998.75 + 5000 = 164998.75 µUSD
                 "0.164998750", "gemini-1.5-pro"),
        .catalog("gemini-1.5-pro exactly at 128k, models/ prefix and -002 suffix",
                 #"{"operation":"chat","model":"models/gemini-1.5-pro-002","usage":{"promptTokenCount":128000,"candidatesTokenCount":1000}}"#,
                 // not above, base: 128000×1.25 + 1000×5 = 160000 + 5000 = 165000 µUSD
                 "0.165000000", "gemini-1.5-pro"),
        .catalog("gemini-1.5-pro just above 128k with cache",
                 #"{"operation":"chat","model":"gemini-1.5-pro-002","usage":{"promptTokenCount":128001,"cachedContentTokenCount":28001,"candidatesTokenCount":1000}}"#,
                 // prompt 128001 > 128000, tier; input 128001−28001 = 100000:
                 // 100000×2.5 + 28001×0.625 + 1000×10 = 250000 + 17500.625 + 10000 = 277500.625 µUSD
                 "0.277500625", "gemini-1.5-pro"),
        .catalog("gemini-2.5-pro just below 200k",
                 #"{"operation":"chat","model":"gemini-2.5-pro","usage":{"promptTokenCount":199999,"candidatesTokenCount":500,"thoughtsTokenCount":1500}}"#,
                 // base: 199999×1.25 + (500+1500)×10 = 249998.75 + 20000 = 269998.75 µUSD
                 "0.269998750", "gemini-2.5-pro"),
        .catalog("gemini-2.5-pro exactly at 200k",
                 #"{"operation":"chat","model":"gemini-2.5-pro","usage":{"promptTokenCount":200000,"candidatesTokenCount":500,"thoughtsTokenCount":1500}}"#,
                 // not above, base: 200000×1.25 + 2000×10 = 250000 + 20000 = 270000 µUSD
                 "0.270000000", "gemini-2.5-pro"),
        .catalog("gemini-2.5-pro just above 200k",
                 #"{"operation":"chat","model":"gemini-2.5-pro","usage":{"promptTokenCount":200001,"candidatesTokenCount":500,"thoughtsTokenCount":1500}}"#,
                 // tier: 200001×2.5 + 2000×15 = 500002.5 + 30000 = 530002.5 µUSD
                 "0.530002500", "gemini-2.5-pro"),

        // MARK: Rounding once to the nearest nano-USD, half away from zero
        .catalog("one cached token: 18.75 nano rounds up to 19 (gemini-1.5-flash)",
                 #"{"operation":"chat","model":"gemini-1.5-flash","cached_input_tokens":1}"#,
                 // 1×0.01875 µUSD = 18.75 nano → 19
                 "0.000000019", "gemini-1.5-flash"),
        .catalog("two cached tokens: exactly 37.5 nano rounds half away from zero to 38",
                 #"{"operation":"chat","model":"gemini-1.5-flash","cached_input_tokens":2}"#,
                 // 2×0.01875 µUSD = 37.5 nano → 38
                 "0.000000038", "gemini-1.5-flash"),
        .catalog("three cached tokens: 56.25 nano rounds down to 56",
                 #"{"operation":"chat","model":"gemini-1.5-flash","cached_input_tokens":3}"#,
                 // 3×0.01875 µUSD = 56.25 nano → 56
                 "0.000000056", "gemini-1.5-flash"),
        .catalog("half-nano cached token plus cache write at the input price (gemini-1.5-pro)",
                 #"{"operation":"chat","model":"gemini-1.5-pro","cached_input_tokens":1,"cache_write_tokens":1}"#,
                 // 1×0.3125 + 1×1.25 (no cache_write price → input) = 312.5 + 1250 = 1562.5 nano → 1563
                 "0.000001563", "gemini-1.5-pro"),
        .catalog("explicit top-level token fields win over the usage object (gpt-4o-mini)",
                 #"{"operation":"chat","model":"gpt-4o-mini","input_tokens":100,"output_tokens":10,"usage":{"prompt_tokens":1000,"completion_tokens":300}}"#,
                 // usage ignored: 100×0.15 + 10×0.6 = 15 + 6 = 21 µUSD
                 "0.000021000", "gpt-4o-mini"),

        // MARK: Per-unit prices
        .catalog("video per second (sora-2)",
                 #"{"operation":"video","model":"sora-2","units":{"seconds":12}}"#,
                 // 12 s × $0.10 = $1.20
                 "1.200000000", "sora-2"),
        .catalog("video per second given in minutes, dated name after the 2025-09-09 cut (veo-3)",
                 #"{"operation":"video","model":"veo-3.0-generate-001","units":{"minutes":0.5}}"#,
                 // 0.5 min = 30 s × $0.40 (version from 2025-09-09; received 2026-11-25) = $12
                 "12.000000000", "veo-3"),
        .catalog("video per second before the 2025-09-09 cut uses the undated version (veo-3)",
                 #"{"operation":"video","model":"veo-3","timestamp":"2025-08-01T00:00:00Z","units":{"seconds":8}}"#,
                 // 8 s × $0.75 = $6
                 "6.000000000", "veo-3"),
        .catalog("video per second through the match regex (kling.* → kling-video)",
                 #"{"operation":"video","model":"kling-v3-pro","units":{"seconds":10}}"#,
                 // 10 s × $0.07 = $0.70
                 "0.700000000", "kling-video"),
        .catalog("video per second through an alias (kling-v2.1-master → kling-v2)",
                 #"{"operation":"video","model":"kling-v2.1-master","units":{"seconds":5}}"#,
                 // 5 s × $0.28 = $1.40
                 "1.400000000", "kling-v2"),
        .catalog("transcription per minute given in seconds (whisper-1)",
                 #"{"operation":"transcribe","model":"whisper-1","units":{"seconds":90}}"#,
                 // 90 s = 1.5 min × $0.006 = $0.009
                 "0.009000000", "whisper-1"),
        .catalog("transcription per minute, alias (whisper)",
                 #"{"operation":"transcribe","model":"whisper","units":{"minutes":2.5}}"#,
                 // 2.5 min × $0.006 = $0.015
                 "0.015000000", "whisper-1"),
        .catalog("speech per 1k characters (tts-1)",
                 #"{"operation":"speak","model":"tts-1","units":{"characters":2500}}"#,
                 // 2500/1000 × $0.015 = 2.5 × 0.015 = $0.0375
                 "0.037500000", "tts-1"),
        .catalog("speech per 1k characters, not a multiple of 1000 (tts-1-hd)",
                 #"{"operation":"speak","model":"tts-1-hd","units":{"characters":1234}}"#,
                 // 1234/1000 × $0.03 = 1.234 × 0.03 = $0.03702
                 "0.037020000", "tts-1-hd"),
        .catalog("speech per 1k characters, alias (eleven-multilingual-v2)",
                 #"{"operation":"speak","model":"eleven-multilingual-v2","units":{"characters":777}}"#,
                 // 0.777 × $0.10 = $0.0777
                 "0.077700000", "eleven_multilingual_v2"),
        .catalog("image per image (dall-e-3)",
                 #"{"operation":"draw","model":"dall-e-3","units":{"images":3}}"#,
                 // 3 × $0.04 = $0.12
                 "0.120000000", "dall-e-3"),
        .catalog("image per image without units.images bills one image (dall-e-3)",
                 #"{"operation":"draw","model":"dall-e-3"}"#,
                 // an image call makes at least one image: 1 × $0.04
                 "0.040000000", "dall-e-3"),
        .catalog("image per image through an alias (midjourney-v7)",
                 #"{"operation":"draw","model":"midjourney-v7","units":{"images":4}}"#,
                 // 4 × $0.05 = $0.20
                 "0.200000000", "midjourney"),
        .catalog("music per request, 1 request by default, alias (chirp-v4 → suno)",
                 #"{"operation":"song","model":"chirp-v4"}"#,
                 // 1 request × $0.04
                 "0.040000000", "suno"),
        .catalog("music per request with units.requests, match regex (suno-v6-beta)",
                 #"{"operation":"song","model":"suno-v6-beta","units":{"requests":2}}"#,
                 // 2 requests × $0.04 = $0.08
                 "0.080000000", "suno"),
        .catalog("video per request through the match regex with a provider prefix (video-01)",
                 #"{"operation":"video","model":"minimax/video-01-live"}"#,
                 // 1 request × $0.43
                 "0.430000000", "video-01"),

        // MARK: Names: dated, prefixed, case-insensitive, aliases
        .catalog("dated snapshot falls back to its family (gpt-4o-2024-08-06 → gpt-4o)",
                 #"{"operation":"chat","model":"gpt-4o-2024-08-06","input_tokens":1000,"output_tokens":100}"#,
                 // 1000×2.5 + 100×10 = 2500 + 1000 = 3500 µUSD
                 "0.003500000", "gpt-4o"),
        .catalog("upper-case name (GPT-4O)",
                 #"{"operation":"chat","model":"GPT-4O","input_tokens":2,"output_tokens":3}"#,
                 // 2×2.5 + 3×10 = 5 + 30 = 35 µUSD
                 "0.000035000", "gpt-4o"),
        .catalog("alias (gpt-5-codex → gpt-5)",
                 #"{"operation":"code","model":"gpt-5-codex","input_tokens":1000,"output_tokens":1000}"#,
                 // 1000×1.25 + 1000×10 = 1250 + 10000 = 11250 µUSD
                 "0.011250000", "gpt-5"),

        // MARK: Effective dates (o3: $10/$2.50/$40 from 2025-04-16, $2/$0.50/$8 from 2025-06-10)
        .catalog("o3 on 2025-05-01: launch price",
                 #"{"operation":"chat","model":"o3","timestamp":"2025-05-01T00:00:00Z","input_tokens":1000,"cached_input_tokens":1000,"output_tokens":1000,"reasoning_tokens":500}"#,
                 // 1000×10 + 1000×2.5 + 500×40 + 500×40 = 10000 + 2500 + 40000 = 52500 µUSD
                 "0.052500000", "o3"),
        .catalog("o3 on 2025-07-01: after the price cut",
                 #"{"operation":"chat","model":"o3","timestamp":"2025-07-01T00:00:00Z","input_tokens":1000,"cached_input_tokens":1000,"output_tokens":1000,"reasoning_tokens":500}"#,
                 // 1000×2 + 1000×0.5 + 1000×8 = 2000 + 500 + 8000 = 10500 µUSD
                 "0.010500000", "o3"),
        .catalog("o3 one second before the cut (created_at as Unix seconds 1749513599 = 2025-06-09T23:59:59Z)",
                 #"{"operation":"chat","model":"o3","created_at":1749513599,"input_tokens":1000,"cached_input_tokens":1000,"output_tokens":1000}"#,
                 // launch price: 1000×10 + 1000×2.5 + 1000×40 = 52500 µUSD
                 "0.052500000", "o3"),
        .catalog("o3 exactly at the cut, dated name (o3-2025-04-16)",
                 #"{"operation":"chat","model":"o3-2025-04-16","timestamp":"2025-06-10T00:00:00Z","input_tokens":1000,"cached_input_tokens":1000,"output_tokens":1000}"#,
                 // valid_from is inclusive: 1000×2 + 1000×0.5 + 1000×8 = 10500 µUSD
                 "0.010500000", "o3"),
        .unpriced("o3 before its first version (2025-03-01) is unpriced, never guessed",
                  #"{"operation":"chat","model":"openai/o3","timestamp":"2025-03-01T00:00:00Z","input_tokens":1000,"output_tokens":1000}"#,
                  // the name matches the catalog, so it is reported canonically, but no price is valid yet
                  "o3"),

        // MARK: Unpriced
        .unpriced("unknown model",
                  #"{"operation":"chat","model":"my-finetune-xyz","input_tokens":1000,"output_tokens":1000}"#,
                  "my-finetune-xyz"),
        .unpriced("unknown model whose undated family is unknown too",
                  #"{"operation":"chat","model":"acme-large-latest","prompt_tokens":1000,"completion_tokens":10}"#,
                  "acme-large-latest"),

        // MARK: Large counts: integer math, no overflow, no float drift
        .catalog("10 million tokens per dimension (gpt-4.1)",
                 #"{"operation":"batch","model":"gpt-4.1","input_tokens":10000000,"cached_input_tokens":5000000,"output_tokens":10000000}"#,
                 // 10M×2 + 5M×0.5 + 10M×8 per 1M = $20 + $2.50 + $80 = $102.50
                 "102.500000000", "gpt-4.1"),
        .catalog("odd large counts (claude-4-opus alias)",
                 #"{"operation":"batch","model":"claude-4-opus","input_tokens":123456789,"output_tokens":98765432}"#,
                 // 123456789×15 + 98765432×75 = 1851851835 + 7407407400 = 9259259235 µUSD = $9259.259235
                 "9259.259235000", "claude-opus-4"),
        .catalog("10 billion output tokens plus 3 input tokens keep every nano (gpt-5-pro)",
                 #"{"operation":"batch","model":"gpt-5-pro","input_tokens":3,"output_tokens":10000000000}"#,
                 // 3×15 + 10^10×120 per 1M = 45 µUSD + $1,200,000 = $1200000.000045
                 "1200000.000045000", "gpt-5-pro"),
        .catalog("10,000,001 cached tokens above the 128k tier, half nano rounds up (gemini-1.5-flash)",
                 #"{"operation":"batch","model":"gemini-1.5-flash","cached_input_tokens":10000001}"#,
                 // prompt 10000001 > 128000, tier cached 0.0375: 10000001×0.0375 = 375000.0375 µUSD = 375000037.5 nano → 375000038
                 "0.375000038", "gemini-1.5-flash"),
    ]

    @Test(arguments: cases)
    func pricesTheRecordExactly(_ c: PricedRecordCase) throws {
        let record = try Self.record(c.json)
        let service = PricingService(base: try DefaultCatalog.entries())
        let priced = service.price(record)
        #expect(Money.decimalString(nano: priced.costNanoUSD) == c.cost)
        #expect(priced.model == c.model)
        #expect(priced.unpriced == c.expectsUnpriced)
        #expect(priced.costSource == c.source)
    }

    @Test func theTableIsLargeAndNamesAreUnique() {
        #expect(Self.cases.count >= 40)
        #expect(Set(Self.cases.map(\.name)).count == Self.cases.count)
    }
}

@Suite("Price versions, reasoning prices and summing without drift")
struct PriceVersionAndSumTests {
    static let a = RFC3339.parse("2025-03-01T00:00:00Z")!
    static let b = RFC3339.parse("2025-09-01T12:00:00Z")!

    /// acme-llm from A: $1 in / $4 out per 1M; from B: $0.50 in / $2 out per 1M.
    static let v1 = PriceEntry(model: "acme-llm", provider: "acme", tokens: TokenPrices(input: PicoPrice(usdPerMillion: 1), output: PicoPrice(usdPerMillion: 4)), validFrom: a)
    static let v2 = PriceEntry(model: "acme-llm", provider: "acme", tokens: TokenPrices(input: PicoPrice(usdPerMillion: 0.5), output: PicoPrice(usdPerMillion: 2)), validFrom: b)

    static func call(at date: Date, model: String = "acme-llm") -> UsageRecord {
        UsageRecord(timestamp: date, operation: "chat", model: model, tokens: TokenCounts(input: 1000, output: 500))
    }

    static func cost(_ priced: PricedRecord) -> String { Money.decimalString(nano: priced.costNanoUSD) }

    @Test func eachVersionAppliesFromItsValidFromUntilTheNext() {
        // Given out of order on purpose: the catalog sorts versions by valid_from.
        let service = PricingService(base: [Self.v2, Self.v1])

        // A − 1 s: no version yet → unpriced, cost 0, reported under the canonical name.
        let before = service.price(Self.call(at: Self.a.addingTimeInterval(-1), model: "ACME-LLM"))
        #expect(before.unpriced)
        #expect(before.costNanoUSD == 0)
        #expect(before.model == "acme-llm")

        // At A (inclusive): 1000×1 + 500×4 per 1M = 1000 + 2000 = 3000 µUSD.
        let atA = service.price(Self.call(at: Self.a))
        #expect(Self.cost(atA) == "0.003000000")
        #expect(atA.priceVersion == Self.v1.version)
        #expect(atA.provider == "acme")

        // Between A and B, and one second before B: still version A.
        #expect(Self.cost(service.price(Self.call(at: RFC3339.parse("2025-06-01T00:00:00Z")!))) == "0.003000000")
        #expect(Self.cost(service.price(Self.call(at: Self.b.addingTimeInterval(-1)))) == "0.003000000")

        // At B (inclusive) and after: 1000×0.5 + 500×2 = 500 + 1000 = 1500 µUSD.
        let atB = service.price(Self.call(at: Self.b))
        #expect(Self.cost(atB) == "0.001500000")
        #expect(atB.priceVersion == Self.v2.version)
        #expect(Self.cost(service.price(Self.call(at: RFC3339.parse("2026-11-25T00:00:00Z")!))) == "0.001500000")
    }

    @Test func runTimeChangesAddReplaceAndDeleteVersions() async throws {
        // An undated version ("always") covers everything before A: 1000×2 + 500×8 = 2000 + 4000 = 6000 µUSD.
        let v0 = PriceEntry(model: "acme-llm", tokens: TokenPrices(input: PicoPrice(usdPerMillion: 2), output: PicoPrice(usdPerMillion: 8)))
        let service = PricingService(base: [Self.v1, Self.v2], changes: [.put(v0)])
        let beforeA = service.price(Self.call(at: Self.a.addingTimeInterval(-1)))
        #expect(!beforeA.unpriced)
        #expect(Self.cost(beforeA) == "0.006000000")
        #expect(Self.cost(service.price(Self.call(at: Self.a))) == "0.003000000")

        // Deleting version B (model name case-insensitive) lets version A run on past B.
        try await service.apply([.delete(model: "ACME-LLM", validFrom: Self.b)])
        #expect(Self.cost(service.price(Self.call(at: Self.b))) == "0.003000000")

        // Putting a version with the same valid_from replaces it: 1000×3 + 500×4 = 3000 + 2000 = 5000 µUSD.
        var v1b = Self.v1
        v1b.tokens.input = PicoPrice(usdPerMillion: 3)
        try await service.apply([.put(v1b)])
        #expect(Self.cost(service.price(Self.call(at: Self.a))) == "0.005000000")
        #expect(service.catalog.versions["acme-llm"]?.count == 2)
    }

    @Test func explicitReasoningPriceAndOneRoundingOfTheSum() {
        let think = PriceEntry(model: "think-1", tokens: TokenPrices(
            input: PicoPrice(usdPerMillion: 1), output: PicoPrice(usdPerMillion: 4), reasoning: PicoPrice(usdPerMillion: 3)))
        // $0.0005 per 1M = 500 pico-USD = 0.5 nano-USD per token.
        let half = PriceEntry(model: "half-nano", tokens: TokenPrices(input: PicoPrice(pico: 500), output: PicoPrice(pico: 500)))
        let service = PricingService(base: [think, half])
        let now = RFC3339.parse("2026-11-25T00:00:00Z")!

        // 100×1 + (1000−600)×4 + 600×3 = 100 + 1600 + 1800 = 3500 µUSD
        let reasoning = service.price(UsageRecord(timestamp: now, operation: "chat", model: "think-1",
                                                  tokens: TokenCounts(input: 100, output: 1000, reasoning: 600)))
        #expect(Self.cost(reasoning) == "0.003500000")

        // 1 input + 1 output = 0.5 + 0.5 = 1 nano: rounded once on the sum (rounding each part would give 2).
        let once = service.price(UsageRecord(timestamp: now, operation: "chat", model: "half-nano",
                                             tokens: TokenCounts(input: 1, output: 1)))
        #expect(Self.cost(once) == "0.000000001")

        // 1 input alone: 0.5 nano rounds half away from zero to 1.
        let alone = service.price(UsageRecord(timestamp: now, operation: "chat", model: "half-nano",
                                              tokens: TokenCounts(input: 1)))
        #expect(Self.cost(alone) == "0.000000001")
    }

    @Test func aMillionRecordsSumExactlyAsNanoIntegers() throws {
        let service = PricingService(base: try DefaultCatalog.entries())
        var record = UsageRecord(id: "bulk", idWasGiven: true, timestamp: RFC3339.parse("2026-11-25T00:00:00Z")!,
                                 operation: "batch", model: "gemini-1.5-flash")
        // gemini-1.5-flash cached input: $0.01875 per 1M = 18750 pico-USD = 18.75 nano-USD per token.
        // Record i has k = i % 1000 + 1 cached tokens: 18.75k nano, rounded per record, half away from zero:
        // k ≡ 0 (mod 4) exact, ≡ 1 → x.75 up (+0.25), ≡ 2 → x.5 up (+0.5), ≡ 3 → x.25 down (−0.25).
        // Per 1000 records: 18.75 × (1+…+1000) = 18.75 × 500500 = 9384375, plus 250 × (0.25 + 0.5 − 0.25) = 125
        // → 9384500 nano; × 1000 rounds of k = 9,384,500,000 nano-USD = $9.384500000.
        var total: Int64 = 0
        var doubleTotal = 0.0
        for i in 0..<1_000_000 {
            let k = Int64(i % 1000 + 1)
            record.tokens = TokenCounts(cachedInput: k)
            let nano = service.price(record).costNanoUSD
            total += nano
            doubleTotal += Money.usd(fromNano: nano)
        }
        #expect(Money.decimalString(nano: total) == "9.384500000")
        // The same amounts summed as Double USD drift (IEEE order of operations gives 9.384499999999427).
        #expect(doubleTotal != 9.3845)

        // The per-record values behind the cycle of four.
        for (k, expected) in [(1, "0.000000019"), (2, "0.000000038"), (3, "0.000000056"), (4, "0.000000075")] {
            record.tokens = TokenCounts(cachedInput: Int64(k))
            #expect(Money.decimalString(nano: service.price(record).costNanoUSD) == expected)
        }
    }

    @Test func perMinutePriceGivenSecondsIsExact() throws {
        // whisper-1 is $0.006 per minute: 100 s = 5/3 min × $0.006 = $0.010 exactly.
        // Seconds are converted inside the exact integer sum (÷60 there), not rounded to micro-minutes first.
        let service = PricingService(base: try DefaultCatalog.entries())
        let record = UsageRecord(timestamp: RFC3339.parse("2026-11-25T00:00:00Z")!, operation: "transcribe",
                                 model: "whisper-1", units: UsageUnits(seconds: 100))
        let priced = service.price(record)
        #expect(Money.decimalString(nano: priced.costNanoUSD) == "0.010000000")
    }
}
