import Foundation

/// One block of report figures with every field of CONTRACT section 4.
public struct FigureBlock: Codable, Sendable, Equatable {
    public var requests: Int64
    public var errors: Int64
    /// Null when the block has no completed call.
    public var success_rate: Double?
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
        success_rate = f.requests == 0 ? nil : Double(f.requests - f.errors) / Double(f.requests)
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

    enum CodingKeys: String, CodingKey {
        case requests, errors, success_rate, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens
        case reasoning_tokens, total_tokens, cost_usd, cost_nano_usd, credits, unpriced_requests, active_users
        case avg_duration_ms, cost, currency
    }

    /// Every contract field is always present; `avg_duration_ms` is null when no call reported a duration.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(requests, forKey: .requests)
        try c.encode(errors, forKey: .errors)
        try c.encode(success_rate, forKey: .success_rate)
        try c.encode(input_tokens, forKey: .input_tokens)
        try c.encode(cached_input_tokens, forKey: .cached_input_tokens)
        try c.encode(cache_write_tokens, forKey: .cache_write_tokens)
        try c.encode(output_tokens, forKey: .output_tokens)
        try c.encode(reasoning_tokens, forKey: .reasoning_tokens)
        try c.encode(total_tokens, forKey: .total_tokens)
        try c.encode(cost_usd, forKey: .cost_usd)
        try c.encode(cost_nano_usd, forKey: .cost_nano_usd)
        try c.encode(credits, forKey: .credits)
        try c.encode(unpriced_requests, forKey: .unpriced_requests)
        try c.encode(active_users, forKey: .active_users)
        try c.encode(avg_duration_ms, forKey: .avg_duration_ms)
        try c.encodeIfPresent(cost, forKey: .cost)
        try c.encodeIfPresent(currency, forKey: .currency)
    }
}
