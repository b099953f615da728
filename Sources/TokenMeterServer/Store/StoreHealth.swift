import TokenMeterCore
import Foundation
import Synchronization

/// What the writer last saw of the store: kept in memory by the batch writer and the readiness
/// probe, read by `/readyz` and the health metrics without touching the database, so readiness is
/// answered at once even while a write hangs on a frozen disk.
public final class StoreHealth: Sendable {
    public struct Thresholds: Sendable, Equatable {
        /// Below this many free bytes on the database's file system the store is not ready.
        public var minFreeBytes: Int64 = 100 * 1024 * 1024
        /// A write still running after this long means the disk or the writer is stalled.
        public var stalledAfter: Duration = .seconds(5)
        public init() {}
    }

    struct State: Sendable {
        var lastSuccessAt: Date
        var lastFailure: (at: Date, fault: StoreFault)?
        var writesInFlight: [Int: Date] = [:]
        var nextWriteID = 0
        var condition = StoreCondition()
    }

    public let thresholds: Thresholds
    private let state: Mutex<State>

    public init(thresholds: Thresholds = Thresholds(), openedAt: Date) {
        self.thresholds = thresholds
        self.state = Mutex(State(lastSuccessAt: openedAt))
    }

    /// Marks a write as started; pass the token to `finished`.
    public func started(now: Date) -> Int {
        state.withLock { state in
            state.nextWriteID += 1
            state.writesInFlight[state.nextWriteID] = now
            return state.nextWriteID
        }
    }

    public func finished(_ token: Int, fault: StoreFault?, now: Date) {
        state.withLock { state in
            state.writesInFlight[token] = nil
            if let fault { state.lastFailure = (now, fault) } else { state.lastSuccessAt = now }
        }
    }

    public func update(_ condition: StoreCondition) { state.withLock { $0.condition = condition } }

    public var lastSuccessAt: Date { state.withLock { $0.lastSuccessAt } }

    /// The oldest write still running, if any.
    public var oldestWriteInFlight: Date? { state.withLock { $0.writesInFlight.values.min() } }

    public func readiness(now: Date, queueDepth: Int, queueCapacity: Int) -> Readiness {
        let snapshot = state.withLock { state in
            (state.lastSuccessAt, state.lastFailure, state.writesInFlight.values.min(), state.condition)
        }
        return Readiness.evaluate(lastSuccessAt: snapshot.0, lastFailure: snapshot.1, oldestInFlight: snapshot.2,
                                  condition: snapshot.3, queueDepth: queueDepth, queueCapacity: queueCapacity,
                                  thresholds: thresholds, now: now)
    }
}

/// Whether the store takes writes now, and why not.
public struct Readiness: Sendable, Equatable {
    public enum Problem: String, Sendable { case fault, stalled, lastWriteFailed, lowDisk, queueFull }
    public var reasons: [String]
    /// What each reason is about (stable while the numbers in the reasons change).
    public var problems: [Problem]
    /// A reason that will not pass without an operator.
    public var permanent: Bool
    public var lastSuccessAgeSeconds: Double
    public var queueDepth: Int
    public var freeBytes: Int64?
    public var stalledSeconds: Double

    public var isReady: Bool { reasons.isEmpty }

    static func evaluate(lastSuccessAt: Date, lastFailure: (at: Date, fault: StoreFault)?, oldestInFlight: Date?,
                         condition: StoreCondition, queueDepth: Int, queueCapacity: Int,
                         thresholds: StoreHealth.Thresholds, now: Date) -> Readiness {
        var reasons: [String] = []
        var problems: [Problem] = []
        func add(_ problem: Problem, _ reason: String) {
            problems.append(problem)
            reasons.append(reason)
        }
        var permanent = false
        if let fault = condition.fault {
            add(.fault, fault.description)
            permanent = fault.isPermanent
        }
        let stalled = oldestInFlight.map { now.timeIntervalSince($0) } ?? 0
        let stallLimit = Double(thresholds.stalledAfter.components.seconds) + Double(thresholds.stalledAfter.components.attoseconds) / 1e18
        if stalled > stallLimit {
            add(.stalled, "a store write has been running for \(Int(stalled)) s (the disk or the file system is stalled)")
        }
        if let failure = lastFailure, failure.at >= lastSuccessAt, condition.fault == nil {
            add(.lastWriteFailed, "the last store write failed: \(failure.fault.description)")
            permanent = permanent || failure.fault.isPermanent
        }
        if let free = condition.freeBytes, free < thresholds.minFreeBytes {
            add(.lowDisk, "only \(free / 1_048_576) MiB free on the database's file system (the threshold is \(thresholds.minFreeBytes / 1_048_576) MiB)")
        }
        if queueDepth >= queueCapacity {
            add(.queueFull, "the write queue is full (\(queueDepth) records waiting)")
        }
        return Readiness(reasons: reasons, problems: problems, permanent: permanent, lastSuccessAgeSeconds: max(0, now.timeIntervalSince(lastSuccessAt)),
                         queueDepth: queueDepth, freeBytes: condition.freeBytes, stalledSeconds: stalled)
    }
}
