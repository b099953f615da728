import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// A store whose writes fail while `failing` is set, like a full disk or a read-only file.
final class FaultInjectingStore: UsageStore {
    let inner: SQLiteStore
    let failing = Mutex(false)

    init(_ inner: SQLiteStore) { self.inner = inner }

    private func check() throws { if failing.withLock({ $0 }) { throw StoreError("disk I/O error (injected)") } }

    func write(_ writes: [StoreWrite]) async throws -> [StoreWriteResult] {
        try check()
        return try await inner.write(writes)
    }
    func probeWrite(now: Date) async throws {
        try check()
        try await inner.probeWrite(now: now)
    }
    func condition() -> StoreCondition { inner.condition() }
    func close() async throws { try await inner.close() }
    func lifetimeTotals() async throws -> [UsageTotals] { try await inner.lifetimeTotals() }
    func pendingCounts() async throws -> [PendingCount] { try await inner.pendingCounts() }
    func prune(retention: RetentionPolicy, now: Date) async throws -> PruneSummary { try await inner.prune(retention: retention, now: now) }
    func loadPriceChanges() async throws -> [PriceChange] { try await inner.loadPriceChanges() }
    func savePriceChanges(_ changes: [PriceChange]) async throws {
        try check()
        try await inner.savePriceChanges(changes)
    }
    func figures(_ query: FigureQuery, retention: RetentionPolicy, now: Date) async throws -> FigureResult {
        try await inner.figures(query, retention: retention, now: now)
    }
    func activeUsers(_ query: FigureQuery, paying: Bool?, retention: RetentionPolicy, now: Date) async throws -> ActiveUsers {
        try await inner.activeUsers(query, paying: paying, retention: retention, now: now)
    }
    func unrecognizedUsage(from: Date, to: Date) async throws -> UnrecognizedUsage {
        try await inner.unrecognizedUsage(from: from, to: to)
    }

    func unpricedReasons(from: Date, to: Date, limit: Int) async throws -> [UnpricedReason] {
        try await inner.unpricedReasons(from: from, to: to, limit: limit)
    }

    func resourceSpan(type: String, id: String, from: Date, to: Date) async throws -> ResourceSpan {
        try await inner.resourceSpan(type: type, id: id, from: from, to: to)
    }

    func loadOperationCredits() async throws -> [String: Int64] { try await inner.loadOperationCredits() }

    func sharedGauges(key: String, maxAge: TimeInterval, now: Date,
                      compute: @Sendable () async throws -> StoreGaugeValues) async throws -> SharedGaugeReading {
        try await inner.sharedGauges(key: key, maxAge: maxAge, now: now, compute: compute)
    }

    func saveOperationCredits(_ operation: String, creditsMicro: Int64?) async throws {
        try await inner.saveOperationCredits(operation, creditsMicro: creditsMicro)
    }
}

