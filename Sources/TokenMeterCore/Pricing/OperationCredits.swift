import Synchronization

/// `credits_per_operation`: the credits a record is charged when it carries none and its model has
/// no `credits_per_unit` (e.g. `{"workflow_execution": 0.001}` for a metered action without a
/// model). Two layers: the configuration file's map, and run-time changes made through the admin
/// API (`PUT`/`DELETE /v1/credits/{operation}`), which the store persists and a restart replays.
/// A change applies to records priced after it; stored records keep their credits.
public final class OperationCredits: Sendable {
    private struct State {
        var configured: [String: Int64]
        var changed: [String: Int64]
        var generation = 0
    }

    private let state: Mutex<State>
    private let applied = Atomic<Int>(0)

    /// Credits as numbers (the configuration's unit); kept internally as exact micro-credits.
    public init(configured: [String: Double] = [:], changedMicro: [String: Int64] = [:]) {
        state = Mutex(State(configured: configured.mapValues { Money.micro(from: $0) }, changed: changedMicro))
    }

    /// Micro-credits for one record of `operation`, or nil when none are configured.
    public func operationCreditsMicro(_ operation: String) -> Int64? {
        state.withLock { $0.changed[operation] ?? $0.configured[operation] }
    }

    /// The map in effect (run-time changes over the configuration), in credits.
    public var effective: [String: Double] {
        state.withLock { s in s.configured.merging(s.changed) { _, changed in changed }.mapValues { Money.value(fromMicro: $0) } }
    }

    /// The run-time changes only, in credits.
    public var changed: [String: Double] { state.withLock { $0.changed.mapValues { Money.value(fromMicro: $0) } } }

    /// Sets (or, with nil, removes) the run-time value of `operation`; removing one brings back
    /// the configuration file's value, if it has one.
    public func set(_ operation: String, creditsMicro: Int64?) {
        state.withLock { $0.changed[operation] = creditsMicro }
    }

    /// Persists a change, then takes every persisted change back from the store, so concurrent
    /// changes end up in memory as a restart would replay them (the reload that started last wins,
    /// as for prices). Without a repository the change is made in memory only. A failed write changes nothing.
    public func apply(_ operation: String, creditsMicro: Int64?, repository: (any OperationCreditsRepository)?) async throws {
        guard let repository else {
            set(operation, creditsMicro: creditsMicro)
            return
        }
        try await repository.saveOperationCredits(operation, creditsMicro: creditsMicro)
        let generation = applied.add(1, ordering: .relaxed).newValue
        let all = try await repository.loadOperationCredits()
        state.withLock { state in
            if generation > state.generation {
                state.changed = all
                state.generation = generation
            }
        }
    }

    /// A 400 message for a value the map cannot hold, or nil.
    public static func problem(operation: String, credits: Double) -> String? {
        if operation.isEmpty || operation.utf8.count > RecordLimits.labelValueBytes {
            return "operation: must be 1 to \(RecordLimits.labelValueBytes) bytes"
        }
        if !(credits >= 0) || !credits.isFinite || credits > RecordLimits.maxCredits {
            return "credits: must be a number from 0 to \(Int(RecordLimits.maxCredits)), got \(credits)"
        }
        return nil
    }
}

/// Where run-time `credits_per_operation` changes are kept (the store).
public protocol OperationCreditsRepository: Sendable {
    func loadOperationCredits() async throws -> [String: Int64]
    /// Sets or (nil) deletes the run-time value of one operation, durably.
    func saveOperationCredits(_ operation: String, creditsMicro: Int64?) async throws
}
