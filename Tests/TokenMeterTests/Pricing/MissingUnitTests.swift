import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// A per-unit price without its unit is unpriced with a reason, never $0 in silence.
struct MissingUnitCase: Sendable, CustomTestStringConvertible {
    let name: String
    let entry: PriceEntry
    let record: UsageRecord
    /// nil: priced; else a fragment of the unpriced reason.
    let reason: String?
    var testDescription: String { name }
}

@Suite("Per-unit prices need their units")
struct MissingUnitTests {
    static func record(_ model: String, tokens: TokenCounts = TokenCounts(), units: UsageUnits = UsageUnits()) -> UsageRecord {
        UsageRecord(id: "r", timestamp: Date(timeIntervalSince1970: 1_800_000_000), service: "s", operation: "o",
                    model: model, tokens: tokens, units: units)
    }

    static let perSecond = PriceEntry(model: "veo-x", perSecond: PicoPrice(usdPerUnit: 0.4))
    static let perMinute = PriceEntry(model: "whisper-x", perMinute: PicoPrice(usdPerUnit: 0.006))
    static let perChars = PriceEntry(model: "tts-x", per1kCharacters: PicoPrice(usdPerUnit: 0.015))
    static let perImage = PriceEntry(model: "img-x", perImage: PicoPrice(usdPerUnit: 0.04))
    static let tokensAndSeconds = PriceEntry(model: "mixed-x", tokens: TokenPrices(input: PicoPrice(usdPerMillion: 1)), perSecond: PicoPrice(usdPerUnit: 0.1))

    static let cases: [MissingUnitCase] = [
        .init(name: "per-second model without seconds or minutes", entry: perSecond, record: record("veo-x"), reason: "units.seconds or units.minutes"),
        .init(name: "per-second model with tokens it does not price", entry: perSecond, record: record("veo-x", tokens: TokenCounts(input: 10)), reason: "priced per second"),
        .init(name: "per-second model with seconds", entry: perSecond, record: record("veo-x", units: UsageUnits(seconds: 8)), reason: nil),
        .init(name: "per-second model with minutes", entry: perSecond, record: record("veo-x", units: UsageUnits(minutes: 1)), reason: nil),
        .init(name: "per-minute model without minutes", entry: perMinute, record: record("whisper-x"), reason: "priced per minute"),
        .init(name: "per-1k-characters model without characters", entry: perChars, record: record("tts-x"), reason: "units.characters"),
        .init(name: "per-1k-characters model with characters", entry: perChars, record: record("tts-x", units: UsageUnits(characters: 10)), reason: nil),
        .init(name: "per-image model bills one image by default", entry: perImage, record: record("img-x"), reason: nil),
        .init(name: "tokens and seconds: priced by the tokens it carries", entry: tokensAndSeconds, record: record("mixed-x", tokens: TokenCounts(input: 100)), reason: nil),
        .init(name: "tokens and seconds: neither carried", entry: tokensAndSeconds, record: record("mixed-x"), reason: "units.seconds"),
    ]

    @Test(arguments: cases)
    func aMissingUnitIsUnpricedWithItsReason(_ c: MissingUnitCase) {
        let service = PricingService(base: [c.entry])
        let priced = service.price(c.record)
        if let reason = c.reason {
            #expect(priced.unpriced)
            #expect(priced.costNanoUSD == 0)
            #expect(priced.unpricedReason?.contains(reason) == true, "\(priced.unpricedReason ?? "no reason")")
            #expect(priced.priceMatch == nil)
            #expect(priced.model == c.entry.model, "still named canonically")
        } else {
            #expect(!priced.unpriced)
            #expect(priced.priceMatch == "exact")
            #expect(priced.unpricedReason == nil)
        }
    }

    @Test func theShippedVeo3WithoutSecondsIsUnpriced() throws {
        let service = PricingService(base: try DefaultCatalog.entries())
        let priced = service.price(Self.record("veo-3"))
        #expect(priced.unpriced)
        #expect(priced.unpricedReason == "veo-3 is priced per second: the record has no units.seconds or units.minutes")
    }

    @Test func eachRecordKeepsHowItsPriceWasFound() throws {
        let service = PricingService(base: try DefaultCatalog.entries())
        #expect(service.price(Self.record("gpt-4o", tokens: TokenCounts(input: 1))).priceMatch == "exact")
        #expect(service.price(Self.record("claude-3.5-haiku", tokens: TokenCounts(input: 1))).priceMatch == "alias")
        #expect(service.price(Self.record("openai/gpt-4o", tokens: TokenCounts(input: 1))).priceMatch == "provider_prefix")
        #expect(service.price(Self.record("claude-3-5-haiku-20241022", tokens: TokenCounts(input: 1))).priceMatch == "snapshot")
        #expect(service.price(Self.record("suno-v9")).priceMatch == "regex")
        var given = Self.record("gpt-4o")
        given.callerCostNanoUSD = 5
        #expect(service.price(given).priceMatch == "caller")
        let unknown = service.price(Self.record("no-such-model-x"))
        #expect(unknown.priceMatch == nil)
        #expect(unknown.unpricedReason == "no price matches 'no-such-model-x'")
    }

    @Test func aModelWithNoVersionValidThenSaysSo() {
        let later = PriceEntry(model: "m", tokens: TokenPrices(input: PicoPrice(usdPerMillion: 1)), validFrom: Date(timeIntervalSince1970: 1_900_000_000))
        let priced = PricingService(base: [later]).price(Self.record("m", tokens: TokenCounts(input: 1)))
        #expect(priced.unpriced)
        #expect(priced.unpricedReason?.hasPrefix("no price of m is valid at") == true)
    }
}
