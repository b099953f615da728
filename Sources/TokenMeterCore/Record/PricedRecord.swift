import Foundation

public enum CostSource: String, Sendable, Codable {
    /// `cost_usd` given by the caller.
    case caller
    /// Computed from the price catalog.
    case catalog
    /// No cost given and no price matched: cost 0, flagged unpriced.
    case unpriced
    /// A metered action without a model and without `cost_usd`: it costs nothing, it is charged
    /// credits (never unpriced: there is no price to find).
    case metered
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
    /// How the price was found: a `MatchRule` raw value, `caller` for the caller's cost, nil when unpriced.
    public var priceMatch: String? = nil
    /// Why the record is unpriced (no price matches, no version valid then, a unit its price needs is missing).
    public var unpricedReason: String? = nil

    public var unpriced: Bool { costSource == .unpriced }

    /// A router's figure for the call that differs from the catalog price by more than 5 % (and
    /// by more than 1 micro-USD, so rounding of tiny calls does not count).
    public var routerCostDisagrees: Bool {
        guard costSource == .catalog, let router = record.routerCostNanoUSD else { return false }
        let difference = router > costNanoUSD ? router - costNanoUSD : costNanoUSD - router
        return difference > 1000 && difference * 20 > max(router, costNanoUSD)
    }
}
