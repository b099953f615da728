import Foundation
import GRDB
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite

/// The user id → ordinal dictionary, resolved on the writer's kept statements.
@Suite("User ordinals")
struct UserOrdinalsTests {
    static func record(_ id: String, user: String) -> PricedRecord {
        CostCalculator.price(UsageRecord(id: id, idWasGiven: true, timestamp: Date(), userID: user, operation: "chat", model: "m",
                                         status: .success, tokens: TokenCounts(input: 10)), entry: nil)
    }

    @Test func aUserKeepsOneOrdinalAcrossBatchesAndIdsThatDifferInBytesAreTwoUsers() async throws {
        let path = temporaryDirectory().appendingPathComponent("o.sqlite").path
        let store = try SQLiteStore(path: path)
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"  // one Swift string, two byte sequences: two user ids
        #expect(nfc == nfd)
        _ = try await store.commit([Self.record("a", user: "u1"), Self.record("b", user: "u1"),
                                    Self.record("c", user: nfc), Self.record("d", user: nfd)])
        _ = try await store.commit([Self.record("e", user: "u1"), Self.record("f", user: nfd), Self.record("g", user: "u2")])
        let ordinals = try await store.database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, user_ordinal FROM usage_records ORDER BY seq").map { ($0["id"] as String, $0["user_ordinal"] as Int64) }
        }
        let byID = Dictionary(uniqueKeysWithValues: ordinals)
        #expect(byID["a"] == byID["b"] && byID["a"] == byID["e"])
        #expect(byID["c"] != byID["d"])
        #expect(byID["d"] == byID["f"])
        #expect(Set(byID.values).count == 4)
        let assigned = try await store.database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM user_ordinals") }
        #expect(assigned == 4)
        // The stored dictionary agrees with the records: each ordinal names its record's user bytes.
        let mismatched = try await store.database.read { db in
            try Int.fetchOne(db, sql: """
                SELECT count(*) FROM usage_records r JOIN user_ordinals o ON o.ordinal = r.user_ordinal
                WHERE CAST(o.user_id AS BLOB) <> CAST(r.user_id AS BLOB)
                """)
        }
        #expect(mismatched == 0)
    }
}
