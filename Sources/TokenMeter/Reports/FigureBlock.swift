import Foundation

/// One block of report figures with every field of CONTRACT section 4.
public struct FigureBlock: Codable, Sendable, Equatable {
    public var requests: Int64
    public var errors: Int64
    public var success_rate: Double
    public var input_tokens: Int64
    public var cached_input_tokens: Int64
    public var cache_write_tokens: Int64
    public var output_tokens: Int64
    public var reasoning_tokens: Int64
    public var total_tokens: Int64
    public var cost_usd: Double
    /// The same cost as an exact integer of nano-USD.
    public var cost_nano_usd: Int64
    public var credits: Double
    public var unpriced_requests: Int64
    public var active_users: Int
    public var avg_duration_ms: Double?
    /// Cost converted with the configured rate, when `currency` was asked for.
    public var cost: Double?
    public var currency: String?

    public init(_ f: RollupFigures, activeUsers: Int, currency: String? = nil, rate: Double? = nil) {
        requests = f.requests
        errors = f.errors
        success_rate = f.requests == 0 ? 1 : Double(f.requests - f.errors) / Double(f.requests)
        input_tokens = f.tokens.input
        cached_input_tokens = f.tokens.cachedInput
        cache_write_tokens = f.tokens.cacheWrite
        output_tokens = f.tokens.output
        reasoning_tokens = f.tokens.reasoning
        total_tokens = f.tokens.total
        cost_usd = Money.usd(fromNano: f.costNanoUSD)
        cost_nano_usd = f.costNanoUSD
        credits = Money.value(fromMicro: f.creditsMicro)
        unpriced_requests = f.unpricedRequests
        active_users = activeUsers
        avg_duration_ms = f.durationCount == 0 ? nil : Double(f.durationMicrosSum) / Double(f.durationCount) / 1000
        if let currency, let rate {
            self.currency = currency
            cost = cost_usd * rate
        }
    }
}
