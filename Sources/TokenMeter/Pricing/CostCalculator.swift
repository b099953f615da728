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
    /// `canonicalModel`: the catalog name the record's model resolved to, even when no version of
    /// its price is valid at the record's time (then the record is unpriced but named canonically).
    public static func price(_ record: UsageRecord, entry: PriceEntry?, canonicalModel: String? = nil) -> PricedRecord {
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
            model: entry?.model ?? canonicalModel ?? record.model,
            provider: record.provider ?? entry?.provider ?? "unknown",
            category: record.category ?? entry?.category ?? .text,
            costNanoUSD: cost,
            costSource: costSource,
            priceVersion: entry?.version,
            creditsMicro: record.creditsMicro ?? entry.flatMap { defaultCredits(units: record.units, entry: $0) } ?? 0,
            dailyLimit: entry?.dailyLimit
        )
    }

    /// Every term is an integer in units of 1e-12 USD × 1e6 (quantities in millionths) × 60 000, the
    /// common denominator of the unit conversions (÷60 for seconds→minutes, ÷1000 for characters),
    /// so the only rounding is the final one to nano-USD.
    static let conversionDenominator: Int128 = 60_000

    public static func catalogCostNanoUSD(tokens: TokenCounts, units: UsageUnits, entry: PriceEntry) -> Int64 {
        let prices = effectiveTokenPrices(entry: entry, promptTokens: tokens.promptTotal)
        let input = prices.input?.pico ?? 0
        let output = prices.output?.pico ?? 0
        let nonReasoningOutput = max(0, tokens.output - tokens.reasoning)
        let tokenScale: Int128 = 1_000_000 * conversionDenominator
        var total: Int128 = 0
        total += Int128(tokens.input) * Int128(input) * tokenScale
        total += Int128(tokens.cachedInput) * Int128(prices.cachedInput?.pico ?? input) * tokenScale
        total += Int128(tokens.cacheWrite) * Int128(prices.cacheWrite?.pico ?? input) * tokenScale
        total += Int128(nonReasoningOutput) * Int128(output) * tokenScale
        total += Int128(tokens.reasoning) * Int128(prices.reasoning?.pico ?? output) * tokenScale
        for charge in unitCharges(units: units, entry: entry) {
            total += Int128(Money.micro(from: charge.quantity)) * Int128(charge.price.pico) * (conversionDenominator / charge.divisor)
        }
        let divisor: Int128 = 1_000 * tokenScale
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

    struct UnitCharge {
        /// In the unit the record gave.
        var quantity: Double
        var price: PicoPrice
        /// Record units per priced unit (60 seconds per minute, 1000 characters per 1k).
        var divisor: Int128 = 1
    }

    /// A per-request price bills 1 request and a per-image price 1 image unless `units` says
    /// otherwise; per-minute and per-second prices accept the other unit, converted exactly.
    static func unitCharges(units: UsageUnits, entry: PriceEntry) -> [UnitCharge] {
        var charges: [UnitCharge] = []
        if let price = entry.perRequest { charges.append(UnitCharge(quantity: units.requests ?? 1, price: price)) }
        if let price = entry.perImage { charges.append(UnitCharge(quantity: units.images ?? 1, price: price)) }
        if let price = entry.perSecond {
            if let seconds = units.seconds { charges.append(UnitCharge(quantity: seconds, price: price)) }
            else if let minutes = units.minutes { charges.append(UnitCharge(quantity: minutes * 60, price: price)) }
        }
        if let price = entry.perMinute {
            if let minutes = units.minutes { charges.append(UnitCharge(quantity: minutes, price: price)) }
            else if let seconds = units.seconds { charges.append(UnitCharge(quantity: seconds, price: price, divisor: 60)) }
        }
        if let price = entry.per1kCharacters, let characters = units.characters {
            charges.append(UnitCharge(quantity: characters, price: price, divisor: 1000))
        }
        return charges
    }

    /// `credits_per_unit` × the entry's main billing unit (images, seconds, minutes, characters/1000,
    /// else requests, 1 per call).
    static func defaultCredits(units: UsageUnits, entry: PriceEntry) -> Int64? {
        guard let perUnit = entry.creditsPerUnit else { return nil }
        let quantity: Double
        if entry.perImage != nil { quantity = units.images ?? 1 }
        else if entry.perSecond != nil, let seconds = units.seconds { quantity = seconds }
        else if entry.perMinute != nil, let minutes = units.minutes { quantity = minutes }
        else if entry.per1kCharacters != nil, let characters = units.characters { quantity = characters / 1000 }
        else { quantity = units.requests ?? 1 }
        return Money.micro(from: perUnit * quantity)
    }
}
