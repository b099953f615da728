import TokenMeterCore
import Foundation

extension ReportService {
    public struct Monitoring: Encodable, Sendable {
        public struct ActiveUsers: Encodable, Sendable { public var dau, wau, mau: Int }
        public struct OperationCost: Encodable, Sendable {
            public var operation: String
            public var cost: Double
            public var tokens: Int64
            public var requests: Int64
        }
        public struct DayCost: Encodable, Sendable {
            public var date: String
            public var cost: Double
            public var tokens: Int64
            public var requests: Int64
        }
        public struct APICosts: Encodable, Sendable {
            public var total_cost: Double
            public var total_tokens: Int64
            public var total_requests: Int64
            public var by_operation: [OperationCost]
            public var by_day: [DayCost]
        }
        public struct UnitEconomics: Encodable, Sendable {
            public var total_cost: Double
            public var active_users: Int
            public var paying_users: Int
            public var active_paying_users: Int
            /// Null when the range had no active (paying) user.
            @NullEncoded public var cost_per_active_user: Double?
            @NullEncoded public var cost_per_paying_user: Double?
        }
        public struct ErrorStats: Encodable, Sendable {
            public var error_count: Int64
            /// Null when the range had no completed call (no call with a duration).
            @NullEncoded public var error_rate: Double?
            @NullEncoded public var avg_response_time_ms: Double?
        }

        public var range: String
        public var from: String
        public var to: String
        public var tz: String
        /// True when a figure is not exact for its window (older than the data that answers it).
        public var rounded: Bool
        public var active_users: ActiveUsers
        public var api_costs: APICosts
        public var unit_economics: UnitEconomics
        public var error_stats: ErrorStats
    }

    public static let monitoringRanges: [String: Double] = ["24h": 1, "7d": 7, "30d": 30]

    /// `GET /v1/reports/monitoring`: the seeds' dashboard in one answer.
    public func monitoring(range: String, timeZone: TimeZone, now: Date) async throws -> Monitoring {
        guard let days = Self.monitoringRanges[range] else {
            throw ReportError("range: '\(range)' must be 24h, 7d or 30d")
        }
        let from = now.addingTimeInterval(-days * 86400)
        let to = now.addingTimeInterval(0.001)
        var rounded = false
        func users(_ windowDays: Double, paying: Bool? = nil, from start: Date? = nil) async throws -> Int {
            let query = FigureQuery(from: start ?? now.addingTimeInterval(-windowDays * 86400), to: to)
            let result = try await source.activeUsers(query, paying: paying, retention: retention, now: now)
            rounded = rounded || result.rounded
            return result.total
        }
        let byOperation = try await source.figures(FigureQuery(from: from, to: to, groupBy: [.operation]), retention: retention, now: now)
        rounded = rounded || byOperation.rounded
        var totals = RollupFigures()
        for figures in byOperation.groups.values { totals += figures }
        let calendar = ReportCalendar(timeZone: timeZone)
        var byDay: [Monitoring.DayCost] = []
        for (dayStart, dayEnd) in calendar.buckets(.day, from: calendar.startOfDay(from), to: to) ?? [] {
            var query = FigureQuery(from: max(dayStart, from), to: dayEnd)
            query.outwardEdges = (dayStart <= from, dayEnd >= to)
            let result = try await source.figures(query, retention: retention, now: now)
            rounded = rounded || result.rounded
            var day = RollupFigures()
            for figures in result.groups.values { day += figures }
            byDay.append(.init(date: calendar.dateLabel(dayStart), cost: Money.usd(fromNano: day.costNanoUSD),
                               tokens: day.tokens.total, requests: day.requests))
        }
        let active = try await users(days)
        let activePaying = try await users(days, paying: true)
        let payingUsers = try await users(30, paying: true, from: min(from, now.addingTimeInterval(-30 * 86400)))
        let cost = Money.usd(fromNano: totals.costNanoUSD)
        let dau = try await users(1), wau = try await users(7), mau = try await users(30)
        return Monitoring(
            range: range, from: RFC3339.format(from), to: RFC3339.format(now), tz: ReportCalendar.name(of: timeZone), rounded: rounded,
            active_users: .init(dau: dau, wau: wau, mau: mau),
            api_costs: .init(
                total_cost: cost, total_tokens: totals.tokens.total, total_requests: totals.requests,
                by_operation: byOperation.groups.sorted { $0.value.costNanoUSD > $1.value.costNanoUSD }.map {
                    .init(operation: $0.key.first ?? "", cost: Money.usd(fromNano: $0.value.costNanoUSD),
                          tokens: $0.value.tokens.total, requests: $0.value.requests)
                },
                by_day: byDay),
            unit_economics: .init(
                total_cost: cost, active_users: active, paying_users: payingUsers, active_paying_users: activePaying,
                cost_per_active_user: active == 0 ? nil : cost / Double(active),
                cost_per_paying_user: activePaying == 0 ? nil : cost / Double(activePaying)),
            error_stats: .init(
                error_count: totals.errors,
                error_rate: totals.requests == 0 ? nil : Double(totals.errors) / Double(totals.requests),
                avg_response_time_ms: totals.durationCount == 0 ? nil : Double(totals.durationMicrosSum) / Double(totals.durationCount) / 1000)
        )
    }

