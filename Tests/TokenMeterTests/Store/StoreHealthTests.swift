import Foundation
import GRDB
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Store readiness")
struct StoreHealthTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var lastFailureAfterSuccess: StoreFault?
        var inFlightFor: TimeInterval?
        var fault: StoreFault?
        var freeBytes: Int64?
        var queueDepth = 0
        var ready: Bool
        var permanent = false
        var reason: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "idle and healthy", freeBytes: 10 << 30, ready: true),
        Case(name: "free space below the threshold", freeBytes: 5 << 20, ready: false, reason: "only 5 MiB free"),
        Case(name: "a write stalled for 6 s", inFlightFor: 6, ready: false, reason: "running for 6 s"),
        Case(name: "a write running for 1 s is not a stall", inFlightFor: 1, ready: true),
        Case(name: "the last write failed (transient)", lastFailureAfterSuccess: .transient("the disk is full"), ready: false,
             reason: "the last store write failed: the disk is full"),
        Case(name: "the last write failed (permanent)", lastFailureAfterSuccess: .permanent("the database file is malformed"),
             ready: false, permanent: true, reason: "malformed"),
        Case(name: "the file was replaced", fault: .permanent("the database file was replaced"), ready: false, permanent: true,
             reason: "replaced"),
        Case(name: "the queue is full", queueDepth: 100, ready: false, reason: "write queue is full"),
    ]

    @Test(arguments: cases)
    func readinessSaysWhy(_ c: Case) {
        let health = StoreHealth(openedAt: Self.t0)
        let ok = health.started(now: Self.t0)
        health.finished(ok, fault: nil, now: Self.t0.addingTimeInterval(1))
        if let failure = c.lastFailureAfterSuccess {
            let token = health.started(now: Self.t0.addingTimeInterval(2))
            health.finished(token, fault: failure, now: Self.t0.addingTimeInterval(2))
        }
        let now = Self.t0.addingTimeInterval(10)
        if let running = c.inFlightFor { _ = health.started(now: now.addingTimeInterval(-running)) }
        health.update(StoreCondition(fault: c.fault, freeBytes: c.freeBytes))
        let readiness = health.readiness(now: now, queueDepth: c.queueDepth, queueCapacity: 100)
        #expect(readiness.isReady == c.ready)
        #expect(readiness.permanent == c.permanent)
        if let reason = c.reason { #expect(readiness.reasons.joined().contains(reason), "\(readiness.reasons)") }
        #expect(readiness.lastSuccessAgeSeconds == 9)
    }

    @Test func aSuccessAfterAFailureMakesTheStoreReadyAgain() {
        let health = StoreHealth(openedAt: Self.t0)
        let failed = health.started(now: Self.t0)
        health.finished(failed, fault: .transient("busy"), now: Self.t0)
        #expect(!health.readiness(now: Self.t0, queueDepth: 0, queueCapacity: 10).isReady)
        let probe = health.started(now: Self.t0.addingTimeInterval(1))
        health.finished(probe, fault: nil, now: Self.t0.addingTimeInterval(1))
        #expect(health.readiness(now: Self.t0.addingTimeInterval(1), queueDepth: 0, queueCapacity: 10).isReady)
    }

    struct Classification: Sendable, CustomTestStringConvertible {
        var code: ResultCode
        var readOnlyFS = false
        var permanent: Bool
        var words: String
        var testDescription: String { "\(code)\(readOnlyFS ? " on a read-only file system" : "")" }
    }

    static let classifications: [Classification] = [
        Classification(code: .SQLITE_CORRUPT, permanent: true, words: "malformed"),
        Classification(code: .SQLITE_NOTADB, permanent: true, words: "malformed"),
        Classification(code: .SQLITE_READONLY, permanent: true, words: "cannot be written"),
        Classification(code: .SQLITE_IOERR, readOnlyFS: true, permanent: true, words: "read-only"),
        Classification(code: .SQLITE_IOERR, permanent: false, words: "SQLite error 10"),
        Classification(code: .SQLITE_FULL, permanent: false, words: "disk is full"),
        Classification(code: .SQLITE_BUSY, permanent: false, words: "busy"),
        Classification(code: .SQLITE_CANTOPEN, permanent: false, words: "file descriptors"),
    ]

    @Test(arguments: classifications)
    func sqliteErrorsAreSortedIntoTransientAndPermanent(_ c: Classification) {
        let fault = StoreFault.classify(DatabaseError(resultCode: c.code, message: "m", sql: "INSERT INTO secret_table"),
                                        fileSystemReadOnly: c.readOnlyFS)
        #expect(fault.isPermanent == c.permanent)
        #expect(fault.description.contains(c.words), "\(fault)")
        #expect(!fault.description.contains("secret_table"), "SQL text must not reach clients")
    }

    @Test func reportGateRefusesBeyondItsLimitAndFreesOnLeave() {
        let gate = ReportGate(limit: 2)
        #expect(gate.enter() && gate.enter())
        #expect(!gate.enter())
        gate.leave()
        #expect(gate.enter())
    }
}

