import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// 1-hour cache writes: a part of `cacheWrite`, priced at their own rate (CONTRACT 2).
@Suite("1-hour cache writes have their own price")
struct CacheWriteOneHourTests {
    /// Claude Sonnet 4.5 list prices (USD per 1M): input 3, cache read 0.30, 5-minute write 3.75,
    /// 1-hour write 6 (2 × input), output 15.
    static let sonnet = PriceEntry(model: "claude-sonnet-4-5", provider: "anthropic", tokens: TokenPrices(
        input: PicoPrice(usdPerMillion: 3), cachedInput: PicoPrice(usdPerMillion: 0.3),
        cacheWrite: PicoPrice(usdPerMillion: 3.75), output: PicoPrice(usdPerMillion: 15)))

    static func cost(_ tokens: TokenCounts, _ entry: PriceEntry) -> String {
        Money.decimalString(nano: CostCalculator.catalogCostNanoUSD(tokens: tokens, units: UsageUnits(), entry: entry))
    }

    @Test(arguments: [
        // 20 × 3 + 500 × 3.75 + 2000 × 6 + 10 × 15 = 14 085 per 1M.
        (TokenCounts(input: 20, cacheWrite: 2500, output: 10, cacheWrite1h: 2000), "0.014085000"),
        // No 1-hour part: every write at 3.75.
        (TokenCounts(input: 20, cacheWrite: 2500, output: 10), "0.009585000"),
        // All writes 1-hour: 1000 × 6 = 6000 per 1M.
        (TokenCounts(cacheWrite: 1000, cacheWrite1h: 1000), "0.006000000"),
    ])
    func anthropicDefaultIsTwiceInput(tokens: TokenCounts, cost: String) {
        #expect(Self.cost(tokens, Self.sonnet) == cost)
    }

    /// Claude models served by other providers (Bedrock, Vertex, OpenRouter) bill Anthropic's rates.
    @Test(arguments: [
        ("claude-sonnet-4-5", true), ("anthropic.claude-3-5-haiku-20241022-v1:0", true),
        ("openrouter/anthropic/claude-opus-4", true), ("xclaude", true), ("claude", true),
        ("claud", false), ("gpt-4o-mini", false), ("", false), ("c", false), ("claudx-claudf", false),
        ("é-claude", true), ("clau\u{e9}de", false),
    ])
    func claudeModelsAreFoundByName(model: String, bills: Bool) {
        #expect(PriceEntry.containsClaude(model) == bills)
        #expect(PriceEntry(model: model, provider: "aws-bedrock", tokens: TokenPrices()).billsAnthropicCacheWrites == bills)
    }

    @Test func anExplicitPriceWins() {
        var entry = Self.sonnet
        entry.tokens.cacheWrite1h = PicoPrice(usdPerMillion: 7)
        #expect(Self.cost(TokenCounts(cacheWrite: 1000, cacheWrite1h: 1000), entry) == "0.007000000")
    }

    @Test func otherProvidersUseTheirOneCacheWriteRate() {
        let entry = PriceEntry(model: "gpt-5", provider: "openai", tokens: TokenPrices(
            input: PicoPrice(usdPerMillion: 1.25), cacheWrite: PicoPrice(usdPerMillion: 1.25), output: PicoPrice(usdPerMillion: 10)))
        #expect(Self.cost(TokenCounts(cacheWrite: 1000, cacheWrite1h: 1000), entry) == "0.001250000")
    }

    @Test func aContextTierDoublesItsOwnInputPrice() {
        var entry = Self.sonnet
        entry.tiers = [ContextTier(aboveInputTokens: 200_000, prices: TokenPrices(
            input: PicoPrice(usdPerMillion: 6), cacheWrite: PicoPrice(usdPerMillion: 7.5), output: PicoPrice(usdPerMillion: 22.5)))]
        // 250 000 prompt tokens, all written for 1 hour, at 2 × 6 = 12 per 1M: 3 USD.
        #expect(Self.cost(TokenCounts(cacheWrite: 250_000, cacheWrite1h: 250_000), entry) == "3.000000000")
    }

    @Test func catalogJSONRoundTripsTheField() throws {
        let json = #"{"model":"claude-x","provider":"anthropic","input":3,"cache_write":3.75,"cache_write_1h":6,"tiers":[{"above_input_tokens":200000,"input":6,"cache_write_1h":12}]}"#
        let entry = try JSONDecoder().decode(PriceEntry.self, from: Data(json.utf8))
        #expect(entry.tokens.cacheWrite1h == PicoPrice(usdPerMillion: 6))
        #expect(entry.tiers.first?.prices.cacheWrite1h == PicoPrice(usdPerMillion: 12))
        let again = try JSONDecoder().decode(PriceEntry.self, from: JSONEncoder().encode(entry))
        #expect(again == entry)
    }
}
