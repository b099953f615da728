import TokenMeterCore

/// A batch's rollup, user-set and lifetime rows as one array per column (for
/// `PostgresSQL.insertUnnest`), in the rows' order, which is the aggregate's fixed key order.
enum PostgresAggregateColumns {
    static let rollupColumns = ["bucket"] + PostgresSchema.dimensionColumns + RollupFigures.columnNames
    static let rollupTypes = ["bigint"] + PostgresSchema.dimensionColumns.map { _ in "text" } + RollupFigures.columnNames.map { _ in "bigint" }

    static func rollups(_ rows: [BatchAggregate.RollupRow]) -> [PostgresColumnArray] {
        let figures = rows.map(\.figures.storedValues)
        return [.bigint(rows.map { $0.bucket })] + dimensions(rows.map(\.dimensions))
            + RollupFigures.columnNames.indices.map { column in .bigint(figures.map { $0[column] }) }
    }

    static let userSetColumns = ["bucket"] + PostgresSchema.dimensionColumns + ["paying", "chunk", "members"]
    static let userSetTypes = ["bigint"] + PostgresSchema.dimensionColumns.map { _ in "text" } + ["boolean", "bigint", "bit(\(BitChunk.bits))"]

    static func userSets(_ rows: [BatchAggregate.UserSetRow]) -> [PostgresColumnArray] {
        [.bigint(rows.map { $0.bucket })] + dimensions(rows.map(\.dimensions))
            + [.boolean(rows.map { $0.paying }), .bigint(rows.map { $0.chunk }), .bits(rows.map { BitChunk(words: $0.words) })]
    }

    static let lifetimeCounters = ["requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                                   "reasoning_tokens", "cost_nano", "credits_micro", "unpriced_requests"]
    static let lifetimeColumns = ["instance"] + PostgresSchema.dimensionColumns + ["error_type"] + lifetimeCounters
    static let lifetimeTypes = ["text"] + PostgresSchema.dimensionColumns.map { _ in "text" } + ["text"] + lifetimeCounters.map { _ in "bigint" }

    static func lifetime(_ rows: [UsageTotals], instance: String) -> [PostgresColumnArray] {
        func text(_ value: (UsageTotals) -> String) -> PostgresColumnArray { .text(rows.map { value($0) }) }
        func int(_ value: (UsageTotals) -> Int64) -> PostgresColumnArray { .bigint(rows.map { value($0) }) }
        return [
            .text(Array(repeating: instance, count: rows.count)),
            text(\.service), text(\.operation), text(\.category), text(\.provider), text(\.model), text(\.status.rawValue),
            text(\.resourceType), text { $0.errorType ?? "" },
            int(\.requests), int(\.tokens.input), int(\.tokens.cachedInput), int(\.tokens.cacheWrite), int(\.tokens.output),
            int(\.tokens.reasoning), int(\.costNanoUSD), int(\.creditsMicro), int(\.unpricedRequests),
        ]
    }

    /// The seven dimension columns, in `PostgresSchema.dimensionColumns` order.
    private static func dimensions(_ d: [RollupDimensions]) -> [PostgresColumnArray] {
        [.text(d.map { $0.service }), .text(d.map { $0.operation }), .text(d.map { $0.category }), .text(d.map { $0.provider }),
         .text(d.map { $0.model }), .text(d.map { $0.status }), .text(d.map { $0.resourceType })]
    }
}
