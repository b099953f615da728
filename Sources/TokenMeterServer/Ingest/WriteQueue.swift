import TokenMeterCore
import Synchronization

/// The bounded queue between request handlers and the batch writer. A handler's records wait here
/// until the writer has committed them; a full queue refuses at once (the handler answers 503).
/// Once they are committed, the handler's own task counts the calls they add into the metrics,
/// before it answers: that work then runs beside the writer instead of on its serial path.
public final class WriteQueue: Sendable {
    public enum SubmitError: Error, Equatable, Sendable {
        /// More records are waiting than the queue holds.
        case full
        /// The server is shutting down.
        case closed
    }

    struct Item: Sendable {
        let writes: [StoreWrite]
        let continuation: CheckedContinuation<[StoreWriteResult], any Error>
        var recordCount: Int { writes.count }
    }

    private struct State {
        var items: [Item] = []
        var recordCount = 0
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    public let capacity: Int
    /// Where committed calls are counted.
    let metrics: UsageMetrics
    private let state = Mutex(State())

    public init(capacity: Int, metrics: UsageMetrics) {
        self.capacity = capacity
        self.metrics = metrics
    }

    public var depth: Int { state.withLock { $0.recordCount } }

    /// Waits until the writer committed `records`; throws `SubmitError` or the store's error.
    public func submit(_ records: [PricedRecord]) async throws -> [WriteOutcome] {
        try await submit(records.map(StoreWrite.insert)).map { $0.writeOutcome ?? .duplicate }
    }

    /// Waits until the writer committed `writes` (inserts and completions), and counts the calls
    /// they added; throws `SubmitError` or the store's error.
    public func submit(_ writes: [StoreWrite]) async throws -> [StoreWriteResult] {
        let results = try await committed(writes)
        let calls = Self.calls(writes, results)
        if !calls.isEmpty { metrics.record(batch: calls) }
        return results
    }

    /// The one place where committed writes become counted calls: new completed records and
    /// completed pending ones (the pending gauge moves on the writer, `BatchWriter`).
    static func calls(_ writes: [StoreWrite], _ results: [StoreWriteResult]) -> [PricedRecord] {
        var calls: [PricedRecord] = []
        calls.reserveCapacity(writes.count)
        for (write, result) in zip(writes, results) {
            switch (write, result) {
            case (.insert(let record), .accepted) where record.record.status != .pending: calls.append(record)
            case (.complete, .completed(let priced, _)): calls.append(priced)
            default: break
            }
        }
        return calls
    }

    private func committed(_ writes: [StoreWrite]) async throws -> [StoreWriteResult] {
        let records = writes
        return try await withCheckedThrowingContinuation { continuation in
            let (error, waiter) = state.withLock { state -> (SubmitError?, CheckedContinuation<Void, Never>?) in
                if state.closed { return (.closed, nil) }
                // A request bigger than the whole queue still goes through when the queue is empty.
                if state.recordCount > 0 && state.recordCount + records.count > capacity { return (.full, nil) }
                state.items.append(Item(writes: records, continuation: continuation))
                state.recordCount += records.count
                defer { state.waiter = nil }
                return (nil, state.waiter)
            }
            if let error { continuation.resume(throwing: error) }
            waiter?.resume()
        }
    }

    /// The next batch: every waiting request up to `maxRecords` records (at least one request).
    /// Returns nil once the queue is closed and drained.
    func nextBatch(maxRecords: Int) async -> [Item]? {
        while true {
            let batch = state.withLock { state -> [Item]? in
                guard !state.items.isEmpty else { return state.closed ? [] : nil }
                var taken = 0
                var count = 0
                while taken < state.items.count && (taken == 0 || count + state.items[taken].recordCount <= maxRecords) {
                    count += state.items[taken].recordCount
                    taken += 1
                }
                let batch = Array(state.items.prefix(taken))
                state.items.removeFirst(taken)
                state.recordCount -= count
                return batch
            }
            if let batch { return batch.isEmpty ? nil : batch }
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if !state.items.isEmpty || state.closed { return true }
                    state.waiter = waiter
                    return false
                }
                if resumeNow { waiter.resume() }
            }
        }
    }

    /// Refuses new submissions; what is queued is still written.
    public func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
