import Foundation
import GRDB
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// The id index (v7): a 64-bit key per id, the id text deciding on a shared key; server ids are UUIDv7.
@Suite("Record id keys and the id index")
struct RecordIDKeyTests {
    static func fnv(_ text: String) -> UInt64 {
        var text = text
        return text.withUTF8 { RecordIDKey.fnv1a64($0) }
    }

    /// Published FNV-1a 64 test vectors: the key is stored, so it must never change.
    @Test(arguments: [
        ("", 0xcbf2_9ce4_8422_2325 as UInt64),
        ("a", 0xaf63_dc4c_8601_ec8c),
        ("foobar", 0x8594_4171_f739_67e8),
    ])
    func fnv1aMatchesTheReferenceValues(text: String, expected: UInt64) {
        #expect(Self.fnv(text) == expected)
    }

    @Test(arguments: [
        // Not UUIDv7: the plain hash.
        "chatcmpl-9x8y7z", "gen-1733000000-abcdefghij", "0f8fad5b-d9cb-469f-a165-70867728950e",
        "019a6f1e-3c2a-7000-cf3e-5b1d2c3a4b5c",  // variant bits 110: not RFC 9562
        "019a6f1e-3c2a-7000-8f3e-5b1d2c3a4b5",   // 35 characters
        "019a6f1e-3c2a-7000-8f3e-5b1d2c3a4b5g",  // not hex
    ])
    func idsThatAreNotUUIDv7GetTheirFNV1aHash(id: String) {
        #expect(RecordIDKey.key(id) == Int64(bitPattern: Self.fnv(id)))
    }

    @Test func aUUIDv7KeyIsItsTimeAndCounterThenFourHashBits() {
        let id = "019a6f1e-3c2a-7abc-8f3e-5b1d2c3a4b5c"
        let expected = (UInt64(0x019a_6f1e_3c2a) << 16) | (0xabc << 4) | (Self.fnv(id) & 0xF)
        #expect(RecordIDKey.key(id) == Int64(bitPattern: expected))
        #expect(RecordIDKey.key(id.uppercased()) >> 4 == Int64(bitPattern: expected) >> 4)
    }

    @Test func generatedIDsAreUUIDv7InCreationOrderWithKeysInTheSameOrder() throws {
        let now = Date()
        let ids = (0..<5000).map { _ in RecordID.generate(now: now) }
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        let keys = ids.map(RecordIDKey.key)
        #expect(keys.map { $0 >> 4 } == keys.map { $0 >> 4 }.sorted())
        let pattern = try Regex("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        #expect(ids.allSatisfy { $0.wholeMatch(of: pattern) != nil })
        // The first 48 bits are the time in milliseconds (5000 ids may borrow a millisecond or two).
        let ms = Int64(ids[0].replacingOccurrences(of: "-", with: "").prefix(12), radix: 16)!
        #expect(ms >= now.unixMilliseconds && ms <= now.unixMilliseconds + 2)
    }

    @Test func aRecordSentWithoutIDGetsAUUIDv7() throws {
        let normalizer = RecordNormalizer()
        let record = try normalizer.normalize(.object(["operation": .string("chat"), "model": .string("m")])).get()
        #expect(!record.idWasGiven)
        let pattern = try Regex("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        #expect(record.id.wholeMatch(of: pattern) != nil, "\(record.id)")
    }

    // MARK: - The store with every id on one key (a forced collision)

    static func record(_ id: String, status: RecordStatus = .success, input: Int64 = 10) -> PricedRecord {
        CostCalculator.price(UsageRecord(id: id, idWasGiven: true, timestamp: Date(), operation: "chat", model: "m",
                                         status: status, tokens: TokenCounts(input: input)), entry: nil)
    }

    static func collidingStore() throws -> SQLiteStore {
        try SQLiteStore(path: temporaryDirectory().appendingPathComponent("c.sqlite").path, synchronous: .normal,
                        idKey: { _ in 42 })
    }

    static func storedIDs(_ store: SQLiteStore) async throws -> [String] {
        try await store.database.read { try String.fetchAll($0, sql: "SELECT id FROM usage_records ORDER BY seq") }
    }

    @Test func twoDifferentIDsWithTheSameKeyAreBothStored() async throws {
        let store = try Self.collidingStore()
        #expect(try await store.commit([Self.record("a"), Self.record("b")]) == [.accepted, .accepted])
        #expect(try await store.commit([Self.record("c")]) == [.accepted])
        #expect(try await Self.storedIDs(store) == ["a", "b", "c"])
        let keys = try await store.database.read { try Int64.fetchAll($0, sql: "SELECT DISTINCT id_hash FROM usage_records") }
        #expect(keys == [42])
        #expect(try await store.lifetimeTotals().map(\.requests).reduce(0, +) == 3)
    }

    @Test func aRealDuplicateIsStillADuplicateWithinABatchAndAcrossBatches() async throws {
        let store = try Self.collidingStore()
        #expect(try await store.commit([Self.record("a"), Self.record("b"), Self.record("a", input: 99)])
                == [.accepted, .accepted, .duplicate])
        #expect(try await store.commit([Self.record("b", input: 7), Self.record("c"), Self.record("c")])
                == [.duplicate, .accepted, .duplicate])
        #expect(try await Self.storedIDs(store) == ["a", "b", "c"])
        let inputs = try await store.database.read { try Int64.fetchAll($0, sql: "SELECT input_tokens FROM usage_records ORDER BY seq") }
        #expect(inputs == [10, 10, 10])  // the first of each id was kept
        #expect(try await store.lifetimeTotals().map(\.requests).reduce(0, +) == 3)
    }