@Suite("Store faults")
struct StoreFaultTests {
    @Test func failingWritesAnswer503WithRetryAfterAndIngestRecoversByItself() async throws {
        let config = testConfig()
        let store = FaultInjectingStore(try SQLiteStore(path: config.databasePath, synchronous: .normal))
        let components = try await AppComponents.open(config: config, store: store)
        let app = try buildApplication(components, logger: .init(label: "test"))
        try await app.test(.live) { client in
            let record = { (id: String) in #"{"id":"\#(id)","operation":"chat","model":"gpt-4o-mini","input_tokens":1000}"# }
            #expect(try await client.post("/v1/usage", json: record("ok-1")).status == .ok)

            store.failing.withLock { $0 = true }
            let failed = try await client.post("/v1/usage", json: record("during-fault"))
            #expect(failed.status == .serviceUnavailable)
            #expect(failed.headers[.retryAfter] == "5")
            #expect((try failed.json()["error"] as? String)?.contains("nothing from this request was stored") == true)
            #expect(try await client.get("/readyz").status == .serviceUnavailable)
            #expect(try await client.metrics().value("tokenmeter_ingest_refused_total", ["reason": "store_error"]) == 1)
            let price = try await client.execute(uri: "/v1/prices/x-model", method: .put, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"input":1}"#))
            #expect(price.status == .serviceUnavailable)
            #expect(components.pricing.catalog.versions["x-model"] == nil)  // a failed save changes nothing

            store.failing.withLock { $0 = false }
            // The health monitor probes the store each second while it is not ready.
            #expect(try await eventually { try await client.get("/readyz").status == .ok })
            let retried = try await client.post("/v1/usage", json: record("during-fault"))
            #expect(retried.status == .ok)
            #expect(try retried.json()["accepted"] as? Int == 1)

            let m = try await client.metrics()
            #expect(m.sum("tokenmeter_requests_total") == 2)  // the failed attempt was never counted
            let stored = try await store.inner.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM usage_records") }
            #expect(stored == 2)
        }
    }

    @Test func overloadAnswers503WithRetryAfterAndStoresNothingFromThatRequest() async throws {
        var config = testConfig()
        config.queueCapacity = 10
        config.batchMaxDelay = .milliseconds(300)  // the writer waits, so the queue fills
        // AsyncHTTPClient: concurrent connections (the plain live client sends one request at a time).
        try await withLiveServer(config, setup: .ahc(.http)) { components, client in
            let statuses = try await withThrowingTaskGroup(of: (Int, HTTPResponse.Status, String?).self) { group in
                for i in 0..<8 {
                    group.addTask {
                        let body = "[" + (0..<4).map { #"{"id":"o\#(i)-\#($0)","operation":"chat","model":"gpt-4o-mini","input_tokens":1}"# }.joined(separator: ",") + "]"
                        let response = try await client.post("/v1/usage", json: body)
                        return (i, response.status, response.headers[.retryAfter])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let refused = statuses.filter { $0.1 == .serviceUnavailable }
            let accepted = statuses.filter { $0.1 == .ok }
            #expect(!refused.isEmpty && !accepted.isEmpty)
            #expect(refused.allSatisfy { $0.2 == "1" })
            let m = try await client.metrics()
            #expect(m.value("tokenmeter_ingest_refused_total", ["reason": "queue_full"]) == Double(refused.count))
            #expect(m.value("tokenmeter_write_queue_capacity_records") == 10)
            let stored = try await (components.store as! SQLiteStore).database.read { db in
                try String.fetchAll(db, sql: "SELECT DISTINCT substr(id, 1, instr(id, '-') - 1) FROM usage_records")
            }
            #expect(Set(stored) == Set(accepted.map { "o\($0.0)" }))
        }
    }

    @Test func aFullQueueAnswers503() async throws {
        let queue = WriteQueue(capacity: 10, metrics: UsageMetrics())
        let record = CostCalculator.price(UsageRecord(timestamp: Date(), operation: "a", model: "m"), entry: nil)
        // Nobody drains this queue: the first request waits, the next one that does not fit is refused at once.
        let waiting = Task { try await queue.submit(Array(repeating: record, count: 8)) }
        while queue.depth < 8 { await Task.yield() }
        await #expect(throws: WriteQueue.SubmitError.full) { try await queue.submit(Array(repeating: record, count: 3)) }
        queue.close()
        await #expect(throws: WriteQueue.SubmitError.closed) { try await queue.submit([record]) }
        // What was queued before the close is still handed to the writer; answer it as the writer would.
        let batch = await queue.nextBatch(maxRecords: 100) ?? []
        #expect(batch.map(\.recordCount) == [8])
        for item in batch { item.continuation.resume(returning: item.writes.map { _ in .accepted }) }
        #expect(try await waiting.value == Array(repeating: .accepted, count: 8))
        #expect(await queue.nextBatch(maxRecords: 100) == nil)
    }
}
