import Foundation

/// What reports group and filter by (CONTRACT section 4).
public enum ReportDimension: String, Sendable, CaseIterable, Hashable {
    case service, operation, category, provider, model, status, user, plan
    /// The record's `resource_type` ("" for none): a rollup key, exact for any range.
    case resourceType = "resource_type"
    /// One unit of work, `TYPE/ID` ("" for none): from raw records, like `user`.
    case resource

    /// Dimensions the rollup tables are keyed by; `user`, `plan` and `resource` need raw records.
    public var inRollups: Bool { self != .user && self != .plan && self != .resource }

    /// A `resource` key split into its type and id (nil for "", no resource).
    public static func splitResource(_ key: String) -> (type: String, id: String)? {
        guard let slash = key.firstIndex(of: "/") else { return nil }
        return (String(key[..<slash]), String(key[key.index(after: slash)...]))
    }
}

/// A question for the store: figures over [from, to), filtered, grouped.
public struct FigureQuery: Sendable, Equatable {
    public static func == (a: FigureQuery, b: FigureQuery) -> Bool {
        a.from == b.from && a.to == b.to && a.groupBy == b.groupBy && a.filters == b.filters && a.unpricedOnly == b.unpricedOnly
            && a.outwardEdges == b.outwardEdges && a.resourceIDs == b.resourceIDs && a.tags == b.tags
    }

    public var from: Date
    public var to: Date
    public var groupBy: [ReportDimension]
    public var filters: [ReportDimension: [String]]
    /// Only calls that had no price (raw records: rollup rows do not tell a model's priced and unpriced calls apart).
    public var unpricedOnly: Bool
    /// Past raw retention, whether each edge is rounded outward (a lone range) or to the nearest
    /// bucket (the inner edges of a timeseries, so its buckets never overlap).
    public var outwardEdges: (from: Bool, to: Bool) = (true, true)
    /// `resource_id=`: only records of these resource ids (raw records).
    public var resourceIDs: [String]?
    /// `tag.KEY=VALUE`: only records whose tag KEY is VALUE, for every key given (raw records).
    public var tags: [String: String]

    public init(from: Date, to: Date, groupBy: [ReportDimension] = [], filters: [ReportDimension: [String]] = [:],
                unpricedOnly: Bool = false, resourceIDs: [String]? = nil, tags: [String: String] = [:]) {
        self.from = from
        self.to = to
        self.groupBy = groupBy
        self.filters = filters
        self.unpricedOnly = unpricedOnly
        self.resourceIDs = resourceIDs
        self.tags = tags
    }

    package var needsRaw: Bool {
        unpricedOnly || groupBy.contains { !$0.inRollups } || filters.keys.contains { !$0.inRollups } || resourceIDs != nil || !tags.isEmpty
    }
}

/// Figures per group (the group key holds one value per `groupBy` dimension, in order).
/// The time a result's figures cover, `to` exclusive.
public struct CoveredRange: Sendable, Equatable {
    public var from: Date
    public var to: Date

    public init(from: Date, to: Date) {
        self.from = from
        self.to = to
    }

    /// The range a query plan covers.
    public init(_ plan: QueryPlan) {
        self.init(from: Date(unixMilliseconds: plan.coveredFrom), to: Date(unixMilliseconds: plan.coveredTo))
    }
}

public struct FigureResult: Sendable {
    public var groups: [[String]: RollupFigures]
    public var rounded: Bool
    /// The range the figures cover (see `Coverage`).
    public var covered: CoveredRange

    public init(groups: [[String]: RollupFigures], rounded: Bool, covered: CoveredRange) {
        self.groups = groups
        self.rounded = rounded
        self.covered = covered
    }
}

/// What part of the asked range a report's figures cover. Exact answers cover the range asked
/// for. Past raw retention an answer from rollups is rounded outward to the buckets the store
/// still has (`from`/`to` then lie outside the range asked for); an answer that needs raw records
/// (`user`/`plan` groupings or filters, unpriced tokens) leaves the older part out (`from` lies
/// inside it). `rounded` says either happened.
public struct Coverage: Encodable, Sendable, Equatable {
    public var rounded: Bool
    public var from: String
    public var to: String

    public init(rounded: Bool, from: Date, to: Date) {
        self.rounded = rounded
        self.from = RFC3339.format(from)
        self.to = RFC3339.format(to)
    }

    public init(_ result: FigureResult) {
        self.init(rounded: result.rounded, from: result.covered.from, to: result.covered.to)
    }
}

/// Distinct users per group. Unions of the groups' sets answer the total and the `other` group
/// of a top-N report exactly (a user active in two groups counts once).
public struct ActiveUsers: Sendable, Equatable {
    public var groups: [[String]: UserSet]
    /// True when part of the range was older than the data that counts users exactly.
    public var rounded: Bool

    public init(groups: [[String]: UserSet], rounded: Bool) {
        self.groups = groups
        self.rounded = rounded
    }

    public func count(_ key: [String]) -> Int { groups[key]?.count ?? 0 }

    /// Distinct users over all groups.
    public var total: Int { union { _ in true } }

    /// Distinct users over the groups whose key passes `include`.
    public func union(where include: ([String]) -> Bool) -> Int {
        var all = UserSet()
        for (key, set) in groups where include(key) { all.formUnion(set) }
        return all.count
    }
}

/// Read side of the store, for reports and the store-derived gauges.
public protocol ReportSource: Sendable {
    func figures(_ query: FigureQuery, retention: RetentionPolicy, now: Date) async throws -> FigureResult
    /// Distinct users with at least one completed call in [from, to), per group of `groupBy`
    /// (`paying: true`: only calls marked paying).
    func activeUsers(_ query: FigureQuery, paying: Bool?, retention: RetentionPolicy, now: Date) async throws -> ActiveUsers
    /// Completed records in [from, to) with usage fields that were not understood (CONTRACT 1.2).
    func unrecognizedUsage(from: Date, to: Date) async throws -> UnrecognizedUsage
    /// Why calls in [from, to) were unpriced, by model and reason, the most frequent first.
    func unpricedReasons(from: Date, to: Date, limit: Int) async throws -> [UnpricedReason]
    /// When the completed records of resource `type`/`id` with timestamps in [from, to) ran, and
    /// who made them (`GET /v1/resources/{type}/{id}/usage` besides its figures).
    func resourceSpan(type: String, id: String, from: Date, to: Date) async throws -> ResourceSpan
}

/// Why calls were unpriced, by model: the reports' `unpriced.reasons`.
public struct UnpricedReason: Encodable, Sendable, Equatable {
    public var model: String
    public var reason: String
    public var requests: Int64

    public init(model: String, reason: String, requests: Int64) {
        self.model = model
        self.reason = reason
        self.requests = requests
    }
}

/// Records accepted with non-zero counts in usage fields tokenmeter does not understand.
public struct UnrecognizedUsage: Encodable, Sendable, Equatable {
    public struct Field: Encodable, Sendable, Equatable {
        public var provider: String
        public var model: String
        /// The path inside the usage object, e.g. `server_tool_use.web_search_requests`.
        public var field: String
        public var requests: Int64
        /// The sum of the field's values.
        public var count: Int64

        public init(provider: String, model: String, field: String, requests: Int64, count: Int64) {
            self.provider = provider
            self.model = model
            self.field = field
            self.requests = requests
            self.count = count
        }
    }

    public var requests: Int64
    public var fields: [Field]

    public init(requests: Int64, fields: [Field]) {
        self.requests = requests
        self.fields = fields
    }
}