    @Test func aCompletionFindsItsOwnRecordAmongIDsWithTheSameKey() async throws {
        let store = try Self.collidingStore()
        _ = try await store.commit([Self.record("job-1", status: .pending), Self.record("job-2", status: .pending)])
        let completion = RecordCompletion(status: .success, tokenFields: ["output_tokens": .int(5)])
        let result = try await store.complete(id: "job-2", with: completion, reprice: { CostCalculator.price($0, entry: nil) })
        guard case .completed(let priced, _) = result else { Issue.record("not completed: \(result)"); return }
        #expect(priced.record.id == "job-2")
        let statuses = try await store.database.read { try String.fetchAll($0, sql: "SELECT status FROM usage_records ORDER BY seq") }
        #expect(statuses == ["pending", "success"])
        #expect(try await store.complete(id: "job-3", with: completion, reprice: { CostCalculator.price($0, entry: nil) }) == .notFound)
    }

    /// The check finds earlier rows through the integer index, not by scanning the table.
    @Test func theIdempotencyCheckUsesTheIDHashIndex() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("p.sqlite").path, synchronous: .normal)
        let plan = try await store.database.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + RecordRow.storedSQL, arguments: [0 as Int64, "id"])
                .map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("USING INDEX usage_records_id_hash (id_hash=?)") }, "\(plan)")
        #expect(!plan.contains { $0.hasPrefix("SCAN usage_records") }, "\(plan)")
    }

    /// The insert is a plain INSERT … VALUES: no ephemeral table per record, as an INSERT whose
    /// SELECT reads its own table has (the check is its own statement).
    @Test func theInsertCopiesNoRowThroughAnEphemeralTable() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("e.sqlite").path, synchronous: .normal)
        let opcodes = try await store.database.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN " + RecordRow.insertSQL,
                             arguments: StatementArguments(Array(repeating: 0 as Int64, count: RecordRow.columns.count)))
                .map { $0["opcode"] as String }
        }
        #expect(opcodes.contains("Insert"), "\(opcodes)")
        #expect(!opcodes.contains("OpenEphemeral"), "\(opcodes)")
        let oldForm = """
            INSERT INTO usage_records (id, id_hash, ts) SELECT ?1, ?2, ?3
            WHERE NOT EXISTS (SELECT 1 FROM usage_records WHERE id_hash = ?2 AND id = ?1)
            """
        let oldOpcodes = try await store.database.read { db in try Row.fetchAll(db, sql: "EXPLAIN " + oldForm, arguments: ["a", 0 as Int64, 0 as Int64]).map { $0["opcode"] as String } }
        #expect(oldOpcodes.contains("OpenEphemeral"), "the check above would not see the ephemeral table: \(oldOpcodes)")
    }

    // MARK: - The v7 migration

    /// A store written before v7 (id TEXT UNIQUE) keeps every row and column, gets the keys, the
    /// same other indexes, and still refuses its old ids as duplicates.
    @Test func migrationRebuildsTheTableWithKeysAndKeepsEveryRow() async throws {
        let directory = temporaryDirectory()
        let current = try SQLiteStore(path: directory.appendingPathComponent("current.sqlite").path, synchronous: .normal)
        var generator = RandomUsage(rng: SeededGenerator(seed: 7), start: Date().addingTimeInterval(-86400), span: 86400)
        let records = (0..<300).map { i in generator.record(id: i % 3 == 0 ? RecordID.generate() : "gen-\(i)") }
        _ = try await current.commit(records)

        let oldPath = directory.appendingPathComponent("v6.sqlite").path
        let old = try DatabaseQueue(path: oldPath)
        try StoreSchema.migrator.migrate(old, upTo: "v6-usage-details")
        // The columns a v6 store has: not the id key (v7) nor the unit of work and tags (v8).
        let v6Columns = RecordRow.columns.filter { !["id_hash", "resource_type", "resource_id", "tags"].contains($0) }.joined(separator: ", ")
        try await old.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS current", arguments: [current.path])
            try db.execute(sql: "INSERT INTO usage_records (seq, \(v6Columns)) SELECT seq, \(v6Columns) FROM current.usage_records")
            try db.execute(sql: "DETACH DATABASE current")
        }
        let v6Indexes = try await old.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records'")
        }
        #expect(v6Indexes.contains("sqlite_autoindex_usage_records_1"))  // the UNIQUE on id
        try old.close()

        let migrated = try SQLiteStore(path: oldPath, synchronous: .normal)
        let indexes = try await migrated.database.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records' ORDER BY name")
        }
        #expect(indexes == ["usage_records_id_hash", "usage_records_pending", "usage_records_resource", "usage_records_ts",
                            "usage_records_unrecognized"])
        let all = "seq, id_hash, " + v6Columns
        let before = try await current.database.read { try Row.fetchAll($0, sql: "SELECT \(all) FROM usage_records ORDER BY seq") }
        let after = try await migrated.database.read { try Row.fetchAll($0, sql: "SELECT \(all) FROM usage_records ORDER BY seq") }
        #expect(after.count == 300 && after == before)
        #expect(after.allSatisfy { ($0["id_hash"] as Int64) == RecordIDKey.key($0["id"]) })

        #expect(try await migrated.commit([records[5], records[150]]) == [.duplicate, .duplicate])
        #expect(try await migrated.commit([Self.record("new")]) == [.accepted])
        let integrity = try await migrated.database.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }
}
