import Foundation
import Synchronization
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite

@Suite("Store copy (migrate): pieces, fingerprint, progress line, and the SQLite export")
struct StoreCopyTests {
    struct PiecesCase: CustomTestStringConvertible, Sendable {
        var counts: [(bucket: Int64, rows: Int)]
        var rowsPerPiece: Int
        var expected: [(through: Int64, rows: Int)]
        var testDescription: String { "\(counts.map { "\($0.bucket):\($0.rows)" }) by \(rowsPerPiece)" }
    }

    @Test(arguments: [
        PiecesCase(counts: [], rowsPerPiece: 10, expected: []),
        PiecesCase(counts: [(5, 3)], rowsPerPiece: 10, expected: [(5, 3)]),
        // Whole buckets: a piece ends at the bucket that reaches the size, never inside one.
        PiecesCase(counts: [(1, 4), (2, 4), (3, 4), (4, 4)], rowsPerPiece: 8, expected: [(2, 8), (4, 8)]),
        PiecesCase(counts: [(1, 4), (2, 4), (3, 4)], rowsPerPiece: 8, expected: [(2, 8), (3, 4)]),
        PiecesCase(counts: [(10, 50), (20, 1), (30, 1)], rowsPerPiece: 8, expected: [(10, 50), (30, 2)]),
        PiecesCase(counts: [(-7, 1), (0, 1), (9, 1)], rowsPerPiece: 1, expected: [(-7, 1), (0, 1), (9, 1)]),
    ])
    func bucketPiecesKeepBucketsWholeAndCoverEveryRow(_ c: PiecesCase) {
        let pieces = StoreCopy.bucketPieces(c.counts, rowsPerPiece: c.rowsPerPiece)
        #expect(pieces.map(\.through) == c.expected.map(\.through))
        #expect(pieces.map(\.rows) == c.expected.map(\.rows))
        #expect(pieces.reduce(0) { $0 + $1.rows } == c.counts.reduce(0) { $0 + $1.rows })
    }

    @Test func theFingerprintChangesWithAnyTableAndOnlyThen() {
        let base = StoreCopySummary(tables: [.records: .init(rows: 10, figures: [42, 7]), .rollupDay: .init(rows: 3, figures: [1])])
        #expect(base.fingerprint == StoreCopySummary(tables: base.tables).fingerprint)
        var more = base
        more.tables[.records]!.rows = 11
        var repriced = base
        repriced.tables[.records]!.figures = [43, 7]
        var upgraded = base
        upgraded.userSetsCompleteFrom = 1000
        let prints = [base, more, repriced, upgraded].map(\.fingerprint)
        #expect(Set(prints).count == prints.count)
        #expect(base.fingerprint.contains("usage_records=10/42/7") && base.fingerprint.contains("price_changes=0"))
    }

    @Test func theProgressLineCountsEveryTableWithRows() {
        let summary = StoreCopySummary(tables: [.records: .init(rows: 300), .rollupHour: .init(rows: 100), .priceChanges: .init(rows: 0)])
        var progress = StoreCopyProgress()
        #expect(progress.line(of: summary, width: 10) == "[----------] 0.0%  records 0/300  hour 0/100")
        progress[.records] = .init(position: 150, rows: 150)
        #expect(progress.line(of: summary, width: 10) == "[###-------] 37.5%  records 150/300  hour 0/100")
        for step in StoreCopy.Step.allCases { progress[step].done = true }
        progress[.records].rows = 300
        progress[.rollupHour].rows = 100
        #expect(progress.isComplete)
        #expect(progress.line(of: summary, width: 10) == "[##########] 100.0%  records 300/300  hour 100/100")
        #expect(StoreCopyProgress(steps: Dictionary(uniqueKeysWithValues: StoreCopy.Step.allCases.map { ($0, .init(done: true)) }))
            .line(of: StoreCopySummary(tables: [:]), width: 4) == "[####] 100.0%")
    }

    /// Every stored value comes back: the record as written (price, resource, tags, metadata), its
    /// received and completed times and user ordinal, pending ones too, in seq order across pieces.
    @Test func theSQLiteExportGivesBackEveryRecordAsStored() async throws {
        let received = Date(timeIntervalSince1970: 1_780_000_000)
        let clock = Mutex(received)
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("s.sqlite").path, synchronous: .normal,
                                    now: { clock.withLock { $0 } })
        var usage = RandomUsage(rng: SeededGenerator(seed: 19), start: Date(timeIntervalSince1970: 1_779_990_000), span: 3600)
        var written: [PricedRecord] = []
        for n in 0..<250 {
            var record = usage.record(id: "r\(n)")
            if n % 17 == 0 { record.record.metadataJSON = #"{"trace":"t\#(n)"}"# }
            if n % 19 == 0 { record.record.unrecognizedUsage = ["server_tool_use.web_search_requests": Int64(n)] }
            if n % 23 == 0 { record.priceMatch = "alias"; record.priceVersion = "2026-01-01" }
            written.append(record)
        }
        _ = try await store.write(written.map { .insert($0) })
        let pending = written.filter { $0.record.status == .pending }
        #expect(!pending.isEmpty)
        let completedAt = received.addingTimeInterval(60)
        clock.withLock { $0 = completedAt }
        let completedID = pending[0].record.id
        _ = try await store.write([.complete(id: completedID, completion: RecordCompletion(status: .success),
                                             reprice: { CostCalculator.price($0, entry: nil) })])

        var exported: [ExportedRecord] = []
        var after: Int64? = nil
        while true {
            let piece = try await store.exportRecords(after: after, limit: 40)
            exported += piece
            guard piece.count == 40 else { break }
            after = piece.last!.seq
        }
        #expect(exported.map(\.seq) == exported.map(\.seq).sorted())
        #expect(exported.count == written.count)
        let byID = Dictionary(uniqueKeysWithValues: exported.map { ($0.priced.record.id, $0) })
        for record in written where record.record.id != completedID {
            let copy = try #require(byID[record.record.id])
            var expected = record
            expected.dailyLimit = nil
            #expect(copy.priced == expected)
            #expect(copy.receivedAtMs == received.unixMilliseconds && copy.completedAtMs == nil)
            #expect((copy.userOrdinal != nil) == (record.record.userID != nil))
        }
        let completed = try #require(byID[completedID])
        #expect(completed.priced.record.status == .success && completed.completedAtMs == completedAt.unixMilliseconds)

        // Rollups and user sets: every row once, in whole buckets.
        let summary = try await store.exportSummary()
        #expect(summary.rows(.records) == Int64(written.count))
        for step in StoreCopy.Step.allCases {
            guard let granularity = step.rollupGranularity else { continue }
            let counts = try await store.exportBucketCounts(step)
            var rows: [BatchAggregate.RollupRow] = []
            var from: Int64? = nil
            for piece in StoreCopy.bucketPieces(counts, rowsPerPiece: 7) {
                rows += try await store.exportRollupRows(granularity, after: from, through: piece.through)
                from = piece.through
            }
            #expect(Int64(rows.count) == summary.rows(step))
            let requests = rows.reduce(Int64(0)) { $0 + $1.figures.storedValues[0] }
            #expect(requests == Int64(written.count - pending.count + 1))
        }
        let sets = try await store.exportUserSetRows(.day, after: nil, through: Int64.max)
        var users = UserSet()
        for row in sets { users.formUnion(chunk: row.chunk, words: row.words) }
        let completedUsers = Set(written.filter { $0.record.status != .pending || $0.record.id == completedID }.compactMap(\.record.userID))
        #expect(users.count == completedUsers.count)
    }
}
