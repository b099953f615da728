import Foundation

/// Lifetime figures of one label set, as the store keeps them: what counters resume from after a restart.
public struct UsageTotals: Sendable, Equatable {
    public var service: String
    public var operation: String
    public var category: String
    public var provider: String
    public var model: String
    public var status: RecordStatus
    public var errorType: String?
    /// The records' `resource_type` ("" for none): `tokenmeter_resource_cost_usd_total`'s label.
    public var resourceType = ""
    public var requests: Int64 = 0
    public var tokens = TokenCounts()
    public var costNanoUSD: Int64 = 0
    public var creditsMicro: Int64 = 0
    public var unpricedRequests: Int64 = 0

    public init(service: String, operation: String, category: String, provider: String, model: String, status: RecordStatus, errorType: String?) {
        self.service = service
        self.operation = operation
        self.category = category
        self.provider = provider
        self.model = model
        self.status = status
        self.errorType = errorType
    }

    public init(_ record: borrowing PricedRecord) {
        self.init(service: record.record.service, operation: record.record.operation, category: record.category.rawValue,
                  provider: record.provider, model: record.model, status: record.record.status,
                  errorType: Self.errorType(of: record))
        resourceType = record.record.resourceType ?? ""
        requests = 1
        tokens = record.record.tokens
        costNanoUSD = record.costNanoUSD
        creditsMicro = record.creditsMicro
        unpricedRequests = record.unpriced ? 1 : 0
    }

    /// The error type a record is counted under: its own (or "unknown") for an error, nil otherwise.
    public static func errorType(of record: borrowing PricedRecord) -> String? {
        record.record.status == .error ? (record.record.errorType ?? "unknown") : nil
    }

    /// Adds the lifetime counters among a record's rollup figures (the same sums as `add` of its totals).
    package mutating func add(_ figures: RollupFigures) {
        requests ⊕= figures.requests
        tokens ⊕= figures.tokens
        costNanoUSD ⊕= figures.costNanoUSD
        creditsMicro ⊕= figures.creditsMicro
        unpricedRequests ⊕= figures.unpricedRequests
    }

    /// Adds the figures of more records with the same labels (sums saturate, as the store's do).
    public mutating func add(_ other: UsageTotals) {
        requests ⊕= other.requests
        tokens ⊕= other.tokens
        costNanoUSD ⊕= other.costNanoUSD
        creditsMicro ⊕= other.creditsMicro
        unpricedRequests ⊕= other.unpricedRequests
    }
}
