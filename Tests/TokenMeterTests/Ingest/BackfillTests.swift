import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("NDJSON backfill into the store")
struct BackfillTests {
    @Test func backfillCountsAcceptedDuplicateAndRejectedLinesWithLineNumbers() async throws {
        let directory = temporaryDirectory()
        let file = directory.appendingPathComponent("usage.ndjson")
        var lines: [String] = []
        for i in 0..<2500 {
            lines.append(#"{"id":"bf-\#(i)","operation":"chat","model":"gpt-4o-mini","input_tokens":1000,"timestamp":"2026-11-20T10:00:00Z"}"#)
        }
        lines[9] = #"{"id":"bf-0","operation":"chat","model":"gpt-4o-mini"}"#  // duplicate of line 1
        lines[99] = #"{"operation":"chat"}"#
        lines[1999] = "{not json"
        lines.insert("", at: 500)  // blank lines are skipped but counted
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)

        let store = try SQLiteStore(path: directory.appendingPathComponent("b.sqlite").path, synchronous: .normal)
        let now = RFC3339.parse("2026-11-25T00:00:00Z")!
        var backfill = Backfill(store: store, pricing: PricingService(base: try DefaultCatalog.entries()),
                                normalizer: RecordNormalizer(now: { now }))
        backfill.batchSize = 300
        var progressCalls = 0
        let summary = try await backfill.run(file: file.path) { progress in
            progressCalls += 1
            #expect(progress.bytesRead <= progress.totalBytes)
        }
        #expect(summary.accepted == 2497 && summary.duplicates == 1 && summary.rejected == 2)
        #expect(summary.errors.map(\.line) == [100, 2001])
        #expect(summary.errors.first?.message.contains("model: required") == true)
        #expect(progressCalls >= 8)
        let cost = try await store.database.read { db in try Int64.fetchOne(db, sql: "SELECT sum(cost_nano) FROM usage_records") }
        #expect(cost == Int64(2497) * 150_000)  // 1000 × $0.15 per 1M each

        let again = try await backfill.run(file: file.path)
        #expect(again.accepted == 0 && again.duplicates == 2498 && again.rejected == 2)
    }
}
