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

    static let lifetimeCounters = UsageTotals.counterColumnNames
    static let lifetimeColumns = ["instance"] + UsageTotals.keyColumnNames + lifetimeCounters
    static let lifetimeTypes = ["text"] + UsageTotals.keyColumnNames.map { _ in "text" } + lifetimeCounters.map { _ in "bigint" }

    static func lifetime(_ rows: [UsageTotals], instance: String) -> [PostgresColumnArray] {
        let keys = rows.map(\.keyValues), counters = rows.map(\.counterValues)
        return [.text(Array(repeating: instance, count: rows.count))]
            + UsageTotals.keyColumnNames.indices.map { i in .text(keys.map { $0[i] }) }
            + UsageTotals.counterColumnNames.indices.map { i in .bigint(counters.map { $0[i] }) }
    }

    /// The dimension columns, in `RollupDimensions.columnNames` order.
    private static func dimensions(_ d: [RollupDimensions]) -> [PostgresColumnArray] {
        let values = d.map(\.columnValues)
        return RollupDimensions.columnNames.indices.map { i in .text(values.map { $0[i] }) }
    }
}
