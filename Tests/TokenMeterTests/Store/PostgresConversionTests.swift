import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer
@testable import TokenMeterPostgres

/// pg-v2-partitions on a database pg-v1 filled: every row kept, every report the same.
@Suite("PostgreSQL store: pg-v1 to pg-v2 conversion")
struct PostgresConversionTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!
    /// The tables pg-v1 created, in an order their copy can follow.
    static let v1Tables = ["usage_records", "operation_credits", "user_ordinals", "lifetime_totals", "price_changes", "store_meta",
                           "instances", "rollup_day", "rollup_hour", "rollup_minute", "user_sets_day", "user_sets_hour"]

    /// Copies every pg-v1 table's rows from a store to a database that only has pg-v1, as JSON.
    static func copyV1Tables(from source: PostgresStore, to client: PostgresClient, logger: Logger) async throws {
        for table in v1Tables {
            try await client.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table)"), logger: logger)
            let rows = try await source.textRows("SELECT row_to_json(t)::text FROM \(table) t").compactMap { $0[0] }
            for start in stride(from: 0, to: rows.count, by: 500) {
                var bindings = PostgresBindings()
                bindings.append("[" + rows[start..<min(start + 500, rows.count)].joined(separator: ",") + "]")
                try await client.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO \(table) OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(null::\(table), $1::json)
                    """, binds: bindings), logger: logger)
            }
        }
        for (table, column) in [("usage_records", "seq"), ("user_ordinals", "ordinal"), ("price_changes", "seq")] {
            try await client.query(PostgresQuery(unsafeSQL: "SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), max(\(column))) FROM \(table)"),
                                   logger: logger)
        }
    }

    /// Every report a store answers, over ranges that hit rollups and raw records.
    static func reports(_ store: PostgresStore) async throws -> [String] {
        let retention = RetentionPolicy()
        let all: [ReportDimension] = [.service, .operation, .category, .provider, .model, .status, .resourceType]
        var answers: [String] = []
        for (from, to) in [(now.addingTimeInterval(-6 * 86400), now), (now.addingTimeInterval(-86400 - 1234), now.addingTimeInterval(-777))] {
            answers.append("\(try await store.figures(FigureQuery(from: from, to: to, groupBy: all), retention: retention, now: now).groups.sorted { "\($0.key)" < "\($1.key)" })")
            answers.append("\(try await store.figures(FigureQuery(from: from, to: to, groupBy: [.user, .plan]), retention: retention, now: now).groups.sorted { "\($0.key)" < "\($1.key)" })")
            let users = try await store.activeUsers(FigureQuery(from: from, to: to, groupBy: [.model]), paying: nil, retention: retention, now: now)
            answers.append("\(users.total) \(users.groups.mapValues(\.count).sorted { "\($0.key)" < "\($1.key)" })")
            answers.append("\(try await store.activeUsers(FigureQuery(from: from, to: to), paying: true, retention: retention, now: now).total)")
            answers.append("\(try await store.unrecognizedUsage(from: from, to: to))")
            answers.append("\(try await store.unpricedReasons(from: from, to: to, limit: 100))")
            answers.append("\(try await store.resourceSpan(type: "session", id: "r3", from: from, to: to))")
        }
        answers.append("\(try await store.lifetimeTotals().map { "\($0)" }.sorted())")
        answers.append("\(try await store.pendingCounts().map { "\($0)" }.sorted())")
        answers.append("\(try await store.loadPriceChanges())")
        return answers
    }

    @Test func aFilledV1DatabaseIsConvertedKeepingEveryRowAndEveryReport() async throws {
        guard try StoreKind.postgres.available() else { return }
        // The reference: a store on the current schema, filled through its write path.
        let reference = try await PostgresTestDatabase.create()
        let source = try await reference.store(instance: "a", now: { Self.now })
        var generator = RandomUsage(rng: SeededGenerator(seed: 19), start: Self.now.addingTimeInterval(-5 * 86400), span: 5 * 86400)
        let records = (0..<3000).map { generator.record(id: "r-\($0)") }
        for start in stride(from: 0, to: records.count, by: 700) {
            _ = try await source.commit(Array(records[start..<min(start + 700, records.count)]))
        }
        let done = RecordCompletion(status: .success, tokenFields: ["output_tokens": .int(42), "reasoning_tokens": .int(0)])
        for record in records.filter({ $0.record.status == .pending }).prefix(40) {
            _ = try await source.complete(id: record.record.id, with: done, reprice: { CostCalculator.price($0, entry: nil) })
        }
        try await source.savePriceChanges([.put(PriceEntry(model: "house-model", provider: "house"))])
        // A pg-v1 database holding the same rows.
        let old = try await PostgresTestDatabase.create()
        let logger = old.logger
        let client = try old.client()
        try await PostgresMigrator.migrate(client, upTo: "pg-v1", logger: logger)
        try await Self.copyV1Tables(from: source, to: client, logger: logger)
        var v1Rows: [Int64] = []
        for try await n in try await client.query("SELECT count(*) FROM usage_records", logger: logger).decode(Int64.self) { v1Rows.append(n) }
        #expect(v1Rows == [Int64(records.count)])
        // Opening it applies pg-v2 (and what follows) to the filled table.
        let converted = try await PostgresStore.open(client: client, location: old.location, instance: "a", now: { Self.now }, logger: logger)
        let rowsSQL = "SELECT row_to_json(r)::text FROM (SELECT * FROM usage_records ORDER BY id) r"
        let (before, after) = (try await source.textRows(rowsSQL), try await converted.textRows(rowsSQL))
        #expect(after.count == records.count)
        #expect(after == before, "a row changed in the conversion")
        #expect(try await converted.textRows("SELECT count(*)::text FROM usage_records_default") == [["0"]], "every converted row is in its day partition")
        #expect(try await converted.textRows("SELECT count(*)::text FROM usage_record_ids k JOIN usage_records r ON r.id = k.id AND r.ts = k.ts")
            == [[String(records.count)]])
        #expect(try await converted.textRows("SELECT count(*)::text FROM pg_class WHERE relname = 'usage_records_v1'") == [["0"]])
        let (expected, got) = (try await Self.reports(source), try await Self.reports(converted))
        #expect(got.count == expected.count)
        for (index, (e, g)) in zip(expected, got).enumerated() { #expect(g == e, "report \(index) differs after the conversion") }
        // It keeps working: a stored id is a duplicate, a new one gets the next seq.
        #expect(try await converted.commit([records[0], generator.record(id: "new")]) == [.duplicate, .accepted])
        let seqs = try await converted.textRows("""
            SELECT ((SELECT seq FROM usage_records WHERE id = 'new') > (SELECT max(seq) FROM usage_records WHERE id <> 'new'))::text
            """)
        #expect(seqs == [["true"]], "the converted table's seq did not go on from its rows'")
    }
}
