import Foundation
import GRDB
import Testing
@testable import TokenMeterCore
@testable import TokenMeterPostgres
@testable import TokenMeterSQLite

/// A SQLite store upgraded from before user sets holds exact sets only from `user_sets_complete_from`
/// on; `migrate` copies that mark, and the PostgreSQL store plans active users from it the same way.
@Suite("Migrated user sets: the PostgreSQL store plans from the copied user_sets_complete_from")
struct MigratedUserSetsTests {
    static let now = Date(timeIntervalSince1970: 1_780_000_000)

    @Test func bothStoresCountTheSameUsersAroundTheMark() async throws {
        guard try StoreKind.postgres.available() else { return }
        let path = temporaryDirectory().appendingPathComponent("s.sqlite").path
        var usage = RandomUsage(rng: SeededGenerator(seed: 7), start: Self.now.addingTimeInterval(-10 * 86400), span: 9 * 86400)
        let writes = (0..<400).map { StoreWrite.insert(usage.record(id: "u\($0)", status: .success)) }
        let mark = Self.now.addingTimeInterval(-5 * 86400).unixMilliseconds / 86_400_000 * 86_400_000
        do {
            let sqlite = try SQLiteStore(path: path, synchronous: .normal)
            _ = try await sqlite.write(writes)
            try await sqlite.close()
            let queue = try DatabaseQueue(path: path)
            try await queue.write { try $0.execute(sql: "INSERT INTO store_meta (key, value) VALUES ('user_sets_complete_from', ?)", arguments: [mark]) }
            try queue.close()
        }
        let sqlite = try SQLiteStore(path: path, readonly: true)
        let postgres = try #require(try await StoreKind.postgres.makeStore() as? PostgresStore)
        _ = try await postgres.write(writes)
        let retention = RetentionPolicy(rawDays: 3)
        let query = FigureQuery(from: Self.now.addingTimeInterval(-20 * 86400), to: Self.now, groupBy: [.model])
        let before = try await postgres.activeUsers(query, paying: nil, retention: retention, now: Self.now)
        try await postgres.finishCopyMark(mark)
        let expected = try await sqlite.activeUsers(query, paying: nil, retention: retention, now: Self.now)
        let got = try await postgres.activeUsers(query, paying: nil, retention: retention, now: Self.now)
        // Counts, not bitmaps: the two stores numbered the users in their own orders here.
        func counts(_ users: ActiveUsers) -> [[String]: Int] { users.groups.mapValues(\.count) }
        #expect(counts(got) == counts(expected) && got.rounded == expected.rounded)
        #expect(counts(before) != counts(expected), "the mark changes the answer, so the test shows it is used")
    }
}

extension PostgresStore {
    /// What `finishCopy` keeps of an upgraded source.
    func finishCopyMark(_ mark: Int64) async throws {
        try await execute("INSERT INTO store_meta (key, value) VALUES ('user_sets_complete_from', \(mark))")
    }
}
