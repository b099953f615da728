import PostgresNIO

/// SQL-text helpers of the PostgreSQL store.
enum PostgresSQL {}

extension PostgresSQL {
    /// `INSERT INTO table (columns) SELECT * FROM unnest($1::type[], …)`: one row per array index,
    /// in array order, the parameters numbered from `first`.
    static func insertUnnest(into table: String, columns: [String], types: [String], first: Int = 1) -> String {
        precondition(columns.count == types.count, "one type per column")
        let arrays = types.enumerated().map { "$\($0.offset + first)::\($0.element)[]" }.joined(separator: ", ")
        return "INSERT INTO \(table) (\(columns.joined(separator: ", "))) SELECT * FROM unnest(\(arrays))"
    }

    /// One table's upsert from column arrays: `INSERT INTO table (columns) SELECT * FROM unnest(…)
    /// ON CONFLICT onConflict`.
    struct Upsert: Sendable {
        var table: String
        var columns: [String]
        var types: [String]
        /// What follows `ON CONFLICT`: the key and the action.
        var onConflict: String
    }

    /// An upsert with the column arrays bound to it.
    struct UpsertPart: Sendable {
        var upsert: Upsert
        var columns: [PostgresColumnArray]
        init(_ upsert: Upsert, _ columns: [PostgresColumnArray]) {
            precondition(upsert.columns.count == columns.count, "one array per column")
            self.upsert = upsert
            self.columns = columns
        }
    }

    /// The upserts as one statement, run one after another: `WITH u1 AS (INSERT … RETURNING 1),
    /// u2 AS (INSERT … SELECT … WHERE (SELECT count(*) FROM u1) >= 0 …), … SELECT count(*) FROM uN`.
    /// A part's rows are read only after its gate, the count of the part before, is known (an
    /// uncorrelated subquery, evaluated once before the first row), so part k finishes before part
    /// k + 1 touches a row. Parameters are numbered across the parts in order.
    static func chainedUpserts(_ upserts: [Upsert]) -> String {
        precondition(!upserts.isEmpty, "at least one upsert")
        var first = 1
        var parts: [String] = []
        for (index, upsert) in upserts.enumerated() {
            let arrays = upsert.types.enumerated().map { "$\($0.offset + first)::\($0.element)[]" }.joined(separator: ", ")
            first += upsert.types.count
            let gate = index == 0 ? "" : " WHERE (SELECT count(*) FROM u\(index)) >= 0"
            parts.append("u\(index + 1) AS (INSERT INTO \(upsert.table) (\(upsert.columns.joined(separator: ", "))) SELECT * FROM unnest(\(arrays))"
                + gate + " ON CONFLICT \(upsert.onConflict) RETURNING 1)")
        }
        return "WITH " + parts.joined(separator: ", ") + " SELECT count(*) FROM u\(upserts.count)"
    }

    /// The bindings of `columns`, in order, each one array parameter.
    static func bindings(_ columns: [PostgresColumnArray]) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: columns.count)
        for column in columns { bindings.append(column) }
        return bindings
    }
}
