import TokenMeterCore
import Foundation
import HummingbirdCore
import Logging
import Synchronization

/// Stops accepting connections before the process runs out of file descriptors. Without it, accept
/// failing with EMFILE leaves the listening socket readable and the event loop spins on it (no log,
/// new connections hang); with it, new connections wait in the kernel's backlog until one closes,
/// the database keeps the descriptors it needs, and the limit is logged once per interval.
public struct ConnectionLimit: AvailableConnectionsDelegate {
    /// Descriptors kept for SQLite (writer and readers with their -wal and -shm), the event loops
    /// and standard streams.
    public static let reservedDescriptors = 64

    let maxConnections: Int
    var open = 0
    let notices: Notices

    public init(maxConnections: Int?, logger: Logger) {
        self.maxConnections = maxConnections ?? Self.derivedFromDescriptorLimit()
        self.notices = Notices(logger: logger)
    }

    /// The soft RLIMIT_NOFILE less the reserve (at least 8).
    public static func derivedFromDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return 1 << 20 }
        return max(8, Int(min(limit.rlim_cur, 1 << 20)) - reservedDescriptors)
    }

    /// Raises the soft descriptor limit to the hard one; returns (before, after).
    @discardableResult
    public static func raiseDescriptorLimit() -> (from: UInt64, to: UInt64)? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return (before, UInt64(limit.rlim_cur))
    }

    public mutating func connectionOpened() { open += 1 }
    public mutating func connectionClosed() { open -= 1 }

    public func isAcceptingNewConnections() -> Bool {
        guard open < maxConnections else {
            notices.atLimit(open: open)
            return false
        }
        return true
    }

    /// Logs reaching the limit at most once per interval (the delegate is copied by value).
    final class Notices: Sendable {
        let logger: Logger
        let interval: Duration = .seconds(10)
        private let lastLogged = Mutex<ContinuousClock.Instant?>(nil)

        init(logger: Logger) { self.logger = logger }

        func atLimit(open: Int) {
            let now = ContinuousClock.now
            let due = lastLogged.withLock { last -> Bool in
                if let last, now - last < interval { return false }
                last = now
                return true
            }
            if due {
                logger.warning("connection limit reached (\(open) open, limited by the file-descriptor limit or max_connections): new connections wait until one closes")
            }
        }
    }
}
