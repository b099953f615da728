import TokenMeterCore
import Foundation
import Logging
import ServiceLifecycle

/// Group commit: takes every request waiting in the queue (up to `maxBatchRecords` records), writes
/// them in one transaction, then answers each request. Under load many requests share one fsync;
/// an idle server commits a lone request at once. Optional `maxDelay` waits for more.
public struct BatchWriter: Service {
    public let queue: WriteQueue
    public let store: any RecordWriter
    public let metrics: UsageMetrics
    public let maxBatchRecords: Int
    public let maxDelay: Duration
    public let health: StoreHealth
    public let logger: Logger
    let now: WallClock

    public init(queue: WriteQueue, store: any RecordWriter, metrics: UsageMetrics, health: StoreHealth,
                maxBatchRecords: Int = 5000, maxDelay: Duration = .zero, now: @escaping WallClock = Date.init, logger: Logger) {
        self.queue = queue
        self.store = store
        self.metrics = metrics
        self.health = health
        self.maxBatchRecords = maxBatchRecords
        self.maxDelay = maxDelay
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        let queue = self.queue
        // The loop runs in one unstructured task (it does not inherit this task's cancellation), so a
        // cancelled service still commits what it already took: GRDB refuses to start a write in a
        // cancelled task. Cancellation and shutdown close the queue; the loop drains it and ends.
        // (One task for the writer's life, not one per batch: a task per batch was a thread hop
        // per commit on the single-record path.)
        let writer = self
        let loop = Task { await writer.drain() }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await loop.value
            } onCancel: {
                queue.close()
            }
        } onGracefulShutdown: {
            queue.close()
        }
    }

    private func drain() async {
        while true {
            if maxDelay > .zero, queue.depth < maxBatchRecords {
                try? await Task.sleep(for: maxDelay)
            }
            guard let batch = await queue.nextBatch(maxRecords: maxBatchRecords) else { break }
            await write(batch)
        }
        logger.info("batch writer drained and stopped")
    }

    func write(_ batch: [WriteQueue.Item]) async {
        let writes = batch.flatMap(\.writes)
        let start = ContinuousClock.now
        let token = health.started(now: now())
        do {
            let results = try await store.write(writes)
            health.finished(token, fault: nil, now: now())
            let elapsed = ContinuousClock.now - start
            metrics.storeWrite(seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            metrics.setQueueDepth(queue.depth)
            movePendingGauge(writes, results)
            var offset = 0
            for item in batch {
                item.continuation.resume(returning: Array(results[offset..<(offset + item.writes.count)]))
                offset += item.writes.count
            }
        } catch {
            let fault = StoreFault.of(error)
            health.finished(token, fault: fault, now: now())
            metrics.storeHealth.failed(fault)
            logger.error("store write failed (\(fault.isPermanent ? "permanent" : "transient")), \(writes.count) records not committed: \(fault)")
            for item in batch { item.continuation.resume(throwing: StoreUnavailable(fault: fault)) }
        }
    }

    /// The pending gauge's moves for committed writes: new pending records and completions. They
    /// stay on the writer, in commit order: the gauge stops at 0, so a completion counted before
    /// its own insert would leave the insert's +1 for ever. The calls the writes add are counted by
    /// each request's own task (`WriteQueue.submit`), off this serial path.
    private func movePendingGauge(_ writes: [StoreWrite], _ results: [StoreWriteResult]) {
        for (write, result) in zip(writes, results) {
            switch (write, result) {
            case (.insert(let record), .accepted) where record.record.status == .pending:
                metrics.pendingChanged(service: record.record.service, operation: record.record.operation, model: record.model, by: 1)
            case (.complete, .completed(let priced, let pendingModel)):
                metrics.pendingChanged(service: priced.record.service, operation: priced.record.operation, model: pendingModel, by: -1)
            default:
                break
            }
        }
    }
}

extension BatchWriter: CustomStringConvertible {
    public var description: String { "BatchWriter(maxBatchRecords: \(maxBatchRecords))" }
}

/// The store could not commit. A transient fault is answered 503 with Retry-After (the client
/// retries); a permanent one 500 without it (retrying cannot help until an operator acts).
public struct StoreUnavailable: Error, CustomStringConvertible, Sendable {
    public let fault: StoreFault
    public var description: String { "the store could not commit the records: \(fault)" }
}
