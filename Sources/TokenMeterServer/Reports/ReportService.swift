import TokenMeterCore
import Foundation

/// Answers the report questions of CONTRACT sections 3 and 4 from a `ReportSource`.
public struct ReportService: Sendable {
    public let source: any ReportSource
    public let retention: RetentionPolicy
    public let pricing: PricingService?
    /// Groups one answer holds at most: the rest are summed into the `other` group, so the totals
    /// stay exact while the answer stays small (`max_report_groups`).
    public let maxGroups: Int

    public init(source: any ReportSource, retention: RetentionPolicy, pricing: PricingService? = nil, maxGroups: Int = 1000) {
        self.source = source
        self.retention = retention
        self.pricing = pricing
        self.maxGroups = maxGroups
    }

    public struct Group: Encodable, Sendable {
        public var key: [String: String]
        public var figures: FigureBlock
        public var other: Bool?

        public func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case key, other }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(key, forKey: .key)
            try container.encodeIfPresent(other, forKey: .other)
            try figures.encode(to: encoder)
        }
    }

    public struct Summary: Encodable, Sendable {
        public var from: String
        public var to: String
        public var tz: String
        public var group_by: [String]
        /// True when part of the range was older than the data that answers it exactly (edges rounded to a bucket).
        public var rounded: Bool
        /// True when active users could not be counted exactly for part of the range: grouped or
        /// filtered by user or plan older than raw retention, or sub-hour edges older than it.
        public var active_users_rounded: Bool
        /// The range the figures cover (the range asked for unless `rounded`).
        public var coverage: Coverage
        public var totals: FigureBlock
        public var groups: [Group]
    }

    public func summary(_ p: ReportParameters, now: Date) async throws -> Summary {
        if let limit = p.limit, limit > maxGroups {
            throw ReportError("limit: \(limit) is more than the \(maxGroups) groups one answer holds (max_report_groups); ask for at most \(maxGroups), the rest is summed in the `other` group")
        }
        let query = p.figureQuery
        let result = try await source.figures(query, retention: retention, now: now)
        let users = try await source.activeUsers(query, paying: nil, retention: retention, now: now)
        var totals = RollupFigures()
        for figures in result.groups.values { totals += figures }
        var groups: [Group] = []
        if !p.groupBy.isEmpty {
            let sorted = result.groups.sorted { a, b in
                a.value.costNanoUSD != b.value.costNanoUSD ? a.value.costNanoUSD > b.value.costNanoUSD
                    : a.value.requests != b.value.requests ? a.value.requests > b.value.requests
                    : a.key.lexicographicallyPrecedes(b.key)
            }
            let shown = Array(sorted.prefix(p.limit ?? maxGroups))
            for (key, figures) in shown {
                groups.append(Group(key: keyDictionary(p.groupBy, key), figures: block(figures, users: users.count(key), p)))
            }
            if shown.count < sorted.count {
                var rest = RollupFigures()
                for (_, figures) in sorted.dropFirst(shown.count) { rest += figures }
                let shownKeys = Set(shown.map(\.key))
                groups.append(Group(key: Dictionary(uniqueKeysWithValues: p.groupBy.map { ($0.rawValue, "other") }),
                                    figures: block(rest, users: users.union { !shownKeys.contains($0) }, p), other: true))
            }
        }
        return Summary(from: RFC3339.format(p.from), to: RFC3339.format(p.to), tz: ReportCalendar.name(of: p.timeZone),
                       group_by: p.groupBy.map(\.rawValue), rounded: result.rounded,
                       active_users_rounded: users.rounded, coverage: Coverage(result),
                       totals: block(totals, users: users.total, p), groups: groups)
    }

    public struct Bucket: Encodable, Sendable {
        public var start: String
        public var end: String
        public var rounded: Bool
        public var active_users_rounded: Bool
        public var coverage: Coverage
        public var totals: FigureBlock
        public var groups: [Group]
    }

    public struct Timeseries: Encodable, Sendable {
        public var from: String
        public var to: String
        public var tz: String
        public var interval: String
        public var rounded: Bool
        public var series: [Bucket]
    }

    public enum Interval: String, Sendable, CaseIterable { case hour, day, week, month }

    public func timeseries(_ p: ReportParameters, interval: Interval, now: Date) async throws -> Timeseries {
        let unit = ReportCalendar.Unit(rawValue: interval.rawValue)!
        guard let buckets = ReportCalendar(timeZone: p.timeZone).buckets(unit, from: p.from, to: p.to, limit: 1999) else {
            throw ReportError("interval: more than 2000 \(interval.rawValue) buckets in the range; use a coarser interval")
        }
        var series: [Bucket] = []
        var rounded = false
        for (index, (start, end)) in buckets.enumerated() {
            var bucketParameters = p
            bucketParameters.from = start
            bucketParameters.to = end
            // Only the range's own edges round outward: adjacent buckets never overlap.
            bucketParameters.outwardEdges = (index == 0, index == buckets.count - 1)
            let summary = try await self.summary(bucketParameters, now: now)
            rounded = rounded || summary.rounded
            series.append(Bucket(start: RFC3339.format(start), end: RFC3339.format(end), rounded: summary.rounded,
                                 active_users_rounded: summary.active_users_rounded, coverage: summary.coverage, totals: summary.totals, groups: summary.groups))
        }
        return Timeseries(from: RFC3339.format(p.from), to: RFC3339.format(p.to), tz: ReportCalendar.name(of: p.timeZone),
                          interval: interval.rawValue, rounded: rounded, series: series)
    }

    func block(_ figures: RollupFigures, users: Int, _ p: ReportParameters) -> FigureBlock {
        FigureBlock(figures, activeUsers: users, currency: p.currency, rate: p.currencyRate)
    }

    /// A `resource` key (`TYPE/ID`) also gives `resource_type` and `resource_id` ("" for none).
    func keyDictionary(_ dimensions: [ReportDimension], _ values: [String]) -> [String: String] {
        var key = Dictionary(uniqueKeysWithValues: zip(dimensions.map(\.rawValue), values))
        if let index = dimensions.firstIndex(of: .resource) {
            let parts = ReportDimension.splitResource(values[index])
            key[ReportDimension.resourceType.rawValue] = parts?.type ?? ""
            key["resource_id"] = parts?.id ?? ""
        }
        return key
    }
}
