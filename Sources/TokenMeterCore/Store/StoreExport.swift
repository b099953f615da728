import Foundation

/// The rows one store exports and another imports (`tokenmeter migrate`): stored values as they are,
/// nothing re-derived (a record keeps its price, its received and completed times and its user
/// ordinal; a rollup row its figures; a user set its members).
public struct ExportedRecord: Sendable, Equatable {
    /// The record's key in the source (its insertion order), the copy's progress.
    public var seq: Int64
    public var priced: PricedRecord
    public var receivedAtMs: Int64
    public var completedAtMs: Int64?
    public var userOrdinal: Int64?

    public init(seq: Int64, priced: PricedRecord, receivedAtMs: Int64, completedAtMs: Int64?, userOrdinal: Int64?) {
        self.seq = seq
        self.priced = priced
        self.receivedAtMs = receivedAtMs
        self.completedAtMs = completedAtMs
        self.userOrdinal = userOrdinal
    }
}

/// One row of the price-change log with the time it was saved.
public struct ExportedPriceChange: Sendable, Equatable {
    public var change: StoredPriceChange
    public var createdAtMs: Int64

    public init(change: StoredPriceChange, createdAtMs: Int64) {
        self.change = change
        self.createdAtMs = createdAtMs
    }
}

extension PricedRecord {
    /// A record as a store read it back: the stored price, not a new pricing.
    public init(stored record: UsageRecord, model: String, provider: String, category: UsageCategory, costNanoUSD: Int64,
                costSource: CostSource, priceVersion: String?, creditsMicro: Int64, priceMatch: String?, unpricedReason: String?) {
        self.init(record: record, model: model, provider: provider, category: category, costNanoUSD: costNanoUSD,
                  costSource: costSource, priceVersion: priceVersion, creditsMicro: creditsMicro, dailyLimit: nil,
                  priceMatch: priceMatch, unpricedReason: unpricedReason)
    }
}

extension BatchAggregate.RollupRow {
    /// A stored row, read back by a store (the synthesized initializer is internal to the core).
    public static func stored(granularity: Granularity, bucket: Int64, dimensions: RollupDimensions, figures: RollupFigures) -> Self {
        Self(granularity: granularity, bucket: bucket, dimensions: dimensions, figures: figures)
    }
}

extension BatchAggregate.UserSetRow {
    /// A stored row, read back by a store (the synthesized initializer is internal to the core).
    public static func stored(granularity: Granularity, bucket: Int64, dimensions: RollupDimensions, paying: Bool, chunk: Int64,
                              words: [UInt64]) -> Self {
        Self(granularity: granularity, bucket: bucket, dimensions: dimensions, paying: paying, chunk: chunk, words: words)
    }
}

extension UserSet {
    /// The 64 membership words of one stored chunk (`members` of a user-set row), checked.
    package static func words(ofStoredChunk data: Data) throws -> [UInt64] {
        var words = emptyWords
        try decode(data, into: &words)
        return words
    }
}
