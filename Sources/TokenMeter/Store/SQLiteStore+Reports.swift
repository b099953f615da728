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
                    let key = (0..<width).map { (row[$0] as String?) ?? "" }
                    let values = (width..<(width + StoreSchema.figureColumns.count)).map { row.sum($0) }
                    groups[key, default: RollupFigures()] += RollupFigures(columnValues: values)
                }
            }
            return FigureResult(groups: groups, rounded: plan.rounded)
        }
    }

    static func plan(for query: FigureQuery, retention: RetentionPolicy, now: Date) -> QueryPlan {
        let from = query.from.unixMilliseconds
        let to = query.to.unixMilliseconds
        func oldest(_ source: QueryPlan.Source) -> Int64 {
            switch source {
            case .raw: retention.oldestKept(nil, now: now).unixMilliseconds
            case .rollup(.day): Int64.min
            case .rollup(let g): retention.oldestKept(g, now: now).unixMilliseconds
            }
        }
        if query.needsRaw {
            // Users and plans are only in raw records: exact within raw retention.
            let rawFrom = oldest(.raw)
            var plan = QueryPlan()
            if to > max(from, rawFrom) { plan.segments = [.init(source: .raw, from: max(from, rawFrom), to: to)] }
            plan.rounded = from < rawFrom
            return plan
        }
        return QueryPlan.make(from: from, to: to, oldestKept: oldest)
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

    public func activeUsers(_ query: FigureQuery, paying: Bool?, retention: RetentionPolicy, now: Date) async throws -> [[String]: Int] {
        let from = query.from.unixMilliseconds
        let to = query.to.unixMilliseconds
        let rawFrom = retention.oldestKept(nil, now: now).unixMilliseconds
        let payingClause = paying == true ? " AND paying = 1" : ""
        if query.groupBy.isEmpty && query.filters.isEmpty && query.excludedGroups.isEmpty {
            // Whole UTC days from the per-user day table, the edges (and anything it cannot cover) from raw records.
            let day = Granularity.day.milliseconds
            let firstDay = floorDiv(from + day - 1, day) * day
            let lastDay = floorDiv(to, day) * day
            let useDays = firstDay < lastDay
            let sql = useDays ? """
                SELECT COUNT(*) FROM (
                    SELECT user_id FROM user_day WHERE day >= ? AND day < ?\(payingClause)
                    UNION
                    SELECT user_id FROM usage_records WHERE ((ts >= ? AND ts < ?) OR (ts >= ? AND ts < ?))
                        AND status != 'pending' AND user_id IS NOT NULL\(payingClause))
                """ : """
                SELECT COUNT(DISTINCT user_id) FROM usage_records WHERE ts >= ? AND ts < ?
                    AND status != 'pending' AND user_id IS NOT NULL\(payingClause)
                """
            let arguments: StatementArguments = useDays
                ? [firstDay, lastDay, max(from, rawFrom), firstDay, lastDay, to]
                : [from, to]
            let count = try await pool.read { db in try Int.fetchOne(db, sql: sql, arguments: arguments) ?? 0 }
            return [[]: count]
        }
        let groupColumns = query.groupBy.map(\.rawGroupExpression)
        var (filters, filterArguments) = Self.filterSQL(query, raw: true)
        if !query.excludedGroups.isEmpty && !groupColumns.isEmpty {
            let tuple = "(" + groupColumns.map { _ in "?" }.joined(separator: ", ") + ")"
            filters += " AND (\(groupColumns.joined(separator: ", "))) NOT IN (VALUES \(query.excludedGroups.map { _ in tuple }.joined(separator: ", ")))"
            filterArguments += query.excludedGroups.flatMap { $0.map { $0 as any DatabaseValueConvertible } }
        }
        let sql = """
            SELECT \(groupColumns.map { $0 + ", " }.joined())COUNT(DISTINCT user_id) FROM usage_records
            WHERE ts >= ? AND ts < ? AND status != 'pending' AND user_id IS NOT NULL\(payingClause)\(filters)
            \(groupColumns.isEmpty || !query.excludedGroups.isEmpty ? "" : "GROUP BY " + groupColumns.joined(separator: ", "))
            """
        let arguments = StatementArguments(([max(from, rawFrom), to] as [(any DatabaseValueConvertible)?]) + filterArguments.map { $0 as (any DatabaseValueConvertible)? })
        return try await pool.read { db in
            var result: [[String]: Int] = [:]
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                if !query.excludedGroups.isEmpty {
                    result[[]] = row[groupColumns.count]
                    continue
                }
                let key = (0..<groupColumns.count).map { (row[$0] as String?) ?? "" }
                result[key] = row[groupColumns.count]
            }
            return result
        }
    }
}
