import Foundation
import Logging
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// The write queue and the group-commit writer on their own: order, failure, shutdown, backpressure.
@Suite("Write queue and batch writer")
struct BatchWriterTests {
    struct Harness {
        let store: FaultInjectingStore
        let queue: WriteQueue
        let metrics = UsageMetrics()
        let writer: BatchWriter

        init(capacity: Int = 100, maxDelay: Duration = .zero) throws {
            store = FaultInjectingStore(try SQLiteStore(path: temporaryDirectory().appendingPathComponent("w.sqlite").path, synchronous: .normal))
            queue = WriteQueue(capacity: capacity, metrics: metrics)
            writer = BatchWriter(queue: queue, store: store, metrics: metrics, health: StoreHealth(openedAt: Date()),
                                 maxBatchRecords: 1000, maxDelay: maxDelay, logger: Logger(label: "test"))
        }

        func record(_ id: String, status: RecordStatus = .success) -> PricedRecord {
            CostCalculator.price(UsageRecord(id: id, timestamp: Date(), operation: "chat", model: "m", status: status,
                                             tokens: TokenCounts(input: 10)), entry: nil)
        }

        func completion() -> StoreWrite {
            .complete(id: "job", completion: RecordCompletion(status: .success, tokenFields: ["output_tokens": .int(5)]),
                      reprice: { CostCalculator.price($0, entry: nil) })
        }

        func counters() throws -> PrometheusText { try PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self)) }
    }

    @Test func writesQueuedTogetherCommitInArrivalOrderInOneBatch() async throws {
        let h = try Harness()
        // Queued before the writer starts, so the writer takes all three as one batch.
        let insert = Task { try await h.queue.submit([StoreWrite.insert(h.record("job", status: .pending))]) }
        while h.queue.depth < 1 { await Task.yield() }
        let complete = Task { try await h.queue.submit([h.completion()]) }
        while h.queue.depth < 2 { await Task.yield() }
        let again = Task { try await h.queue.submit([h.completion()]) }
        while h.queue.depth < 3 { await Task.yield() }
        let running = Task { try await h.writer.run() }
        #expect(try await insert.value == [.accepted])
        guard case .completed(let priced, let pendingModel)? = try await complete.value.first else {
            Issue.record("the completion did not see the record inserted before it in the same batch")
            return
        }
        #expect(priced.record.tokens.output == 5 && pendingModel == "m")
        #expect(try await again.value == [.alreadyCompleted(.success)])
        let m = try h.counters()
        #expect(m.sum("tokenmeter_requests_total") == 1)         // counted once, by the completion's request
        #expect(m.sum("tokenmeter_pending_requests") == 0)
        h.queue.close()
        try await running.value
    }

    @Test func aFailedCommitFailsEveryWaiterAndCountsNothing() async throws {
        let h = try Harness()
        h.store.failing.withLock { $0 = true }
        let running = Task { try await h.writer.run() }
        await #expect(throws: StoreUnavailable.self) { try await h.queue.submit([h.record("a"), h.record("b")]) }
        #expect(try h.counters().sum("tokenmeter_requests_total") == 0)
        #expect(try await h.store.inner.database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM usage_records") } == 0)
        h.store.failing.withLock { $0 = false }
        #expect(try await h.queue.submit([h.record("a")]) == [.accepted])
        h.queue.close()
        try await running.value
    }

    @Test func shutdownCommitsWhatIsQueuedThenRefusesNewWrites() async throws {
        let h = try Harness(maxDelay: .milliseconds(200))
        let running = Task { try await h.writer.run() }
        let waiting = (0..<5).map { i in Task { try await h.queue.submit([h.record("q\(i)")]) } }
        while h.queue.depth < 5 { await Task.yield() }
        running.cancel()  // cancellation closes the queue; the writer still drains it
        for task in waiting { #expect(try await task.value == [.accepted]) }
        try await running.value
        await #expect(throws: WriteQueue.SubmitError.closed) { try await h.queue.submit([h.record("late")]) }
    }

    @Test func aRequestLargerThanTheQueueGoesThroughWhenTheQueueIsEmpty() async throws {
        let h = try Harness(capacity: 3)
        let running = Task { try await h.writer.run() }
        let results = try await h.queue.submit((0..<10).map { h.record("big\($0)") })
        #expect(results == Array(repeating: .accepted, count: 10))
        h.queue.close()
        try await running.value
    }
}
