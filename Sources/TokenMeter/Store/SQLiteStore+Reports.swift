import Foundation
import GRDB

extension SQLiteStore {
    public func figures(_ query: FigureQuery, retention: RetentionPolicy, now: Date) async throws -> FigureResult {
        let plan = Self.plan(for: query, retention: retention, now: now)
        return try await pool.read { db in
            var groups: [[String]: RollupFigures] = [:]
            for segment in plan.segments {
                let (sql, arguments) = Self.figureSQL(query, segment: segment)
                let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
                let width = query.groupBy.count
                while let row = try rows.next() {
                    let key = row.groupKey(width)
                    let values = (width..<(width + StoreSchema.figureColumns.count)).map { row.sum($0) }
                    groups[key, default: RollupFigures()] += RollupFigures(columnValues: values)
                }
            }
            return FigureResult(groups: groups, rounded: plan.rounded,
                                covered: (Date(unixMilliseconds: plan.coveredFrom), Date(unixMilliseconds: plan.coveredTo)))
        }
    }

    /// The shared plan (`ReportPlanning.plan`).
    static func plan(for query: FigureQuery, retention: RetentionPolicy, now: Date,
                     levels: [Granularity] = Granularity.allCases, completeFrom: Int64 = Int64.min) -> QueryPlan {
        ReportPlanning.plan(for: query, retention: retention, now: now, levels: levels, completeFrom: completeFrom)
    }

    static func filterSQL(_ query: FigureQuery, raw: Bool) -> (String, [any DatabaseValueConvertible]) {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        for dimension in ReportDimension.allCases {
            guard let values = query.filters[dimension], !values.isEmpty else { continue }
            let column = raw ? dimension.rawColumn : dimension.rawValue
            clauses.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ", ")))")
            arguments += values.map { $0 as any DatabaseValueConvertible }
        }
        if raw && query.unpricedOnly { clauses.append("unpriced = 1") }
        return (clauses.map { " AND \($0)" }.joined(), arguments)
    }

    static func figureSQL(_ query: FigureQuery, segment: QueryPlan.Segment) -> (String, StatementArguments) {
        let raw = segment.source == .raw
        let groupColumns = query.groupBy.map { raw ? $0.rawGroupExpression : $0.rawValue }
        let select = groupColumns.joined(separator: ", ") + (groupColumns.isEmpty ? "" : ", ")
        let groupClause = groupColumns.isEmpty ? "" : " GROUP BY " + groupColumns.joined(separator: ", ")
        let (filters, filterArguments) = filterSQL(query, raw: raw)
        let sql: String
        if case .rollup(let granularity) = segment.source {
            sql = """
                SELECT \(select)\(StoreSchema.figureColumns.map { "SUM(\($0))" }.joined(separator: ", "))
                FROM \(StoreSchema.rollupTables[granularity]!) WHERE bucket >= ? AND bucket < ?\(filters)\(groupClause)
                """
        } else {
            sql = """
                SELECT \(select)COUNT(*), SUM(status = 'error'), SUM(input_tokens), SUM(cached_input_tokens),
                    SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(cost_nano), SUM(credits_micro),
                    SUM(unpriced), SUM(coalesce(duration_us, 0)), COUNT(duration_us)
                FROM usage_records WHERE ts >= ? AND ts < ? AND status != 'pending'\(filters)\(groupClause)
                """
        }
        return (sql, StatementArguments([segment.from, segment.to] + filterArguments))
    }

    public func activeUsers(_ query: FigureQuery, paying: Bool?, retention: RetentionPolicy, now: Date) async throws -> ActiveUsers {
        let plan = Self.plan(for: query, retention: retention, now: now, levels: UserSetAggregate.granularities,
                             completeFrom: userSetsCompleteFrom)
        return try await pool.read { db in
            var groups: [[String]: UserSet] = [:]
            for segment in plan.segments {
                try UserSetTables.collect(query, payingOnly: paying == true, segment: segment, db, into: &groups)
            }
            return ActiveUsers(groups: groups, rounded: plan.rounded)
        }
    }
}
