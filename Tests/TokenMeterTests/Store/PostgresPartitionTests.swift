import Foundation
import PostgresNIO
import Synchronization
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer
@testable import TokenMeterPostgres

/// A wall clock a test moves.
final class TestClock: Sendable {
    private let date: Mutex<Date>
    init(_ date: Date) { self.date = Mutex(date) }
    func set(_ new: Date) { date.withLock { $0 = new } }
    var now: WallClock { { self.date.withLock { $0 } } }
}

/// pg-v2: raw records partitioned by day, a store-wide id key, retention by dropping partitions.
@Suite("PostgreSQL store: time partitions")
struct PostgresPartitionTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!
    static let day: TimeInterval = 86_400

    static func record(_ id: String, at timestamp: Date, status: RecordStatus = .success, user: String? = "u1") -> PricedRecord {
        CostCalculator.price(UsageRecord(id: id, timestamp: timestamp, userID: user, service: "svc", operation: "chat", model: "m",
                                         status: status, callerCostNanoUSD: 1_000), entry: nil)
    }

    /// The day tables attached to `usage_records`, as the catalog lists them.
    static func attached(_ store: PostgresStore) async throws -> Set<String> {
        Set(try await store.textRows("""
            SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'usage_records'::regclass
            """).compactMap { $0[0] })
    }

    static func tableExists(_ store: PostgresStore, _ name: String) async throws -> Bool {
        try await store.textRows("SELECT count(*)::text FROM pg_class WHERE relname = '\(name)'")[0][0] == "1"
    }

    static func names(_ days: ClosedRange<Int64>) -> Set<String> { Set(days.map(RecordPartitions.name(day:))) }

    @Test(arguments: [
        ("2026-11-25T12:00:00Z", "usage_records_p20261125"), ("2026-11-25T00:00:00Z", "usage_records_p20261125"),
        ("2026-11-24T23:59:59.999Z", "usage_records_p20261124"), ("1970-01-01T00:00:00Z", "usage_records_p19700101"),
        ("1969-12-31T23:59:59.999Z", "usage_records_p19691231"), ("2028-02-29T08:00:00Z", "usage_records_p20280229"),
    ])
    func aTimestampFallsInTheDayPartitionOfItsUTCDate(_ timestamp: String, _ name: String) {
        let ms = RFC3339.parse(timestamp)!.unixMilliseconds
        let day = RecordPartitions.day(ofMilliseconds: ms)
        #expect(RecordPartitions.name(day: day) == name)
        #expect(RecordPartitions.day(fromName: name) == day)
        let (from, to) = RecordPartitions.bounds(day: day)
        #expect(from <= ms && ms < to)
    }

    @Test func namesOfOtherTablesAreNotPartitionDays() {
        for name in ["usage_records_default", "usage_records_p2026112", "usage_records_p20261332", "usage_records_p20261125x", "rollup_day"] {
            #expect(RecordPartitions.day(fromName: name) == nil, "\(name)")
        }
    }

    @Test func migrationStatementsKeepADollarQuotedBodyWhole() {
        let sql = "CREATE TABLE a (x int);\nDO $$\nBEGIN\n    PERFORM 1;\n    PERFORM 2;\nEND\n$$;\nDROP TABLE a;\n"
        #expect(PostgresMigrator.statements(sql) == ["CREATE TABLE a (x int)", "DO $$\nBEGIN\n    PERFORM 1;\n    PERFORM 2;\nEND\n$$", "DROP TABLE a"])
    }

    @Test func partitionsExistAfterOpenAndAfterUpkeep() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let retention = RetentionPolicy(rawDays: 7)
        let clock = TestClock(Self.now)
        let store = try await database.store(instance: "a", retention: retention, now: clock.now)
        let opened = try await Self.attached(store)
        let wanted = RecordPartitions.wanted(retention: retention, now: Self.now)
        #expect(wanted.count == 9)  // the cutoff's day (18 Nov) to tomorrow (26 Nov)
        #expect(opened == Self.names(wanted).union([RecordPartitions.defaultPartition]))
        // Three days on: the next days are created, the days past retention dropped.
        let later = Self.now.addingTimeInterval(3 * Self.day)
        clock.set(later)
        _ = try await store.prune(retention: retention, now: later)
        let kept = RecordPartitions.wanted(retention: retention, now: later)
        #expect(try await Self.attached(store) == Self.names(kept).union([RecordPartitions.defaultPartition]))
        for day in wanted.lowerBound..<kept.lowerBound {
            #expect(try await !Self.tableExists(store, RecordPartitions.name(day: day)), "\(RecordPartitions.name(day: day)) still exists")
        }
        // 23:56 UTC: tomorrow's partition exists before a record 5 minutes ahead can need it.
        let lateEvening = RFC3339.parse("2026-11-28T23:56:00Z")!
        _ = try await store.prune(retention: retention, now: lateEvening)
        #expect(try await Self.attached(store).contains("usage_records_p20261129"))
        #expect(try await Self.attached(store).contains("usage_records_p20261130"))
    }

    /// Retention drops the partition (gone from the catalog), not its rows one by one; a pending
    /// record in it is kept until the pending timeout (as on SQLite) and can still be completed; the
    /// ids of dropped records can be sent again, the ids of kept ones are still duplicates.
    @Test func pruneDropsAWholePartitionAndKeepsPendingRecords() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let retention = RetentionPolicy(rawDays: 7, pendingTimeoutHours: 168)
        let oldDay = RFC3339.parse("2026-11-17T06:00:00Z")!  // its partition ends 18 Nov 00:00, before the cutoff 18 Nov 12:00
        let clock = TestClock(Self.now.addingTimeInterval(-8 * Self.day))
        let store = try await database.store(instance: "a", retention: retention, now: clock.now)
        #expect(try await Self.attached(store).contains("usage_records_p20261117"))
        #expect(try await store.commit([Self.record("pending-expired", at: oldDay, status: .pending)]) == [.accepted])  // received 8 days ago
        clock.set(Self.now)
        #expect(try await store.commit([
            Self.record("pending-kept", at: oldDay, status: .pending),  // received now: kept for 168 h
            Self.record("old", at: oldDay),
            Self.record("old-2", at: oldDay.addingTimeInterval(3600)),
            Self.record("straddling", at: RFC3339.parse("2026-11-18T06:00:00Z")!),  // before the cutoff, in a partition that is kept
            Self.record("recent", at: Self.now.addingTimeInterval(-Self.day)),
        ]) == Array(repeating: .accepted, count: 5))
        let summary = try await store.prune(retention: retention, now: Self.now)
        #expect(summary.records == 3)  // old, old-2, pending-expired
        #expect(summary.pendingDeleted.map(\.count) == [1])
        #expect(try await !Self.tableExists(store, "usage_records_p20261117"), "the partition is dropped")
        #expect(try await !Self.attached(store).contains("usage_records_p20261117"))
        #expect(try await Self.attached(store).contains("usage_records_p20261118"))
        let left = try await store.textRows("SELECT id, tableoid::regclass::text FROM usage_records ORDER BY id")
        #expect(left == [["pending-kept", "usage_records_default"], ["recent", "usage_records_p20261124"], ["straddling", "usage_records_p20261118"]])
        #expect(try await store.textRows("SELECT id FROM usage_record_ids ORDER BY id") == [["pending-kept"], ["recent"], ["straddling"]])
        // The kept pending record is completed where it now lives.
        let done = RecordCompletion(status: .success, tokenFields: ["output_tokens": .int(3)])
        guard case .completed = try await store.complete(id: "pending-kept", with: done, reprice: { CostCalculator.price($0, entry: nil) }) else {
            Issue.record("the kept pending record could not be completed")
            return
        }
        // A dropped id is new again (as on SQLite after a prune); a kept one is a duplicate.
        #expect(try await store.commit([Self.record("old", at: oldDay), Self.record("pending-kept", at: oldDay)]) == [.accepted, .duplicate])
        // The next prune removes the completed record, now past retention, from the default partition by row.
        let next = try await store.prune(retention: retention, now: Self.now)
        #expect(next.records == 2)  // pending-kept (completed) and old (sent again), both in the default partition
        #expect(try await store.textRows("SELECT id FROM usage_records ORDER BY id") == [["recent"], ["straddling"]])
    }

    /// A prune interrupted between detaching a partition and dropping it (a crash) is finished by
    /// the next upkeep: the table is dropped and its records' ids leave the key table.
    @Test func aPartitionLeftDetachedIsFinishedByTheNextUpkeep() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let retention = RetentionPolicy(rawDays: 7)
        let store = try await database.store(instance: "a", retention: retention, now: { Self.now })
        let day = RFC3339.parse("2026-11-20T06:00:00Z")!
        #expect(try await store.commit([Self.record("left", at: day), Self.record("kept", at: Self.now)]) == [.accepted, .accepted])
        try await store.execute("ALTER TABLE usage_records DETACH PARTITION usage_records_p20261120")
        #expect(try await store.textRows("SELECT count(*)::text FROM usage_record_ids") == [["2"]])
        let created = try await store.withMaintenanceLock(PostgresSchema.pruneLock) {
            try await store.createRecordPartitions(retention: retention, now: Self.now)
        }
        #expect(created == ["usage_records_p20261120"], "the day's partition is created again, empty")
        #expect(try await store.textRows("SELECT id FROM usage_record_ids") == [["kept"]])
        #expect(try await store.commit([Self.record("left", at: day)]) == [.accepted])
    }

    /// The id key is store-wide: the same id with timestamps in different partitions (a retry of a
    /// record sent without timestamp gets a new received time), sent to two instances at once, and
    /// into the default partition, is stored once.
    @Test func theSameIdInDifferentPartitionsIsStoredOnce() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let a = try await database.store(instance: "a", now: { Self.now })
        let b = try await database.store(instance: "b", now: { Self.now })
        #expect(try await a.commit([Self.record("x", at: Self.now.addingTimeInterval(-2 * Self.day))]) == [.accepted])
        #expect(try await b.commit([Self.record("x", at: Self.now)]) == [.duplicate])
        #expect(try await a.commit([Self.record("x", at: Self.now.addingTimeInterval(400 * Self.day))]) == [.duplicate])  // no partition: default
        for round in 0..<20 {
            let id = "race-\(round)"
            async let first = a.commit([Self.record(id, at: Self.now.addingTimeInterval(-3 * Self.day))])
            async let second = b.commit([Self.record(id, at: Self.now.addingTimeInterval(-Self.day))])
            let outcomes = try await [first[0], second[0]]
            #expect(outcomes.filter { $0 == .accepted }.count == 1, "\(id): \(outcomes)")
        }
        let stored = try await a.textRows("SELECT count(*)::text, count(DISTINCT id)::text, count(DISTINCT tableoid)::text FROM usage_records")[0]
        #expect(stored[0] == "21" && stored[1] == "21")
        #expect(stored[2] != "1", "the records landed in several partitions")
        #expect(try await a.textRows("SELECT count(*)::text FROM usage_record_ids")[0][0] == "21")
        let requests = try await a.figures(FigureQuery(from: Self.now.addingTimeInterval(-10 * Self.day), to: Self.now.addingTimeInterval(Self.day)),
                                           retention: RetentionPolicy(), now: Self.now).groups.values.reduce(0) { $0 + $1.requests }
        #expect(requests == 21)
    }
}
