import Foundation
import Logging
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer
@testable import TokenMeterPostgres

/// `tokenmeter_pending_requests`: on a store several instances write (PostgreSQL) every instance
/// exports the store's pending counts, read with the store gauges; on SQLite (one process) the
/// writer's own commits move it at once.
@Suite("The pending gauge")
struct PendingGaugeTests {
    /// One served instance as `serve` builds it: components, batch writer and gauge refresher.
    struct Instance {
        let components: AppComponents
        let writer: BatchWriter
        let refresher: StoreGaugeRefresher
        let running: Task<Void, any Error>

        init(_ store: any UsageStore) async throws {
            var config = testConfig()
            config.statsInterval = .seconds(1)
            components = try await AppComponents.open(config: config, store: store)
            writer = BatchWriter(queue: components.queue, store: store, metrics: components.metrics, health: components.health,
                                 logger: Logger(label: "test"))
            refresher = StoreGaugeRefresher(serving: store, metrics: components.metrics, config: config, logger: Logger(label: "test"))
            let writer = self.writer
            running = Task { try await writer.run() }
        }

        func submit(_ writes: [StoreWrite]) async throws -> [StoreWriteResult] { try await components.queue.submit(writes) }

        func pending() throws -> Double {
            try PrometheusText(String(decoding: components.metrics.exposition(), as: UTF8.self)).sum("tokenmeter_pending_requests")
        }

        func stop() async throws {
            components.queue.close()
            try await running.value
        }
    }

    static func pendingRecord(_ id: String) -> StoreWrite {
        .insert(CostCalculator.price(UsageRecord(id: id, timestamp: Date(), service: "svc", operation: "video", model: "m",
                                                 status: .pending), entry: nil))
    }

    static func completion(_ id: String) -> StoreWrite {
        .complete(id: id, completion: RecordCompletion(status: .success, tokenFields: ["output_tokens": .int(5)]),
                  reprice: { CostCalculator.price($0, entry: nil) })
    }

    @Test func everyInstanceOnOnePostgreSQLExportsTheStoresPendingCountNotAMultiple() async throws {
        guard try StoreKind.postgres.available() else { return }
        let database = try await PostgresTestDatabase.create()
        var instances: [Instance] = []
        for name in ["a", "b", "c"] { instances.append(try await Instance(try await database.store(instance: name))) }
        let (a, b, c) = (instances[0], instances[1], instances[2])

        #expect(try await a.submit([Self.pendingRecord("p1"), Self.pendingRecord("p2"), Self.pendingRecord("p3")]) == [.accepted, .accepted, .accepted])
        #expect(try await b.submit([Self.pendingRecord("p4")]) == [.accepted])
        // Between two reads an instance's own writes do not move it (they would drift from the others').
        #expect(try a.pending() == 0 && b.pending() == 0)
        for instance in instances { try await instance.refresher.refresh(now: Date()) }
        for instance in instances { #expect(try instance.pending() == 4, "each instance exports the store's 4 pending records") }

        // A completion through c is seen by a and b at their next refresh.
        guard case .completed? = try await c.submit([Self.completion("p1")]).first else {
            Issue.record("the completion through c did not complete p1")
            return
        }
        for instance in instances { try await instance.refresher.refresh(now: Date()) }
        for instance in instances { #expect(try instance.pending() == 3) }

        // A restarted instance starts from the store's count too.
        try await b.stop()
        let reopened = try await Instance(try await database.store(instance: "d"))
        #expect(try reopened.pending() == 3)
        for instance in [a, c, reopened] { try await instance.stop() }
    }

    @Test func onSQLiteTheWritersOwnCommitsMoveItAtOnce() async throws {
        let store = try await StoreKind.sqlite.makeStore()
        #expect(store.writtenByOtherProcesses == false)
        let instance = try await Instance(store)
        #expect(try await instance.submit([Self.pendingRecord("p1"), Self.pendingRecord("p2")]) == [.accepted, .accepted])
        #expect(try instance.pending() == 2, "no refresh needed: the one process sees every write")
        _ = try await instance.submit([Self.completion("p1")])
        #expect(try instance.pending() == 1)
        try await instance.refresher.refresh(now: Date())
        #expect(try instance.pending() == 1)
        try await instance.stop()
        #expect(try await Instance(store).pending() == 1, "rebuilt from the store at start")
    }
}
