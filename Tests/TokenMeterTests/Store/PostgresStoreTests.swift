import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer
@testable import TokenMeterPostgres

/// What only a shared store has to show: several instances (each its own connection pool, as
/// separate tokenmeter processes) on one PostgreSQL database.
@Suite("PostgreSQL store: several instances on one database")
struct PostgresStoreTests {
    static let now = RFC3339.parse("2026-11-25T12:00:00Z")!

    /// The record every instance is sent for id `n` (the same content whoever stores it).
    static func record(_ n: Int) -> PricedRecord {
        var generator = RandomUsage(rng: SeededGenerator(seed: UInt64(n) &* 7919), start: now.addingTimeInterval(-3 * 86400), span: 3 * 86400)
        return generator.record(id: "id-\(n)", status: n % 5 == 0 ? .error : .success)
    }

    /// Two instances, two writers each, batches drawn from one pool of ids so the same id reaches
    /// both instances at the same moment: every id is stored once, accepted exactly once over all
    /// writers, rollups and user sets equal brute force, and the two instances' lifetime totals add
    /// up to the store.
    @Test func overlappingIdsFromTwoInstancesAreStoredAndCountedOnce() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let a = try await database.store(instance: "a")
        let b = try await database.store(instance: "b")
        let pool = 3000
        let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
            for (writer, store) in [a, b, a, b].enumerated() {
                group.addTask {
                    var rng = SeededGenerator(seed: UInt64(writer + 1))
                    var count = 0
                    for _ in 0..<25 {
                        let ids = (0..<200).map { _ in Int.random(in: 0..<pool, using: &rng) }
                        count += try await store.commit(ids.map(Self.record)).filter { $0 == .accepted }.count
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let stored = try await a.textRows("SELECT count(*)::text, count(DISTINCT id)::text FROM usage_records")[0]
        #expect(stored[0] == stored[1], "an id stored twice")
        #expect(stored[0] == String(accepted), "accepted answers differ from the rows stored")
        let ids = try await a.textRows("SELECT id FROM usage_records").compactMap { $0[0] }
        let records = ids.map { Self.record(Int($0.dropFirst(3))!) }
        let from = Date(unixMilliseconds: Granularity.day.bucket(Self.now.addingTimeInterval(-4 * 86400).unixMilliseconds))
        let all: [ReportDimension] = [.service, .operation, .category, .provider, .model, .status]
        for store in [a, b] {
            for (start, end) in [(from, Self.now.addingTimeInterval(86400)), (Self.now.addingTimeInterval(-86400 - 1234), Self.now)] {
                let query = FigureQuery(from: start, to: end, groupBy: all)
                let figures = try await store.figures(query, retention: RetentionPolicy(), now: Self.now)
                #expect(figures.groups.filter { $0.value.requests > 0 } == bruteForce(records, from: start, to: end, groupBy: all))
                let users = try await store.activeUsers(FigureQuery(from: start, to: end, groupBy: [.model]), paying: nil,
                                                        retention: RetentionPolicy(), now: Self.now)
                #expect(users.groups.mapValues(\.count) == bruteForceUsers(records, from: start, to: end, groupBy: [.model]))
            }
        }
        var instances = UsageTotalsSum()
        for t in try await a.lifetimeTotals() + b.lifetimeTotals() { instances.add(t) }
        var truth = UsageTotalsSum()
        for r in records { truth.add(UsageTotals(r)) }
        #expect(instances == truth, "the instances' lifetime totals do not add up to the store")
        let (totalsA, totalsB) = (try await a.lifetimeTotals(), try await b.lifetimeTotals())
        #expect(!totalsA.isEmpty && !totalsB.isEmpty, "each instance keeps its own totals")
    }

    /// Exact distinct users across instances: thousands of users spread over two instances' batches
    /// into the same hour, spanning several 4096-user chunks, counted exactly (a user in both counts once).
    @Test func activeUsersMergedFromTwoInstancesAreExact() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let a = try await database.store(instance: "a")
        let b = try await database.store(instance: "b")
        let hour = Date(unixMilliseconds: Granularity.hour.bucket(Self.now.addingTimeInterval(-7200).unixMilliseconds))
        func call(_ i: Int, user: Int) -> PricedRecord {
            var r = Self.record(i)
            r.record.timestamp = hour.addingTimeInterval(Double(i % 3600))
            r.record.userID = "u\(user)"
            r.record.paying = user % 3 == 0
            return r
        }
        // Instance a: users 0..<6000; instance b: users 3000..<10000 (3000 in both).
        async let first = a.commit((0..<6000).map { call($0, user: $0) })
        async let second = b.commit((0..<7000).map { call(100_000 + $0, user: 3000 + $0) })
        _ = try await (first, second)
        let query = FigureQuery(from: hour, to: hour.addingTimeInterval(3600))
        let users = try await a.activeUsers(query, paying: nil, retention: RetentionPolicy(), now: Self.now)
        #expect(users.total == 10_000)
        let paying = try await b.activeUsers(query, paying: true, retention: RetentionPolicy(), now: Self.now)
        #expect(paying.total == (0..<10_000).filter { $0 % 3 == 0 }.count)
        // The same hour read from raw records (an odd edge) gives the same count.
        let edge = FigureQuery(from: hour.addingTimeInterval(-1), to: hour.addingTimeInterval(3600))
        #expect(try await a.activeUsers(edge, paying: nil, retention: RetentionPolicy(), now: Self.now).total == 10_000)
    }

    @Test func aSecondLiveProcessWithTheSameInstanceNameIsRefused() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let first = try await database.store(instance: "web-1")
        await #expect { _ = try await database.store(instance: "web-1") } throws: { error in
            "\(error)".contains("already runs as instance 'web-1'")
        }
        _ = try await database.store(instance: "web-2")
        try await first.close()
        _ = try await database.store(instance: "web-1")  // free again once the first one is gone
    }

    @Test func aDatabaseMigratedByANewerTokenmeterIsRefusedUnchanged() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let store = try await database.store(instance: "a")
        try await store.execute("INSERT INTO tokenmeter_migrations (name) VALUES ('pg-v999-from-the-future')")
        await #expect { _ = try await database.store(instance: "b") } throws: { error in
            "\(error)".contains("newer tokenmeter") && "\(error)".contains("pg-v999-from-the-future")
        }
    }

    /// A price put through one instance is used by another within seconds (it polls the change generation).
    @Test func aPriceChangeThroughOneInstanceReachesTheOther() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let a = try await database.store(instance: "a")
        let b = try await database.store(instance: "b")
        let pricingA = try await PricingService.load(catalogFile: nil, repository: a)
        let pricingB = try await PricingService.load(catalogFile: nil, repository: b)
        let watcher = Task { await b.watchPriceChanges(pricingB, every: .milliseconds(200)) }
        defer { watcher.cancel() }
        let model = "house-model-\(UUID().uuidString.prefix(6).lowercased())"
        #expect(pricingB.catalog.canonicalModel(for: model) == nil)
        try await Task.sleep(for: .milliseconds(700))  // past the watcher's first check: the change is seen by polling
        try await pricingA.apply([.put(PriceEntry(model: model, provider: "house"))])
        let seen = try await eventually(timeout: .seconds(5)) { pricingB.catalog.canonicalModel(for: model) == model }
        #expect(seen, "instance b did not pick up the price change within 5 s")
    }

    /// The store keeps serving after the server drops its connections (a restart, a failover): a
    /// write that lost its connection is a transient fault, the next one succeeds on a new connection.
    @Test func droppedConnectionsAreTransientAndTheNextWriteSucceeds() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let store = try await database.store(instance: "a")
        let admin = try await database.store(instance: "admin")
        #expect(try await store.commit([Self.record(1)]) == [.accepted])
        try await admin.execute("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """)
        var outcome: [WriteOutcome]?
        for _ in 0..<5 where outcome == nil {
            do {
                outcome = try await store.commit([Self.record(2)])
            } catch let fault as StoreFault {
                #expect(!fault.isPermanent, "\(fault)")
            }
        }
        #expect(outcome == [.accepted])
        #expect(store.condition().fault == nil)
        // Its instance lock (whose connection was dropped too) was taken again before that write.
        await #expect { _ = try await database.store(instance: "a") } throws: { error in
            "\(error)".contains("already runs as instance 'a'")
        }
    }

    /// When the name was taken by another process while this one's lock connection was down, this
    /// one stops writing (a permanent fault) instead of counting under the same name.
    @Test func aNameTakenWhileTheLockWasLostStopsTheOlderProcess() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let store = try await database.store(instance: "a")
        let admin = try await database.store(instance: "admin")
        try await admin.execute("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """)
        _ = try? await admin.commit([Self.record(9)])  // its own lock is taken again here
        let usurper = try await database.store(instance: "a")
        await #expect { _ = try await store.commit([Self.record(10)]) } throws: { error in
            (error as? StoreFault)?.isPermanent == true && "\(error)".contains("took the instance name 'a'")
        }
        #expect(try await usurper.commit([Self.record(11)]) == [.accepted])
    }

    /// The lock lost while its connection still looks open (what the client believes until its event
    /// loop reads the closed socket): the write transaction asks the server, finds the lock gone, and
    /// is not committed; once another process holds the name, this one stops with a permanent fault.
    @Test func aWriteChecksInItsTransactionThatTheLockIsStillHeld() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        let store = try await database.store(instance: "a")
        #expect(try await store.commit([Self.record(20)]) == [.accepted])
        // The lock's own session lets go of it: its connection stays open, as before a drop is seen.
        let lockConnection = await store.instanceLock.connection
        _ = try await lockConnection.query("SELECT pg_advisory_unlock(\(PostgresSchema.instanceNamespace), hashtext('a'))", logger: store.logger)
        #expect(!lockConnection.isClosed)
        let usurper = try await database.store(instance: "a")
        await #expect { _ = try await store.commit([Self.record(21)]) } throws: { error in
            (error as? StoreFault)?.isPermanent == false && "\(error)".contains("ended")
        }
        await #expect { _ = try await store.commit([Self.record(22)]) } throws: { error in
            (error as? StoreFault)?.isPermanent == true && "\(error)".contains("took the instance name 'a'")
        }
        #expect(try await usurper.commit([Self.record(21)]) == [.accepted])
        #expect(try await usurper.commit([Self.record(20)]) == [.duplicate])
    }
}

