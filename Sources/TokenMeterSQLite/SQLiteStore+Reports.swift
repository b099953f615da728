import Foundation
import GRDB
import TokenMeterCore

extension SQLiteStore {
    public func figures(_ query: FigureQuery, retention: RetentionPolicy, now: Date) async throws -> FigureResult {
        let plan = QueryPlan.plan(for: query, retention: retention, now: now)
        return try await guardedRead { db in
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
                                covered: CoveredRange(plan))
        }
    }

    static func filterSQL(_ query: FigureQuery, raw: Bool) -> (String, [any DatabaseValueConvertible]) {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        for dimension in ReportDimension.allCases {
            guard let values = query.filters[dimension], !values.isEmpty else { continue }
            // No resource type is NULL in raw records and '' in rollups.
            let column = raw && dimension == .resourceType && values.contains("") ? dimension.rawGroupExpression
                : raw ? dimension.rawColumn : dimension.rawValue
            clauses.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ", ")))")
            arguments += values.map { $0 as any DatabaseValueConvertible }
        }
        if raw && query.unpricedOnly { clauses.append("unpriced = 1") }
        if raw, let ids = query.resourceIDs {
            clauses.append("resource_id IN (\(ids.map { _ in "?" }.joined(separator: ", ")))")
            arguments += ids.map { $0 as any DatabaseValueConvertible }
        }
        if raw {
            // Keys are letters, digits and `_ . : -` (checked when parsed): quoted in the JSON path.
            for (key, value) in query.tags.sorted(by: { $0.key < $1.key }) {
                clauses.append("json_extract(tags, ?) = ?")
                arguments += ["$.\"\(key)\"", value]
            }
        }
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
                SELECT \(select)\(StoreSchema.figures.map(\.fromRawRecords).joined(separator: ", "))
                FROM usage_records WHERE ts >= ? AND ts < ? AND status != 'pending'\(filters)\(groupClause)
                """
        }
        return (sql, StatementArguments([segment.from, segment.to] + filterArguments))
    }

    public func activeUsers(_ query: FigureQuery, paying: Bool?, retention: RetentionPolicy, now: Date) async throws -> ActiveUsers {
        let plan = QueryPlan.plan(for: query, retention: retention, now: now, levels: UserSetAggregate.granularities,
                             completeFrom: userSetsCompleteFrom)
        return try await guardedRead { db in
            var groups: [[String]: UserSet] = [:]
            for segment in plan.segments {
                try UserSetTables.collect(query, payingOnly: paying == true, segment: segment, db, into: &groups)
            }
            return ActiveUsers(groups: groups, rounded: plan.rounded)
        }
    }
}
