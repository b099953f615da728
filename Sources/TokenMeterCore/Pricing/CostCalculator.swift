import Foundation

/// Prices one record against a catalog entry. Pure integer math: token and unit prices in pico-USD,
/// quantities of non-token units in millionths, one rounding to nano-USD at the end.
public enum CostCalculator {
    /// `canonicalModel`: the catalog name the record's model resolved to, even when no version of
    /// its price is valid at the record's time (then the record is unpriced but named canonically).
    /// `rule`: how the name resolved; `unmatchedReason`: why there is no entry when `entry` is nil.
    public static func price(_ record: UsageRecord, entry: PriceEntry?, canonicalModel: String? = nil,
                             rule: MatchRule? = nil, unmatchedReason: String? = nil,
                             operationCreditsMicro: Int64? = nil) -> PricedRecord {
        if record.isModelless { return meteredAction(record, operationCreditsMicro: operationCreditsMicro) }
        var costSource = CostSource.unpriced
        var cost: Int64 = 0
        var reason: String?
        if let given = record.callerCostNanoUSD {
            cost = given
            costSource = .caller
        } else if let entry {
            if let missing = missingUnit(tokens: record.tokens, units: record.units, entry: entry) {
                reason = "\(entry.model) is priced per \(missing.unit): the record has no \(missing.field)"
            } else {
                cost = catalogCostNanoUSD(tokens: record.tokens, units: record.units, entry: entry)
                costSource = .catalog
            }
        } else {
            reason = unmatchedReason ?? "no price matches '\(record.model)'"
        }
        var priced = PricedRecord(
            record: record,
            model: entry?.model ?? canonicalModel ?? record.model,
            provider: record.provider ?? entry?.provider ?? "unknown",
            category: record.category ?? entry?.category ?? .text,
            costNanoUSD: cost,
            costSource: costSource,
            priceVersion: costSource == .unpriced ? nil : entry?.version,
            creditsMicro: record.creditsMicro ?? entry.flatMap { defaultCredits(units: record.units, entry: $0) } ?? operationCreditsMicro ?? 0,
            dailyLimit: entry?.dailyLimit
        )
        switch costSource {
        case .caller: priced.priceMatch = "caller"
        case .catalog: priced.priceMatch = rule?.rawValue ?? MatchRule.exact.rawValue
        case .unpriced: priced.unpricedReason = reason
        case .metered: break
        }
        return priced
    }

    /// A record without a model (`category: other`): its cost is the caller's `cost_usd`, else 0
    /// (`metered`, never unpriced); its credits the record's, else the operation's configured ones.
    /// Model and provider stay "" unless given, so reports show it under its operation.
    static func meteredAction(_ record: UsageRecord, operationCreditsMicro: Int64?) -> PricedRecord {
        var priced = PricedRecord(
            record: record, model: "", provider: record.provider ?? "", category: record.category ?? .other,
            costNanoUSD: record.callerCostNanoUSD ?? 0, costSource: record.callerCostNanoUSD == nil ? .metered : .caller,
            priceVersion: nil, creditsMicro: record.creditsMicro ?? operationCreditsMicro ?? 0, dailyLimit: nil)
        priced.priceMatch = record.callerCostNanoUSD == nil ? "metered" : "caller"
        return priced
    }

    /// The unit a per-second, per-minute or per-character price needs when the record carries neither
    /// it nor tokens the entry prices: such a record is unpriced with that reason, never billed $0.
    static func missingUnit(tokens: TokenCounts, units: UsageUnits, entry: PriceEntry) -> (unit: String, field: String)? {
        let tokenPriced = !(entry.tokens.isEmpty && entry.tiers.isEmpty) && tokens.total > 0
        guard !tokenPriced, entry.perRequest == nil, entry.perImage == nil else { return nil }
        if entry.perSecond != nil || entry.perMinute != nil, units.seconds == nil, units.minutes == nil {
            return (entry.perSecond != nil ? "second" : "minute", "units.seconds or units.minutes")
        }
        if entry.per1kCharacters != nil, units.characters == nil, entry.perSecond == nil, entry.perMinute == nil {
            return ("1k characters", "units.characters")
        }
        return nil
    }

    /// Every term is an integer in units of 1e-12 USD × 1e6 (quantities in millionths) × 60 000, the
    /// common denominator of the unit conversions (÷60 for seconds→minutes, ÷1000 for characters),
    /// so the only rounding is the final one to nano-USD.
    static let conversionDenominator: Int128 = 60_000

    public static func catalogCostNanoUSD(tokens: TokenCounts, units: UsageUnits, entry: PriceEntry) -> Int64 {
        let prices = effectiveTokenPrices(entry: entry, promptTokens: tokens.promptTotal)
        let input = prices.input?.pico ?? 0
        let output = prices.output?.pico ?? 0
        let tokenScale: Int128 = 1_000_000 * conversionDenominator
        var total = SaturatingSum()
        total.add(tokens.input, input, tokenScale)
        total.add(tokens.cachedInput, prices.cachedInput?.pico ?? input, tokenScale)
        // `cacheWrite` counts every cache write; its 1-hour part has its own rate.
        let oneHour = min(max(0, tokens.cacheWrite1h), tokens.cacheWrite)
        total.add(tokens.cacheWrite - oneHour, prices.cacheWrite?.pico ?? input, tokenScale)
        total.add(oneHour, entry.cacheWrite1hPrice(prices)?.pico ?? input, tokenScale)
        total.add(max(0, tokens.output - tokens.reasoning), output, tokenScale)
        total.add(tokens.reasoning, prices.reasoning?.pico ?? output, tokenScale)
        for charge in unitCharges(units: units, entry: entry) {
            total.add(Money.micro(from: charge.quantity), charge.price.pico, conversionDenominator / charge.divisor)
        }
        let divisor: Int128 = 1_000 * tokenScale
        let rounded = (total.value / 2 + divisor / 4) / (divisor / 2)  // half away from zero without overflowing at the top
        return rounded > Int128(Int64.max) ? Int64.max : Int64(rounded)
    }

    /// Sums quantity × price × scale in Int128, saturating instead of trapping: absurd inputs give a
    /// huge cost, which the ingest limit on one call's cost then rejects.
    struct SaturatingSum {
        private(set) var value: Int128 = 0

        mutating func add(_ quantity: Int64, _ price: Int64, _ scale: Int128) {
            let (product, overflow1) = Int128(quantity).multipliedReportingOverflow(by: Int128(price))
            let (scaled, overflow2) = product.multipliedReportingOverflow(by: scale)
            let (sum, overflow3) = value.addingReportingOverflow(scaled)
            value = overflow1 || overflow2 || overflow3 ? Int128.max : sum
        }
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
        // A tier that raises the input price without naming a 1-hour write price gets the default
        // derived from its own input price, not the base entry's explicit one.
        prices.cacheWrite1h = tier.prices.cacheWrite1h ?? (tier.prices.input == nil ? prices.cacheWrite1h : nil)
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

    /// `credits_per_unit` × the quantity of the entry's main billing unit, as `unitCharges` bills it
    /// (images, seconds, minutes, characters/1000), else × requests (1 per call).
    static func defaultCredits(units: UsageUnits, entry: PriceEntry) -> Int64? {
        guard let perUnit = entry.creditsPerUnit else { return nil }
        let charges = unitCharges(units: units, entry: entry)
        let main = charges.first { $0.price != entry.perRequest || entry.perRequest == nil } ?? charges.first
        let quantity = main.map { $0.quantity / Double($0.divisor) } ?? (units.requests ?? 1)
        return Money.micro(from: perUnit * quantity)
    }
}
