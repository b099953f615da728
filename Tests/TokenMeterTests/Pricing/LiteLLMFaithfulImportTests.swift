import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("LiteLLM import reads every price field as LiteLLM does")
struct LiteLLMFaithfulImportTests {
    static func entry(_ json: String) throws -> PriceEntry {
        let result = try LiteLLMImporter.entries(from: Data(#"{"m": \#(json)}"#.utf8))
        return try #require(result.entries.first, "skipped: \(result.skipped)")
    }

    static func pico(_ usdPerToken: Double) -> PicoPrice { PicoPrice(usdPerUnit: usdPerToken) }

    @Test func everyTierThresholdIsReadAndAHigherTierFallsBackToTheLowerOne() throws {
        let e = try Self.entry(#"""
            {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "cache_read_input_token_cost": 1e-07,
             "input_cost_per_token_above_128k_tokens": 3e-06, "output_cost_per_token_above_128k_tokens": 4e-06,
             "input_cost_per_token_above_256k_tokens": 5e-06,
             "cache_read_input_token_cost_above_1000k_tokens": 9e-07,
             "input_cost_per_token_above_64000_tokens": 1.5e-06,
             "cache_creation_input_token_cost_above_1hr": 8e-06}
            """#)
        #expect(e.tiers.map(\.aboveInputTokens) == [64_000, 128_000, 256_000, 1_000_000])
        #expect(e.tiers[0].prices.input == Self.pico(1.5e-06) && e.tiers[0].prices.output == nil)
        #expect(e.tiers[1].prices.input == Self.pico(3e-06) && e.tiers[1].prices.output == Self.pico(4e-06))
        #expect(e.tiers[2].prices.input == Self.pico(5e-06) && e.tiers[2].prices.output == Self.pico(4e-06), "output falls back to the 128k tier")
        #expect(e.tiers[3].prices.cachedInput == Self.pico(9e-07) && e.tiers[3].prices.input == Self.pico(5e-06))
        #expect(e.tokens.cacheWrite == nil, "1-hour cache writes are not read")
        let prices = CostCalculator.effectiveTokenPrices(entry: e, promptTokens: 300_000)
        #expect(prices.input == Self.pico(5e-06) && prices.output == Self.pico(4e-06) && prices.cachedInput == Self.pico(1e-07))
    }

    @Test func imageTokenOutputPriceAndPerImageOnlyForImageModels() throws {
        let image = try Self.entry(#"{"mode": "image_generation", "input_cost_per_token": 5e-06, "output_cost_per_image_token": 4e-05, "output_cost_per_image": 0.01}"#)
        #expect(image.tokens.output == Self.pico(4e-05))
        #expect(image.perImage == PicoPrice(usdPerUnit: 0.01))
        let chat = try Self.entry(#"{"mode": "chat", "input_cost_per_token": 5e-06, "output_cost_per_token": 1e-05, "input_cost_per_image": 0.002}"#)
        #expect(chat.perImage == nil, "a chat model's per-image input price would bill an image on every record")
        #expect(chat.tokens.output == Self.pico(1e-05))
        let result = try LiteLLMImporter.entries(from: Data(#"{"v": {"mode": "chat", "input_cost_per_image": 0.002}}"#.utf8))
        #expect(result.entries.isEmpty)
        #expect(result.skipped == ["v: only a per-image price, and it is not an image model (mode chat): not imported"])
    }

    @Test func audioTokenPricesWhenTheEntryHasNoTextPriceForThatSide() throws {
        let audio = try Self.entry(#"{"mode": "audio_speech", "input_cost_per_audio_token": 1e-05, "output_cost_per_audio_token": 2e-05}"#)
        #expect(audio.tokens.input == Self.pico(1e-05) && audio.tokens.output == Self.pico(2e-05))
        let mixed = try Self.entry(#"{"mode": "chat", "input_cost_per_token": 2.5e-06, "input_cost_per_audio_token": 4e-05, "output_cost_per_token": 1e-05}"#)
        #expect(mixed.tokens.input == Self.pico(2.5e-06), "records carry no audio split: the text price")
    }

    @Test func prefixedAndResellerKeysHaveNoBareAlias() throws {
        let result = try LiteLLMImporter.entries(from: Data(#"""
            {"vercel_ai_gateway/anthropic/claude-3-5-sonnet-20241022": {"litellm_provider": "vercel_ai_gateway", "input_cost_per_token": 3e-06},
             "azure/us/gpt-4o": {"litellm_provider": "azure", "input_cost_per_token": 2.75e-06}}
            """#.utf8))
        #expect(result.entries.allSatisfy { $0.aliases.isEmpty })
        let catalog = PriceCatalog(entries: result.entries)
        #expect(catalog.canonicalModel(for: "claude-3-5-sonnet-20241022") == nil)
        #expect(catalog.canonicalModel(for: "azure/us/gpt-4o") == "azure/us/gpt-4o")
    }

    @Test func fireworksCachedInputDefaultsToHalfTheInputPrice() throws {
        let e = try Self.entry(#"{"litellm_provider": "fireworks_ai", "mode": "chat", "input_cost_per_token": 9e-07, "output_cost_per_token": 9e-07}"#)
        #expect(e.tokens.cachedInput == Self.pico(4.5e-07))
    }

    @Test func operatorChangesStayOverAnImportAndTheImportOverShipped() throws {
        let shipped = PriceEntry(model: "m", provider: "acme", aliases: ["m-alias"], tokens: TokenPrices(input: PicoPrice(usdPerMillion: 1)), snapshotsSharePrice: true)
        let imported = PriceEntry(model: "m", provider: "reseller", tokens: TokenPrices(input: PicoPrice(usdPerMillion: 2)))
        let mine = PriceEntry(model: "m", provider: "acme", tokens: TokenPrices(input: PicoPrice(usdPerMillion: 3)))
        let importedThenMine = PriceChange.apply([.imported(imported), .put(mine), .imported(imported)], to: [shipped])
        #expect(importedThenMine.map(\.tokens.input) == [PicoPrice(usdPerMillion: 3)], "a later import does not override the operator")
        let importOnly = try #require(PriceChange.apply([.imported(imported)], to: [shipped]).first)
        #expect(importOnly.tokens.input == PicoPrice(usdPerMillion: 2))
        #expect(importOnly.provider == "acme" && importOnly.aliases == ["m-alias"] && importOnly.snapshotsSharePrice)
    }
}
