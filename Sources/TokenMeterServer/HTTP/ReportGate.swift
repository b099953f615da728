import TokenMeterCore
import Synchronization

/// Counts report queries running at once; `enter` refuses beyond `limit` instead of queueing.
final class ReportGate: Sendable {
    let limit: Int
    private let running = Mutex(0)

    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        running.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() { running.withLock { $0 -= 1 } }
}
