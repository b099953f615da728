import Foundation

public enum WriteOutcome: Sendable, Equatable {
    case accepted
    case duplicate
}

public enum CompletionResult: Sendable, Equatable {
    /// The completed record, and the model its pending row was counted under.
    case completed(PricedRecord, pendingModel: String)
    case notFound
    case alreadyCompleted(RecordStatus)
}

public struct RetentionPolicy: Sendable, Equatable {
    public var rawDays: Int
    public var minuteRollupDays: Int
    public var hourRollupDays: Int
    /// A pending record not completed this long after it was received is deleted (and counted in
    /// `tokenmeter_pending_expired_total`); until then it is kept past raw retention.
    public var pendingTimeoutHours: Int

    public init(rawDays: Int = 90, minuteRollupDays: Int = 2, hourRollupDays: Int = 90, pendingTimeoutHours: Int = 168) {
        self.rawDays = rawDays
        self.minuteRollupDays = minuteRollupDays
        self.hourRollupDays = hourRollupDays
        self.pendingTimeoutHours = pendingTimeoutHours
    }

    /// Pending records received before this are expired.
    public func pendingExpiry(now: Date) -> Date { now.addingTimeInterval(-Double(pendingTimeoutHours) * 3600) }

    /// Oldest timestamp still held at `granularity` (nil: raw records), at `now`.
    public func oldestKept(_ granularity: Granularity?, now: Date) -> Date {
        let days: Int? = switch granularity {
        case nil: rawDays
        case .minute?: minuteRollupDays
        case .hour?: hourRollupDays
        case .day?: nil
        }
        guard let days else { return .distantPast }
        return now.addingTimeInterval(-Double(days) * 86400)
    }
}

public struct PruneSummary: Sendable, Equatable {
    public var records = 0
    public var minuteRows = 0
    public var hourRows = 0
    public var hourUserSetRows = 0
    /// Pending records that aged out before completion, per (service, operation, model).
    public var pendingDeleted: [PendingCount] = []

    public init() {}
}

public struct PendingCount: Sendable, Equatable {
    public var service: String
    public var operation: String
    public var model: String
    public var count: Int64

    public init(service: String, operation: String, model: String, count: Int64) {
        self.service = service
        self.operation = operation
        self.model = model
        self.count = count
    }
}

/// Writes records and completions: the one consumer is the batch writer behind the write queue.
/// - `write` writes all records of a batch and their rollups in one transaction; when it returns,
///   the batch is durable (per the configured synchronous mode); when it throws, nothing was written.
/// - A record whose `id` is already stored is reported `.duplicate` and changes nothing.
/// - Writes are serialized by the store; calling it concurrently is safe.
/// - A write that fails throws a `StoreFault`: `.permanent` faults are latched (every later write
///   fails with the same fault, without touching the database) until the process restarts.
public protocol RecordWriter: Sendable {
    /// Inserts and completions, one result each, in one transaction (`commit` and `complete` in the
    /// extension are the one-kind forms of it).
    func write(_ writes: [StoreWrite]) async throws -> [StoreWriteResult]
}

/// What the counters and the pending gauge resume from at start.
public protocol CounterSource: Sendable {
    func lifetimeTotals() async throws -> [UsageTotals]
    func pendingCounts() async throws -> [PendingCount]
}

/// Upkeep of the store: retention, readiness, shutdown.
public protocol StoreMaintenance: Sendable {
    func prune(retention: RetentionPolicy, now: Date) async throws -> PruneSummary
    /// A real write to the store, for readiness when no records arrive. Throws a `StoreFault`.
    func probeWrite(now: Date) async throws
    /// What can be told about the store without a database access (file identity, free space, a
    /// permanent fault seen by a write): cheap, never waits behind the writer.
    func condition() -> StoreCondition
    /// Called once after the last write on a clean shutdown.
    func close() async throws
}

/// A whole store backend, as the server opens it: each part of the server takes only the role it
/// uses. Every method is safe to call concurrently; reads and writes throw `StoreFault` for the
/// store's own failures.
public protocol UsageStore: RecordWriter, CounterSource, StoreMaintenance, PriceChangeRepository, OperationCreditsRepository, ReportSource, StoreGaugeSharing {}

public struct StoreCondition: Sendable, Equatable {
    /// A fault that stops every write until an operator acts (nil: none seen).
    public var fault: StoreFault?
    /// Bytes free for the store's files (nil: not a file store, or unknown).
    public var freeBytes: Int64?

    public init(fault: StoreFault? = nil, freeBytes: Int64? = nil) {
        self.fault = fault
        self.freeBytes = freeBytes
    }
}
