import Foundation
import GRDB
import Synchronization
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite

@Suite("Committed user sets: the writer skips user-set rows that already hold a batch's users")
struct CommittedUserSetsTests {
    // MARK: - UserSet.isSubset (a plain list up to 16 members, chunks beyond)

    static let subsetCases: [(name: String, set: [Int64], of: [Int64], expected: Bool)] = [
        ("empty in empty", [], [], true),
        ("empty in any", [], [1, 2], true),
        ("list in list", [1, 5], [5, 1, 9], true),
        ("list not in list", [1, 6], [5, 1, 9], false),
        ("list in chunks", [3, 4100], Array(0..<40) + [4100], true),
        ("list not in chunks", [3, 9000], Array(0..<40), false),
        ("chunks in list-sized set", Array(0..<20), Array(0..<16), false),
        ("chunks in chunks", Array(0..<30), Array(0..<50), true),
        ("chunks across chunk numbers", Array(0..<20) + [8192], Array(0..<20) + [8192, 8193], true),
        ("a chunk the other lacks", Array(0..<20) + [8192], Array(0..<40), false),
        ("chunks in a list", Array(0..<17), Array(0..<16) + [16], true),
    ]

    @Test(arguments: subsetCases.indices)
    func subsetHoldsExactlyWhenEveryMemberIsInTheOther(index: Int) {
        let c = Self.subsetCases[index]
        #expect(UserSet(c.set).isSubset(of: UserSet(c.of)) == c.expected, "\(c.name)")
        // The same answer as member by member.
        #expect(c.set.allSatisfy(UserSet(c.of).contains) == c.expected, "\(c.name)")
    }

    // MARK: - CommittedUserSets (pure)

    static let hour: Int64 = 1_764_000_000_000 / 3_600_000 * 3_600_000
    static let dimensions = RollupDimensions(service: "bot", operation: "chat", category: "chat", provider: "p", model: "m", status: "success")

    static func aggregate(_ users: [Int64], at ms: Int64 = hour + 60_000, paying: Bool = false) -> (UserSetAggregate, DimensionTable) {
        var table = DimensionTable()
        let dimension = table.id(dimensions)
        var aggregate = UserSetAggregate()
        for user in users { aggregate.add(user, at: ms, dimension: dimension, paying: paying) }
        return (aggregate, table)
    }

    /// Whether every set of the aggregate is known held (what lets the writer skip all its upserts).
    static func holdsAll(_ committed: CommittedUserSets, _ batch: (UserSetAggregate, DimensionTable)) -> Bool {
        batch.0.sets.allSatisfy { committed.holds($0.value, at: $0.key, dimensions: batch.1) }
    }

    @Test func onlyRememberedMembersAreHeld() {
        var committed = CommittedUserSets()
        #expect(!Self.holdsAll(committed, Self.aggregate([1])))
        let first = Self.aggregate([1, 2, 3])
        committed.remember(first.0, dimensions: first.1, nowMs: Self.hour + 120_000)
        #expect(Self.holdsAll(committed, Self.aggregate([1])))
        #expect(Self.holdsAll(committed, Self.aggregate([3, 2])))
        #expect(!Self.holdsAll(committed, Self.aggregate([3, 4])))
        #expect(!Self.holdsAll(committed, Self.aggregate([1], paying: true)))  // another row
        #expect(committed.rowCount == 2)  // the hour row and the day row
    }