    public struct UserUsage: Encodable, Sendable {
        public struct ModelUsage: Encodable, Sendable {
            public var model: String
            public var figures: FigureBlock
            public var daily_limit: Int?
            public var used_today: Int64?
            public var remaining: Int64?

            public func encode(to encoder: any Encoder) throws {
                enum Keys: String, CodingKey { case model, daily_limit, used_today, remaining }
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(model, forKey: .model)
                try container.encodeIfPresent(daily_limit, forKey: .daily_limit)
                try container.encodeIfPresent(used_today, forKey: .used_today)
                try container.encodeIfPresent(remaining, forKey: .remaining)
                try figures.encode(to: encoder)
            }
        }

        public var user_id: String
        public var from: String
        public var to: String
        public var tz: String
        /// True when part of the range is older than raw retention: that part is left out (see `coverage`).
        public var rounded: Bool
        public var active_users_rounded: Bool
        public var coverage: Coverage
        /// The zone whose local day the daily limits count (the configured one).
        public var limits_tz: String
        public var totals: FigureBlock
        /// Credits charged minus cost is not meaningful across units; both are given, with the ratio.
        public var credits_charged: Double
        public var cost_usd: Double
        public var models: [ModelUsage]
    }

    /// `GET /v1/users/{user_id}/usage`. A daily limit counts the user's successful calls of the model
    /// since the start of the local day in `limitTimeZone` (the configured zone, whatever the
    /// query's `tz`): failed calls do not use the allowance, a pending call counts once it succeeds.
    public func userUsage(userID: String, _ p: ReportParameters, limitTimeZone: TimeZone, now: Date) async throws -> UserUsage {
        var parameters = p
        parameters.filters[.user] = [userID]
        parameters.groupBy = [.model]
        let summary = try await self.summary(parameters, now: now)
        let today = ReportCalendar(timeZone: limitTimeZone).startOfDay(now)
        let todayResult = try await source.figures(
            FigureQuery(from: today, to: now.addingTimeInterval(0.001), groupBy: [.model], filters: [.user: [userID], .status: ["success"]]),
            retention: retention, now: now)
        var models: [UserUsage.ModelUsage] = []
        for group in summary.groups {
            let model = group.key["model"] ?? ""
            var usage = UserUsage.ModelUsage(model: model, figures: group.figures)
            if let catalog = pricing?.catalog, let limit = catalog.entry(model: model, at: now)?.dailyLimit {
                let used = todayResult.groups[[model]]?.requests ?? 0
                usage.daily_limit = limit
                usage.used_today = used
                usage.remaining = max(0, Int64(limit) - used)
            }
            models.append(usage)
        }
        // Models with a daily limit the user has not used in the range still show their allowance.
        if let catalog = pricing?.catalog {
            for (model, groups) in todayResult.groups where !models.contains(where: { $0.model == model.first }) {
                guard let name = model.first, let limit = catalog.entry(model: name, at: now)?.dailyLimit else { continue }
                var usage = UserUsage.ModelUsage(model: name, figures: FigureBlock(RollupFigures(), activeUsers: 0))
                usage.daily_limit = limit
                usage.used_today = groups.requests
                usage.remaining = max(0, Int64(limit) - groups.requests)
                models.append(usage)
            }
        }
        return UserUsage(user_id: userID, from: summary.from, to: summary.to, tz: summary.tz, rounded: summary.rounded,
                         active_users_rounded: summary.active_users_rounded, coverage: summary.coverage, limits_tz: ReportCalendar.name(of: limitTimeZone), totals: summary.totals,
                         credits_charged: summary.totals.credits, cost_usd: summary.totals.cost_usd, models: models)
    }
}
