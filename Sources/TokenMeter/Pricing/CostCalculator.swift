import Foundation

public enum CostSource: String, Sendable, Codable {
    /// `cost_usd` given by the caller.
    case caller
    /// Computed from the price catalog.
    case catalog
    /// No cost given and no price matched: cost 0, flagged unpriced.
    case unpriced
}

/// A record with its price resolved: what the store keeps and the metrics count.
public struct PricedRecord: Sendable, Equatable {
    public var record: UsageRecord
    /// The canonical catalog name when the model matched, else the name as sent.
    public var model: String
    public var provider: String
    public var category: UsageCategory
    public var costNanoUSD: Int64
    public var costSource: CostSource
    public var priceVersion: String?
    public var creditsMicro: Int64
    public var dailyLimit: Int?

    public var unpriced: Bool { costSource == .unpriced }
}

/// Prices one record against a catalog entry. Pure integer math: token and unit prices in pico-USD,
/// quantities of non-token units in millionths, one rounding to nano-USD at the end.
public enum CostCalculator {
    public static func price(_ record: UsageRecord, entry: PriceEntry?) -> PricedRecord {
        var costSource = CostSource.unpriced
        var cost: Int64 = 0
        if let given = record.callerCostNanoUSD {
            cost = given
            costSource = .caller
        } else if let entry {
            cost = catalogCostNanoUSD(tokens: record.tokens, units: record.units, entry: entry)
            costSource = .catalog
        }
        return PricedRecord(
            record: record,
            model: entry?.model ?? record.model,
            provider: record.provider ?? entry?.provider ?? "unknown",
            category: record.category ?? entry?.category ?? .text,
            costNanoUSD: cost,
            costSource: costSource,
            priceVersion: entry?.version,
            creditsMicro: record.creditsMicro ?? entry.flatMap { defaultCredits(units: record.units, entry: $0) } ?? 0,
            dailyLimit: entry?.dailyLimit
        )
    }

    public static func catalogCostNanoUSD(tokens: TokenCounts, units: UsageUnits, entry: PriceEntry) -> Int64 {
        let prices = effectiveTokenPrices(entry: entry, promptTokens: tokens.promptTotal)
        let input = prices.input?.pico ?? 0
        let output = prices.output?.pico ?? 0
        let nonReasoningOutput = tokens.output - tokens.reasoning
        // Sum in pico-USD × 1e6 so fractional unit quantities (in millionths) stay integral.
        var total: Int128 = 0
        total += Int128(tokens.input) * Int128(input) * 1_000_000
        total += Int128(tokens.cachedInput) * Int128(prices.cachedInput?.pico ?? input) * 1_000_000
        total += Int128(tokens.cacheWrite) * Int128(prices.cacheWrite?.pico ?? input) * 1_000_000
        total += Int128(nonReasoningOutput) * Int128(output) * 1_000_000
        total += Int128(tokens.reasoning) * Int128(prices.reasoning?.pico ?? output) * 1_000_000
        for (quantity, price) in unitCharges(units: units, entry: entry) {
            total += Int128(Money.micro(from: quantity)) * Int128(price.pico)
        }
        // pico × 1e6 → nano: divide by 1e9, rounding half away from zero.
        let divisor: Int128 = 1_000_000_000
        let rounded = (total + divisor / 2) / divisor
        return rounded > Int128(Int64.max) ? Int64.max : Int64(rounded)
    }

    /// Token prices after applying the highest context tier the prompt exceeds.
    public static func effectiveTokenPrices(entry: PriceEntry, promptTokens: Int64) -> TokenPrices {
        guard let tier = entry.tiers.last(where: { promptTokens > $0.aboveInputTokens }) else { return entry.tokens }
        var prices = entry.tokens
        prices.input = tier.prices.input ?? prices.input
        prices.cachedInput = tier.prices.cachedInput ?? prices.cachedInput
        prices.cacheWrite = tier.prices.cacheWrite ?? prices.cacheWrite
        prices.output = tier.prices.output ?? prices.output
        prices.reasoning = tier.prices.reasoning ?? prices.reasoning
        return prices
    }

    /// (quantity, price per unit) pairs. A per-request price bills 1 request unless `units.requests`
    /// says otherwise; per-minute and per-second prices accept the other unit, converted.
    static func unitCharges(units: UsageUnits, entry: PriceEntry) -> [(Double, PicoPrice)] {
        var charges: [(Double, PicoPrice)] = []
        if let price = entry.perRequest { charges.append((units.requests ?? 1, price)) }
        if let price = entry.perImage, let images = units.images { charges.append((images, price)) }
        if let price = entry.perSecond, let seconds = units.seconds ?? units.minutes.map({ $0 * 60 }) {
            charges.append((seconds, price))
        }
        if let price = entry.perMinute, let minutes = units.minutes ?? units.seconds.map({ $0 / 60 }) {
            charges.append((minutes, price))
        }
        if let price = entry.per1kCharacters, let characters = units.characters {
            charges.append((characters / 1000, price))
        }
        return charges
    }

    /// `credits_per_unit` × the entry's main billing unit (images, seconds, minutes, characters/1000,
    /// else requests, 1 per call).
    static func defaultCredits(units: UsageUnits, entry: PriceEntry) -> Int64? {
        guard let perUnit = entry.creditsPerUnit else { return nil }
        let quantity: Double
        if entry.perImage != nil, let images = units.images { quantity = images }
        else if entry.perSecond != nil, let seconds = units.seconds { quantity = seconds }
        else if entry.perMinute != nil, let minutes = units.minutes { quantity = minutes }
        else if entry.per1kCharacters != nil, let characters = units.characters { quantity = characters / 1000 }
        else { quantity = units.requests ?? 1 }
        return Money.micro(from: perUnit * quantity)
    }
}