    @Test func rowsOfTheCurrentAndPreviousBucketAreKeptOthersForgotten() {
        var committed = CommittedUserSets()
        let lastHour = Self.aggregate([1], at: Self.hour - 60_000)
        let thisHour = Self.aggregate([2], at: Self.hour + 60_000)
        committed.remember(lastHour.0, dimensions: lastHour.1, nowMs: Self.hour + 120_000)
        committed.remember(thisHour.0, dimensions: thisHour.1, nowMs: Self.hour + 120_000)
        #expect(Self.holdsAll(committed, Self.aggregate([1], at: Self.hour - 60_000)))
        #expect(Self.holdsAll(committed, Self.aggregate([2], at: Self.hour + 60_000)))

        // An hour later the hour before the last is forgotten; the day row stays (same day).
        let next = Self.aggregate([3], at: Self.hour + 3_660_000)
        committed.remember(next.0, dimensions: next.1, nowMs: Self.hour + 3_700_000)
        let lastHourSets = Self.aggregate([1], at: Self.hour - 60_000).0.sets
        #expect(!committed.holds(lastHourSets.first { $0.key.granularity == .hour }!.value,
                                 at: lastHourSets.first { $0.key.granularity == .hour }!.key, dimensions: lastHour.1))
        #expect(Self.holdsAll(committed, Self.aggregate([2], at: Self.hour + 60_000)))

        // A record far from the clock (a backfill, a clock far behind) is written but not remembered.
        let old = Self.aggregate([9], at: Self.hour - 30 * 86_400_000)
        committed.remember(old.0, dimensions: old.1, nowMs: Self.hour + 3_700_000)
        #expect(!Self.holdsAll(committed, Self.aggregate([9], at: Self.hour - 30 * 86_400_000)))
    }

    @Test func beyondTheChunkLimitEverythingIsForgotten() {
        var committed = CommittedUserSets()
        let small = Self.aggregate([1])
        committed.remember(small.0, dimensions: small.1, nowMs: Self.hour)
        #expect(Self.holdsAll(committed, small))
        // One member in each of maxChunks / 2 + 1 chunks, in the hour row and the day row.
        let wide = Self.aggregate((0...Int64(CommittedUserSets.maxChunks / 2)).map { $0 << UserSet.chunkShift })
        committed.remember(wide.0, dimensions: wide.1, nowMs: Self.hour)
        #expect(committed.rowCount == 0)
        #expect(!Self.holdsAll(committed, small))
    }

    // MARK: - The store

    /// Counts the user-set upserts SQLite runs on the store's connections (GRDB's statement trace),
    /// from when the store is open.
    final class UpsertCounter: Sendable {
        let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
    }

    static func tracedStore(counting counter: UpsertCounter, now: @escaping WallClock) throws -> SQLiteStore {
        var config = SQLiteStore.configuration()
        config.prepareDatabase { db in
            db.trace(options: .statement) { event in
                if case .statement(let statement) = event, statement.sql.contains("INSERT INTO user_sets_") {
                    counter.count.withLock { $0 += 1 }
                }
            }
        }
        let pool = try DatabasePool(path: temporaryDirectory().appendingPathComponent("traced.sqlite").path, configuration: config)
        let store = try SQLiteStore(database: pool, synchronous: .normal, now: now)
        counter.count.withLock { $0 = 0 }  // the migrations' own statements do not count
        return store
    }

    static func record(_ id: String, user: String, at date: Date, service: String = "bot") -> PricedRecord {
        CostCalculator.price(UsageRecord(id: id, idWasGiven: true, timestamp: date, userID: user, service: service,
                                         operation: "chat", model: "m", status: .success, tokens: TokenCounts(input: 10)),
                             entry: nil)
    }

    static func activeUsers(_ store: SQLiteStore, service: String, at hour: Date) async throws -> Int {
        let query = FigureQuery(from: hour, to: hour.addingTimeInterval(3600), filters: [.service: [service]])
        return try await store.activeUsers(query, paying: nil, retention: RetentionPolicy(), now: hour.addingTimeInterval(7200)).total
    }

    @Test func aBatchOfUsersAlreadyCommittedWritesNoUserSetRowAndCountsStayExact() async throws {
        let hour = Date(unixMilliseconds: Self.hour)
        let counter = UpsertCounter()
        let store = try Self.tracedStore(counting: counter, now: { hour.addingTimeInterval(600) })
        _ = try await store.commit([Self.record("a", user: "u1", at: hour), Self.record("b", user: "u2", at: hour)])
        #expect(counter.value == 2)  // the hour row and the day row
        _ = try await store.commit([Self.record("c", user: "u2", at: hour), Self.record("d", user: "u1", at: hour)])
        #expect(counter.value == 2)  // both users are in both rows: nothing to write
        _ = try await store.commit([Self.record("e", user: "u3", at: hour), Self.record("f", user: "u1", at: hour)])
        #expect(counter.value == 4)  // a new user: both rows again
        #expect(try await Self.activeUsers(store, service: "bot", at: hour) == 3)
        let raw = try await store.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(DISTINCT user_id) FROM usage_records") }
        #expect(raw == 3)
    }

    /// A transaction that rolls back after its user-set upserts must not leave its users remembered:
    /// the next batch with them would skip rows that do not hold them.
    @Test func usersOfABatchThatRolledBackAreNotRemembered() async throws {
        let hour = Date(unixMilliseconds: Self.hour)
        let counter = UpsertCounter()
        let store = try Self.tracedStore(counting: counter, now: { hour.addingTimeInterval(600) })
        // The lifetime upsert comes after the user-set upserts in the transaction: fail it for one service.
        try await store.database.write { db in
            try db.execute(sql: """
                CREATE TRIGGER fail_boom BEFORE INSERT ON lifetime_totals WHEN NEW.service = 'boom'
                BEGIN SELECT RAISE(ABORT, 'boom refused'); END
                """)
        }
        await #expect(throws: (any Error).self) {
            _ = try await store.commit([Self.record("a", user: "u1", at: hour, service: "boom")])
        }
        #expect(counter.value == 2)  // written, then rolled back
        try await store.database.write { try $0.execute(sql: "DROP TRIGGER fail_boom") }
        _ = try await store.commit([Self.record("a", user: "u1", at: hour, service: "boom")])
        #expect(counter.value == 4)  // written again, not skipped
        #expect(try await Self.activeUsers(store, service: "boom", at: hour) == 1)
        let rows = try await store.database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM user_sets_hour") }
        #expect(rows == 1)
    }

    /// The writer's own BEGIN/COMMIT: a failed batch leaves no transaction open and no row behind,
    /// and the next batch commits on the same kept statements.
    @Test func aFailedBatchRollsBackEverythingAndTheNextCommits() async throws {
        let hour = Date(unixMilliseconds: Self.hour)
        let store = try Self.tracedStore(counting: UpsertCounter(), now: { hour.addingTimeInterval(600) })
        try await store.database.write { db in
            try db.execute(sql: """
                CREATE TRIGGER fail_boom BEFORE INSERT ON lifetime_totals WHEN NEW.service = 'boom'
                BEGIN SELECT RAISE(ABORT, 'boom refused'); END
                """)
        }
        await #expect(throws: (any Error).self) {
            _ = try await store.commit([Self.record("ok", user: "u1", at: hour), Self.record("x", user: "u2", at: hour, service: "boom")])
        }
        let counts = try await store.database.read { db in
            try ["usage_records", "rollup_minute", "user_sets_hour", "lifetime_totals", "user_ordinals"].map {
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \($0)")!
            }
        }
        #expect(counts == [0, 0, 0, 0, 0])
        #expect(try await store.commit([Self.record("ok", user: "u1", at: hour)]) == [.accepted])
        #expect(try await store.lifetimeTotals().map(\.requests).reduce(0, +) == 1)
        try await store.close()
    }

    /// The kept statements hold the writer connection open; `closeDatabase` finalizes them first.
    @Test func aStoreThatHasWrittenClosesItsDatabase() async throws {
        let hour = Date(unixMilliseconds: Self.hour)
        let path = temporaryDirectory().appendingPathComponent("close.sqlite").path
        let store = try SQLiteStore(path: path, synchronous: .normal, now: { hour })
        #expect(try await store.commit([Self.record("a", user: "u1", at: hour)]) == [.accepted])
        try store.closeDatabase()
        let reopened = try SQLiteStore(path: path, readonly: true)
        #expect(try await reopened.lifetimeTotals().map(\.requests).reduce(0, +) == 1)
    }
}
