import Foundation

extension ReportService {
    public struct Economics: Encodable, Sendable {
        public struct Margin: Encodable, Sendable {
            public var key: String
            public var requests: Int64
            public var active_users: Int
            public var cost_usd: Double
            public var credits: Double
            /// Credits charged per USD of cost (revenue side over cost side); null without cost.
            public var credits_per_usd: Double?
            /// Credits valued at `credit_value_usd` minus cost; present when that value is configured.
            public var margin_usd: Double?
            public var cost_per_active_user: Double
        }

        public struct TopUser: Encodable, Sendable {
            public var user_id: String
            public var requests: Int64
            public var cost_usd: Double
            public var credits: Double
        }

        public struct Unpriced: Encodable, Sendable {
            public var requests: Int64
            /// Share of all requests in the range that had no price (their cost is unknown, counted as 0).
            public var share_of_requests: Double
            public var share_of_tokens: Double
            public var models: [String]
            /// Why, by model (from the raw records kept): no price matches, no version valid then, a missing unit.
            public var reasons: [UnpricedReason] = []
        }

        public var from: String
        public var to: String
        public var tz: String
        public var credit_value_usd: Double?
        public var by_plan: [Margin]
        public var by_model: [Margin]
        public var top_users: [TopUser]
        public var unpriced: Unpriced
        /// Records whose usage object had non-zero counts in fields tokenmeter does not understand:
        /// their cost may be too low, like unpriced usage.
        public var unrecognized_usage: UnrecognizedUsage
    }

    /// `GET /v1/reports/economics`: credits vs cost per plan and per model, cost per active user per
    /// plan, top users by cost and the share of usage that had no price.
    public func economics(_ p: ReportParameters, creditValueUSD: Double?, topUsers: Int = 10, now: Date) async throws -> Economics {
        func grouped(by dimension: ReportDimension) async throws -> Summary {
            var parameters = p
            parameters.groupBy = [dimension]
            parameters.limit = nil
            return try await summary(parameters, now: now)
        }
        func margins(_ summary: Summary, _ dimension: ReportDimension) -> [Economics.Margin] {
            summary.groups.map { group in
                let f = group.figures
                return Economics.Margin(
                    key: group.key[dimension.rawValue] ?? "", requests: f.requests, active_users: f.active_users,
                    cost_usd: f.cost_usd, credits: f.credits,
                    credits_per_usd: f.cost_nano_usd == 0 ? nil : f.credits / f.cost_usd,
                    margin_usd: creditValueUSD.map { f.credits * $0 - f.cost_usd },
                    cost_per_active_user: f.active_users == 0 ? 0 : f.cost_usd / Double(f.active_users))
            }
        }
        var userParameters = p
        userParameters.groupBy = [.user]
        userParameters.limit = topUsers
        let users = try await summary(userParameters, now: now).groups.filter { $0.other != true && $0.key["user"] != "" }
        let models = try await grouped(by: .model)
        let plans = try await grouped(by: .plan)
        let unpricedGroups = models.groups.filter { $0.figures.unpriced_requests > 0 }
        let unpricedRequests = unpricedGroups.reduce(0) { $0 + $1.figures.unpriced_requests }
        let reasons = unpricedRequests == 0 ? [] : try await (source as? SQLiteStore)?.unpricedReasons(from: p.from, to: p.to, limit: 50) ?? []
        // Unpriced records of a model are all its records when the model has no price at all.
        let unrecognized = try await source.unrecognizedUsage(from: p.from, to: p.to)
        let unpricedTokens = unpricedGroups.filter { $0.figures.unpriced_requests == $0.figures.requests }.reduce(0) { $0 + $1.figures.total_tokens }
        return Economics(
            from: RFC3339.format(p.from), to: RFC3339.format(p.to), tz: ReportCalendar.name(of: p.timeZone),
            credit_value_usd: creditValueUSD, by_plan: margins(plans, .plan), by_model: margins(models, .model),
            top_users: users.map { .init(user_id: $0.key["user"] ?? "", requests: $0.figures.requests, cost_usd: $0.figures.cost_usd, credits: $0.figures.credits) },
            unpriced: .init(
                requests: unpricedRequests,
                share_of_requests: models.totals.requests == 0 ? 0 : Double(unpricedRequests) / Double(models.totals.requests),
                share_of_tokens: models.totals.total_tokens == 0 ? 0 : Double(unpricedTokens) / Double(models.totals.total_tokens),
                models: unpricedGroups.compactMap { $0.key["model"] }, reasons: reasons),
            unrecognized_usage: unrecognized)
    }
}