@Suite("PostgreSQL faults and store locations")
struct PostgresFaultTests {
    @Test(arguments: [
        ("40001", false), ("40P01", false), ("53300", false), ("08006", false), ("57P01", false), ("53100", false),
        ("25006", true), ("42501", true), ("42P01", true), ("3D000", true), ("28P01", true),
    ])
    func sqlStatesAreSortedIntoTransientAndPermanent(_ state: String, _ permanent: Bool) {
        #expect(PostgresFaults.classify(sqlState: state, message: "m").isPermanent == permanent)
    }

    @Test func storeLocationsSelectTheStore() throws {
        #expect(try StoreLocation("./tokenmeter.sqlite") == .sqlite(path: "./tokenmeter.sqlite"))
        #expect(try StoreLocation("sqlite:./a.sqlite") == .sqlite(path: "./a.sqlite"))
        #expect(try StoreLocation("sqlite:///var/lib/t.sqlite") == .sqlite(path: "/var/lib/t.sqlite"))
        let pg = try StoreLocation("postgres://meter:s%40cret@db.internal:6543/usage?sslmode=verify-full")
        #expect(pg == .postgres(PostgresLocation(host: "db.internal", port: 6543, user: "meter", password: "s@cret",
                                                 database: "usage", sslMode: .verifyFull)))
        #expect(try StoreLocation("postgresql://u@h/d") == .postgres(PostgresLocation(host: "h", user: "u", database: "d")))
        for (bad, words) in [("postgres://u@h/d?sslmode=prefer", "sslmode"), ("postgres://u@h/", "database"),
                             ("postgres://h/d", "user"), ("postgres://u@h/d?foo=1", "foo"), ("mysql://u@h/d", "neither")] {
            #expect { try StoreLocation(bad) } throws: { "\($0)".contains(words) }
        }
        #expect(StoreLocation.redacted("postgres://u:secret@h/d") == "postgres://u:<redacted>@h/d")
        if case .postgres(let location) = pg { #expect(!"\(location)".contains("cret")) }
    }
}
