import Foundation

/// How a store answers a `FigureQuery`: which tables over which spans (shared by every store, so
/// the SQLite and PostgreSQL stores split a range the same way and give the same answers).
public enum ReportPlanning {
    /// `levels`: the granularities the answer's tables are kept at (figures: all; user sets: hour and day).
    /// `completeFrom`: the rollups hold nothing exact before it (user sets of an upgraded store).
    public static func plan(for query: FigureQuery, retention: RetentionPolicy, now: Date,
                            levels: [Granularity] = Granularity.allCases, completeFrom: Int64 = Int64.min) -> QueryPlan {
        let from = query.from.unixMilliseconds
        let to = query.to.unixMilliseconds
        func oldest(_ source: QueryPlan.Source) -> Int64 {
            switch source {
            case .raw: retention.oldestKept(nil, now: now).unixMilliseconds
            case .rollup(let g) where !levels.contains(g): QueryPlan.never
            case .rollup(.day): completeFrom
            case .rollup(let g): max(retention.oldestKept(g, now: now).unixMilliseconds, completeFrom)
            }
        }
        if query.needsRaw {
            // Users and plans are only in raw records: exact within raw retention.
            let rawFrom = oldest(.raw)
            // The older part is left out; the plan says which part it covers.
            var plan = QueryPlan()
            if to > max(from, rawFrom) { plan.segments = [.init(source: .raw, from: max(from, rawFrom), to: to)] }
            plan.rounded = from < rawFrom
            plan.coveredFrom = min(max(from, rawFrom), to)
            plan.coveredTo = to
            return plan
        }
        return QueryPlan.make(from: from, to: to, outwardFrom: query.outwardEdges.from, outwardTo: query.outwardEdges.to,
                              oldestKept: oldest)
    }
}

extension ReportDimension {
    /// The raw-record column a filter on this dimension compares (the same in every store's schema).
    public var recordColumn: String { rawColumn }
    /// The raw-record expression grouped on (no user or plan reads as "").
    public var recordGroupExpression: String { rawGroupExpression }
}
