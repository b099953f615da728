import Foundation
import NIOCore
import PostgresNIO
import Testing
@testable import TokenMeterCore
@testable import TokenMeterPostgres

/// The column arrays the PostgreSQL store binds one per column (`unnest`): their binary encoding,
/// their round trip through a real server, and their agreement with the tables' column types.
@Suite("PostgreSQL column arrays")
struct PostgresColumnTests {
    static func encoded(_ column: PostgresColumnArray) -> [UInt8] {
        var buffer = ByteBuffer()
        column.encode(into: &buffer, context: PostgresEncodingContext.default)
        return Array(buffer.readableBytesView)
    }

    static func int32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func uint32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    static func int64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    /// Header: dimensions, has-NULLs flag, element type, then length and lower bound 1.
    static func header(nulls: Bool, type: UInt32, count: Int32) -> [UInt8] {
        int32(1) + int32(nulls ? 1 : 0) + uint32(type) + int32(count) + int32(1)
    }

    static let double: [UInt8] = withUnsafeBytes(of: (1.5).bitPattern.bigEndian, Array.init)
    static let encodings: [(PostgresColumnArray, [UInt8])] = {
        var cases: [(PostgresColumnArray, [UInt8])] = []
        cases.append((.bigint([]), int32(0) + int32(0) + uint32(20)))
        cases.append((.bigint([7, -1]), header(nulls: false, type: 20, count: 2) + int32(8) + int64(7) + int32(8) + int64(-1)))
        cases.append((.bigint([nil, 3]), header(nulls: true, type: 20, count: 2) + int32(-1) + int32(8) + int64(3)))
        cases.append((.text(["hé", nil, ""]), header(nulls: true, type: 25, count: 3) + int32(3) + Array("hé".utf8) + int32(-1) + int32(0)))
        cases.append((.boolean([true, false, nil]), header(nulls: true, type: 16, count: 3) + int32(1) + [1] + int32(1) + [0] + int32(-1)))
        cases.append((.double([1.5]), header(nulls: false, type: 701, count: 1) + int32(8) + double))
        return cases
    }()

    @Test(arguments: encodings)
    func arraysEncodeInPostgresBinaryFormat(_ column: PostgresColumnArray, _ bytes: [UInt8]) {
        #expect(Self.encoded(column) == bytes)
    }

    @Test func aBitChunkArrayHoldsEachChunkAsItsBitString() {
        var words = [UInt64](repeating: 0, count: UserSet.wordsInChunk)
        words[0] = 0b101  // members 0 and 2: the first byte is 1010 0000
        let bytes = Self.encoded(.bits([BitChunk(words: words)]))
        let element = Array(bytes.dropFirst(20))
        #expect(Array(bytes.prefix(20)) == Self.header(nulls: false, type: 1560, count: 1))
        #expect(Array(element.prefix(8)) == Self.int32(Int32(4 + BitChunk.bits / 8)) + Self.int32(Int32(BitChunk.bits)))
        #expect(element.count == 8 + BitChunk.bits / 8 && element[8] == 0b1010_0000 && element.dropFirst(9).allSatisfy { $0 == 0 })
    }

