import Foundation
import PostgresNIO
import TokenMeterCore

/// Reports: the plan is the one every store shares (`QueryPlan.plan(for:)`), the SQL per segment is this
/// store's. Rollup segments read the rollup and user-set tables, raw segments the records.
extension PostgresStore {
    public func figures(_ query: FigureQuery, retention: RetentionPolicy, now: Date) async throws -> FigureResult {
        let plan = QueryPlan.plan(for: query, retention: retention, now: now)
        return try await read { connection in
            var groups: [[String]: RollupFigures] = [:]
            let width = query.groupBy.count
            for segment in plan.segments {
                for try await row in try await connection.query(Self.figureSQL(query, segment: segment), logger: logger) {
                    var key: [String] = []
                    var values: [Int64] = []
                    for (index, cell) in row.enumerated() {
                        if index < width { key.append(try cell.decode(String?.self) ?? "") } else { values.append(try cell.decode(Int64?.self) ?? 0) }
                    }
                    groups[key, default: RollupFigures()] += RollupFigures(storedValues: values)
                }
            }
            return FigureResult(groups: groups, rounded: plan.rounded,
                                covered: CoveredRange(plan))
        }
    }

    /// ` AND column = ANY($n)` per filter, `$1`/`$2` being the segment's range.
    static func filters(_ query: FigureQuery, raw: Bool, into bindings: inout PostgresBindings) -> String {
        var clauses = ""
        for dimension in ReportDimension.allCases {
            guard let values = query.filters[dimension], !values.isEmpty else { continue }
            bindings.append(values)
            // No resource type is NULL in raw records and '' in rollups.
            let column = raw && dimension == .resourceType && values.contains("") ? dimension.rawGroupExpression
                : raw ? dimension.rawColumn : dimension.rawValue
            clauses += " AND \(column) = ANY($\(bindings.count))"
        }
        if raw && query.unpricedOnly { clauses += " AND unpriced" }
        if raw, let ids = query.resourceIDs {
            bindings.append(ids)
            clauses += " AND resource_id = ANY($\(bindings.count))"
        }
        if raw {
            for (key, value) in query.tags.sorted(by: { $0.key < $1.key }) {
                bindings.append(key)
                bindings.append(value)
                clauses += " AND (tags::jsonb ->> $\(bindings.count - 1)) = $\(bindings.count)"
            }
        }
        return clauses
    }