@Suite("SQLite store durability settings")
struct SQLiteDurabilityTests {
    @Test(arguments: SQLiteStore.Synchronous.allCases)
    func theConfiguredSynchronousModeIsInEffectOnTheWriterConnection(_ mode: SQLiteStore.Synchronous) async throws {
        let path = temporaryDirectory().appendingPathComponent("sync.sqlite").path
        let store = try SQLiteStore(path: path, synchronous: mode)
        #expect(store.synchronousInEffect == mode)
        #expect(store.journalMode == "wal")
        // Read back through the writer connection itself, after GRDB's own set-up (which sets NORMAL).
        #expect(try await store.synchronousLevel() == (mode == .full ? 2 : 1))
        // Still in effect after writes.
        _ = try await store.commit([CostCalculator.price(UsageRecord(id: "x", timestamp: Date(), operation: "a", model: "m"), entry: nil)])
        #expect(try await store.synchronousLevel() == (mode == .full ? 2 : 1))
    }

    /// The checkpoint interval is set on the writer connection and in effect: 20 batches of 1000
    /// random ids write about 2200 WAL frames. At SQLite's default of 1000 a commit past 1000
    /// frames checkpoints and the next one writes the WAL from its start again, so the file (which
    /// SQLite does not shrink) would hold about 1000 frames and one batch (about 110).
    @Test func theWriterCheckpointsOnlyAfterTenThousandWALFrames() async throws {
        let path = temporaryDirectory().appendingPathComponent("checkpoint.sqlite").path
        let store = try SQLiteStore(path: path, synchronous: .normal)
        #expect(try await store.walAutocheckpointInEffect() == SQLiteStore.walAutocheckpointPages)
        #expect(SQLiteStore.walAutocheckpointPages == 10_000)
        for batch in 0..<20 {
            let records = (0..<1000).map { i in
                CostCalculator.price(UsageRecord(id: UUID().uuidString + "-\(batch)-\(i)", timestamp: Date(), userID: "u\(i % 50)",
                                                 operation: "chat", model: "m", tokens: TokenCounts(input: 10)), entry: nil)
            }
            _ = try await store.commit(records)
        }
        let pageSize = try await store.database.read { try Int.fetchOne($0, sql: "PRAGMA page_size") ?? 0 }
        let walBytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        let frames = (walBytes - 32) / (24 + pageSize)  // the WAL header, then a 24-byte header per frame
        #expect(frames > 2000, "the WAL file holds \(frames) frames")
        try await store.close()
    }

    @Test func aDatabaseWithUnknownMigrationsIsRefusedUnchanged() async throws {
        let path = temporaryDirectory().appendingPathComponent("newer.sqlite").path
        do {
            let store = try SQLiteStore(path: path)
            try await store.database.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-future')") }
            try await store.close()
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try SQLiteStore(path: path) }
        do {
            _ = try SQLiteStore(path: path)
        } catch let error as StoreError {
            #expect(error.description.contains("newer tokenmeter") && error.description.contains("v9-future")
                    && error.description.contains("schema up to \(StoreSchema.migrator.migrations.last!)"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func pendingRecordsOutliveRawRetentionUntilThePendingTimeout() async throws {
        let path = temporaryDirectory().appendingPathComponent("pending.sqlite").path
        let store = try SQLiteStore(path: path, synchronous: .normal)
        let now = Date()
        let old = now.addingTimeInterval(-3 * 86400)
        let pending = UsageRecord(id: "job", timestamp: old, operation: "video", model: "m", status: .pending)
        let done = UsageRecord(id: "old-done", timestamp: old, operation: "chat", model: "m")
        _ = try await store.commit([CostCalculator.price(pending, entry: nil), CostCalculator.price(done, entry: nil)])
        let retention = RetentionPolicy(rawDays: 1, pendingTimeoutHours: 48)
        var summary = try await store.prune(retention: retention, now: now)
        #expect(summary.records == 1 && summary.pendingDeleted.isEmpty)  // the completed old record goes, the pending one stays
        summary = try await store.prune(retention: retention, now: now.addingTimeInterval(49 * 3600))
        #expect(summary.pendingDeleted.map(\.count) == [1])
        #expect(try await store.pendingCounts().isEmpty)
    }
}