    @Test func insertUnnestNumbersOneArrayPerColumn() {
        #expect(PostgresSQL.insertUnnest(into: "t", columns: ["a", "b"], types: ["text", "bigint"], first: 2)
            == "INSERT INTO t (a, b) SELECT * FROM unnest($2::text[], $3::bigint[])")
    }

    @Test func chainedUpsertsGateEachPartOnTheOneBeforeAndNumberParametersAcross() {
        let a = PostgresSQL.Upsert(table: "a", columns: ["k", "v"], types: ["bigint", "text"], onConflict: "(k) DO NOTHING")
        let b = PostgresSQL.Upsert(table: "b", columns: ["k"], types: ["bigint"], onConflict: "(k) DO UPDATE SET k = b.k")
        #expect(PostgresSQL.chainedUpserts([a]) == "WITH u1 AS (INSERT INTO a (k, v) SELECT * FROM unnest($1::bigint[], $2::text[])"
            + " ON CONFLICT (k) DO NOTHING RETURNING 1) SELECT count(*) FROM u1")
        #expect(PostgresSQL.chainedUpserts([a, b, b]) == "WITH u1 AS (INSERT INTO a (k, v) SELECT * FROM unnest($1::bigint[], $2::text[])"
            + " ON CONFLICT (k) DO NOTHING RETURNING 1), u2 AS (INSERT INTO b (k) SELECT * FROM unnest($3::bigint[])"
            + " WHERE (SELECT count(*) FROM u1) >= 0 ON CONFLICT (k) DO UPDATE SET k = b.k RETURNING 1),"
            + " u3 AS (INSERT INTO b (k) SELECT * FROM unnest($4::bigint[]) WHERE (SELECT count(*) FROM u2) >= 0"
            + " ON CONFLICT (k) DO UPDATE SET k = b.k RETURNING 1) SELECT count(*) FROM u3")
    }

    /// The arrays come back from the server element for element, NULLs and order kept.
    @Test func arraysRoundTripThroughTheServer() async throws {
        guard try StoreKind.postgres.available() else { return }
        let store = try await PostgresTestDatabase.create().store(instance: "t")
        let texts: [String?] = ["b", nil, "ä'\"\\", "", "a"]
        let ints: [Int64?] = [Int64.min, 0, nil, Int64.max, 42]
        let bools: [Bool?] = [true, nil, false, true, false]
        let reals: [Double?] = [nil, -0.25, 1e300, 3, 0.1]
        let rows = try await store.read { connection in
            let query = PostgresQuery(unsafeSQL: "SELECT n, t, i, b, r FROM unnest($1::text[], $2::bigint[], $3::boolean[], $4::double precision[]) WITH ORDINALITY AS u(t, i, b, r, n) ORDER BY n",
                                      binds: PostgresSQL.bindings([.text(texts), .bigint(ints), .boolean(bools), .double(reals)]))
            var rows: [(Int64, String?, Int64?, Bool?, Double?)] = []
            for try await row in try await connection.query(query, logger: store.logger).decode((Int64, String?, Int64?, Bool?, Double?).self) {
                rows.append(row)
            }
            return rows
        }
        #expect(rows.map(\.0) == [1, 2, 3, 4, 5])
        #expect(rows.map(\.1) == texts && rows.map(\.2) == ints && rows.map(\.3) == bools && rows.map(\.4) == reals)
    }

    /// Every statement's declared types are the table's: the column lists and type lists agree with
    /// the migrated schema, column for column.
    @Test func columnTypesMatchTheTables() async throws {
        guard try StoreKind.postgres.available() else { return }
        let store = try await PostgresTestDatabase.create().store(instance: "t")
        func schema(_ table: String) async throws -> [String: String] {
            let rows = try await store.textRows("""
                SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
                WHERE attrelid = '\(table)'::regclass AND attnum > 0 AND NOT attisdropped
                """)
            return Dictionary(uniqueKeysWithValues: rows.map { ($0[0]!, $0[1]!) })
        }
        let statements: [(table: String, columns: [String], types: [String])] = [
            ("usage_records", PostgresRecordRow.columns, PostgresRecordRow.types),
            ("rollup_minute", PostgresAggregateColumns.rollupColumns, PostgresAggregateColumns.rollupTypes),
            ("user_sets_hour", PostgresAggregateColumns.userSetColumns, PostgresAggregateColumns.userSetTypes),
            ("lifetime_totals", PostgresAggregateColumns.lifetimeColumns, PostgresAggregateColumns.lifetimeTypes),
        ]
        for statement in statements {
            #expect(statement.columns.count == statement.types.count, "\(statement.table)")
            let types = try await schema(statement.table)
            for (column, type) in zip(statement.columns, statement.types) {
                #expect(types[column] == type, "\(statement.table).\(column)")
            }
        }
    }

    /// A batch's records as column arrays: one array per stored column, of the column's type, with
    /// one element per record (the values are read back through the server by the store suites).
    @Test func recordColumnArraysHaveOneTypedArrayPerColumn() throws {
        var generator = RandomUsage(rng: SeededGenerator(seed: 5), start: Date(unixMilliseconds: 1_764_000_000_000), span: 3600)
        let records = (0..<3).map { generator.record(id: "r\($0)") }
        let columns = PostgresRecordRow.columnArrays(records, userOrdinals: [4, nil, 9], receivedAtMs: 77, instance: "i")
        #expect(columns.count == PostgresRecordRow.columns.count)
        #expect(zip(columns, PostgresRecordRow.types).allSatisfy { $0.sqlType == $1 })
        #expect(columns.allSatisfy { $0.count == records.count })
    }
}
