import GRDB
import TokenMeterCore
import Synchronization

/// The store's user id → ordinal dictionary (`user_ordinals`), with an in-memory cache of ids
/// whose ordinal is committed.
final class UserOrdinals: Sendable {
    /// Beyond this many cached ids the cache starts over (a miss costs one indexed SELECT).
    static let cacheLimit = 1_000_000
    private let cache = Mutex<[String: Int64]>([:])

    /// Ordinals looked up or assigned inside one write transaction. They go into the cache only
    /// through `remember` after the transaction commits: an ordinal assigned in a transaction that
    /// rolls back would otherwise be handed out twice.
    struct Resolved {
        fileprivate(set) var ordinals: [String: Int64] = [:]
    }

    func ordinal(of user: String, _ db: Database, _ resolved: inout Resolved) throws -> Int64 {
        // Swift compares strings by canonical equivalence, SQLite by bytes: "café" in NFC and NFD
        // are one dictionary key but two user ids. Only ASCII ids (where the two agree) are cached.
        let cacheable = user.utf8.allSatisfy { $0 < 0x80 }
        if cacheable, let known = resolved.ordinals[user] ?? cache.withLock({ $0[user] }) { return known }
        let select = try db.cachedStatement(sql: "SELECT ordinal FROM user_ordinals WHERE user_id = ?")
        let ordinal: Int64
        if let existing = try Int64.fetchOne(select, arguments: [user]) {
            ordinal = existing
        } else {
            try db.cachedStatement(sql: "INSERT INTO user_ordinals (user_id) VALUES (?)").execute(arguments: [user])
            ordinal = db.lastInsertedRowID
        }
        if cacheable { resolved.ordinals[user] = ordinal }
        return ordinal
    }

    /// Call after the transaction that resolved them committed.
    func remember(_ resolved: Resolved) {
        guard !resolved.ordinals.isEmpty else { return }
        cache.withLock { cache in
            if cache.count + resolved.ordinals.count > Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache.merge(resolved.ordinals) { _, new in new }
        }
    }
}