    static func figureSQL(_ query: FigureQuery, segment: QueryPlan.Segment) -> PostgresQuery {
        let raw = segment.source == .raw
        let groupColumns = query.groupBy.map { raw ? $0.rawGroupExpression : $0.rawValue }
        let select = groupColumns.map { $0 + ", " }.joined()
        let groupClause = groupColumns.isEmpty ? "" : " GROUP BY " + groupColumns.joined(separator: ", ")
        var bindings = PostgresBindings()
        bindings.append(segment.from)
        bindings.append(segment.to)
        let filters = Self.filters(query, raw: raw, into: &bindings)
        let sql: String
        if case .rollup(let granularity) = segment.source {
            sql = """
                SELECT \(select)\(RollupFigures.columnNames.map { "SUM(\($0))::bigint" }.joined(separator: ", "))
                FROM \(PostgresSchema.rollupTables[granularity]!) WHERE bucket >= $1 AND bucket < $2\(filters)\(groupClause)
                """
        } else {
            sql = """
                SELECT \(select)COUNT(*), COUNT(*) FILTER (WHERE status = 'error'), SUM(input_tokens)::bigint, SUM(cached_input_tokens)::bigint,
                    SUM(cache_write_tokens)::bigint, SUM(output_tokens)::bigint, SUM(reasoning_tokens)::bigint, SUM(cost_nano)::bigint,
                    SUM(credits_micro)::bigint, COUNT(*) FILTER (WHERE unpriced), SUM(coalesce(duration_us, 0))::bigint, COUNT(duration_us)
                FROM usage_records WHERE ts >= $1 AND ts < $2 AND status <> 'pending'\(filters)\(groupClause)
                """
        }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// Exact distinct users: whole hours and days from the user-set tables (chunks OR-ed by
    /// `bit_or` in the database, then unioned in memory), the edges from the records' user ordinals.
    public func activeUsers(_ query: FigureQuery, paying: Bool?, retention: RetentionPolicy, now: Date) async throws -> ActiveUsers {
        try await read { connection in
            // Set by `migrate` from a SQLite store upgraded from before user sets (as that store plans).
            let completeFrom = try await connection.query("SELECT value FROM store_meta WHERE key = 'user_sets_complete_from'", logger: logger)
                .collect().first?.decode(Int64.self) ?? Int64.min
            let plan = QueryPlan.plan(for: query, retention: retention, now: now, levels: UserSetAggregate.granularities,
                                      completeFrom: completeFrom)
            var groups: [[String]: UserSet] = [:]
            let width = query.groupBy.count
            for segment in plan.segments {
                let raw = segment.source == .raw
                let groupColumns = query.groupBy.map { raw ? $0.rawGroupExpression : $0.rawValue }
                let select = groupColumns.map { $0 + ", " }.joined()
                var bindings = PostgresBindings()
                bindings.append(segment.from)
                bindings.append(segment.to)
                let filters = Self.filters(query, raw: raw, into: &bindings) + (paying == true ? " AND paying" : "")
                if case .rollup(let granularity) = segment.source {
                    let sql = """
                        SELECT \(select)chunk, bit_or(members) FROM \(PostgresSchema.userSetTables[granularity]!)
                        WHERE bucket >= $1 AND bucket < $2\(filters) GROUP BY \(groupColumns.map { $0 + ", " }.joined())chunk
                        """
                    for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger) {
                        let cells = Array(row)
                        let key = try cells[0..<width].map { try $0.decode(String?.self) ?? "" }
                        let chunk = try cells[width].decode(Int64.self)
                        let bits = try cells[width + 1].decode(BitChunk.self)
                        groups[key, default: UserSet()].formUnion(chunk: chunk, words: bits.words)
                    }
                } else {
                    let sql = """
                        SELECT DISTINCT \(select)user_ordinal FROM usage_records
                        WHERE ts >= $1 AND ts < $2 AND status <> 'pending' AND user_ordinal IS NOT NULL\(filters)
                        """
                    for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger) {
                        let cells = Array(row)
                        let key = try cells[0..<width].map { try $0.decode(String?.self) ?? "" }
                        groups[key, default: UserSet()].insert(try cells[width].decode(Int64.self))
                    }
                }
            }
            return ActiveUsers(groups: groups, rounded: plan.rounded)
        }
    }

    /// Completed records in [from, to) with usage fields not understood, per provider, model and
    /// field (the stored JSON is parsed here, in the order the SQLite store sorts by: bytes).
    public func unrecognizedUsage(from: Date, to: Date) async throws -> UnrecognizedUsage {
        try await read { connection in
            let rows = try await connection.query("""
                SELECT provider, model, unrecognized_usage FROM usage_records
                WHERE unrecognized_usage IS NOT NULL AND ts >= \(from.unixMilliseconds) AND ts < \(to.unixMilliseconds) AND status <> 'pending'
                """, logger: logger)
            var requests: Int64 = 0
            var fields: [[String]: (requests: Int64, count: Int64)] = [:]
            for try await (provider, model, json) in rows.decode((String, String, String).self) {
                requests += 1
                for (field, count) in StoreRowCoding.unrecognized(fromJSON: json) {
                    fields[[provider, model, field], default: (0, 0)].requests += 1
                    fields[[provider, model, field], default: (0, 0)].count += count
                }
            }
            let sorted = fields.sorted { a, b in
                if a.value.requests != b.value.requests { return a.value.requests > b.value.requests }
                return a.key.lazy.map { Array($0.utf8) }.lexicographicallyPrecedes(b.key.lazy.map { Array($0.utf8) }) {
                    $0.lexicographicallyPrecedes($1)
                }
            }
            return UnrecognizedUsage(requests: requests, fields: sorted.map {
                UnrecognizedUsage.Field(provider: $0.key[0], model: $0.key[1], field: $0.key[2], requests: $0.value.requests, count: $0.value.count)
            })
        }
    }

    /// From the raw records still kept.
    public func unpricedReasons(from: Date, to: Date, limit: Int) async throws -> [UnpricedReason] {
        try await read { connection in
            let rows = try await connection.query("""
                SELECT model, coalesce(unpriced_reason, 'no price (stored before reasons were kept)') AS reason, count(*) AS n
                FROM usage_records WHERE unpriced AND ts >= \(from.unixMilliseconds) AND ts < \(to.unixMilliseconds)
                GROUP BY model, reason ORDER BY n DESC, model COLLATE "C" LIMIT \(Int64(limit))
                """, logger: logger)
            var reasons: [UnpricedReason] = []
            for try await (model, reason, n) in rows.decode((String, String, Int64).self) {
                reasons.append(UnpricedReason(model: model, reason: reason, requests: n))
            }
            return reasons
        }
    }
}
