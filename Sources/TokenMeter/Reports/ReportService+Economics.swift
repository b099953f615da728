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
            @NullEncoded public var credits_per_usd: Double?
            /// Credits valued at `credit_value_usd` minus cost; present when that value is configured.
            public var margin_usd: Double?
            /// Null when the group had no active user.
            @NullEncoded public var cost_per_active_user: Double?
        }

        public struct TopUser: Encodable, Sendable {
            public var user_id: String
            public var requests: Int64
            public var cost_usd: Double
            public var credits: Double
        }

        /// What each section covers (sections that need raw records leave out what is older).
        public struct Sections: Encodable, Sendable {
            public var by_plan: Coverage
            public var by_model: Coverage
            public var top_users: Coverage
            public var unpriced: Coverage
            var rounded: Bool { by_plan.rounded || by_model.rounded || top_users.rounded || unpriced.rounded }
        }

        public struct Unpriced: Encodable, Sendable {
            public var requests: Int64
            /// Share of all requests in the range that had no price (their cost is unknown, counted as 0).
            /// Null when the range had no completed call (no tokens).
            @NullEncoded public var share_of_requests: Double?
            @NullEncoded public var share_of_tokens: Double?
            public var models: [String]
            /// Why, by model (from the raw records kept): no price matches, no version valid then, a missing unit.
            public var reasons: [UnpricedReason] = []
        }

        public var from: String
        public var to: String
        public var tz: String
        /// True when any section is not exact for the range (see `coverage`).
        public var rounded: Bool
        public var coverage: Sections
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
                    cost_per_active_user: f.active_users == 0 ? nil : f.cost_usd / Double(f.active_users))
            }
        }
        if let limit = p.limit, limit > maxGroups {
            throw ReportError("limit: \(limit) is more than the \(maxGroups) groups one answer holds (max_report_groups)")
        }
        // The no-user group may rank among the top: ask for one more group so `limit` real users remain.
        let wanted = p.limit ?? topUsers
        var userParameters = p
        userParameters.groupBy = [.user]
        userParameters.limit = min(wanted + 1, maxGroups)
        let userSummary = try await summary(userParameters, now: now)
        let users = Array(userSummary.groups.filter { $0.other != true && $0.key["user"] != "" }.prefix(wanted))
        let models = try await grouped(by: .model)
        let plans = try await grouped(by: .plan)
        let unpricedGroups = models.groups.filter { $0.figures.unpriced_requests > 0 }
        let unpricedRequests = models.totals.unpriced_requests
        // Every unpriced call's tokens, also of models that had priced calls too (raw records).
        var unpricedQuery = p.figureQuery
        unpricedQuery.groupBy = []
        unpricedQuery.unpricedOnly = true
        let unpricedResult = try await source.figures(unpricedQuery, retention: retention, now: now)
        let unpricedTokens = unpricedResult.groups.values.reduce(Int64(0)) { $0 + $1.tokens.total }
        // The share is over the same part of the range its numerator covers.
        var allTokens = models.totals.total_tokens
        if unpricedResult.rounded {
            var covered = p.figureQuery
            covered.groupBy = []
            covered.from = unpricedResult.covered.from
            allTokens = try await source.figures(covered, retention: retention, now: now).groups.values.reduce(Int64(0)) { $0 + $1.tokens.total }
        }
        let coverage = Economics.Sections(by_plan: plans.coverage, by_model: models.coverage, top_users: userSummary.coverage,
                                          unpriced: Coverage(unpricedResult))
        let reasons = unpricedRequests == 0 ? [] : try await (source as? any UnpricedReasonSource)?.unpricedReasons(from: p.from, to: p.to, limit: 50) ?? []
        let unrecognized = try await source.unrecognizedUsage(from: p.from, to: p.to)
        return Economics(
            from: RFC3339.format(p.from), to: RFC3339.format(p.to), tz: ReportCalendar.name(of: p.timeZone),
            rounded: coverage.rounded, coverage: coverage, credit_value_usd: creditValueUSD, by_plan: margins(plans, .plan), by_model: margins(models, .model),
            top_users: users.map { .init(user_id: $0.key["user"] ?? "", requests: $0.figures.requests, cost_usd: $0.figures.cost_usd, credits: $0.figures.credits) },
            unpriced: .init(
                requests: unpricedRequests,
                share_of_requests: models.totals.requests == 0 ? nil : Double(unpricedRequests) / Double(models.totals.requests),
                share_of_tokens: allTokens == 0 ? nil : Double(unpricedTokens) / Double(allTokens),
                models: unpricedGroups.compactMap { $0.key["model"] }, reasons: reasons),
            unrecognized_usage: unrecognized)
    }
}
