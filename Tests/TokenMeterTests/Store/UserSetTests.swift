import Foundation
import GRDB
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("User sets: chunked bitmaps of user ordinals")
struct UserSetTests {
    @Test(arguments: [0, 1, 2, 255, 256, 257, 1000, 4096])
    func storedChunksRoundTripAtEverySize(members: Int) throws {
        var rng = SeededGenerator(seed: UInt64(members) + 1)
        let ordinals = Set((0..<members).map { _ in Int64.random(in: 0..<4096, using: &rng) })
        let set = UserSet(ordinals)
        #expect(set.count == ordinals.count)
        var decoded = UserSet()
        for (chunk, data) in set.encodedChunks {
            #expect(data.count == (ordinals.count <= UserSet.maxArrayMembers ? ordinals.count * 2 : UserSet.bitmapBytes))
            try decoded.formUnion(chunk: chunk, encoded: data)
        }
        #expect(decoded == set)
        #expect(ordinals.allSatisfy { decoded.contains($0) })
    }

    /// The stored form is in every store file: the encoder that writes into one buffer must give the
    /// bytes of the one it replaced (appending one byte at a time), and these exact bytes.
    @Test(arguments: [0, 1, 2, 255, 256, 1000, 4096])
    func storedChunkBytesAreUnchanged(members: Int) {
        var rng = SeededGenerator(seed: UInt64(members) + 7)
        var words = UserSet.emptyWords
        for _ in 0..<members {
            let bit = Int.random(in: 0..<4096, using: &rng)
            words[bit >> 6] |= 1 << UInt64(bit & 63)
        }
        #expect(UserSet.encode(words) == Self.appendingEncoder(words))
    }

    @Test func storedChunkFormIsLittleEndianMembersOrBitmap() {
        var words = UserSet.emptyWords
        words[0] = 1 << 1
        words[4] = 1 << 3  // member 259
        #expect(UserSet.encode(words) == Data([1, 0, 3, 1]))
        words = UserSet.emptyWords
        for i in 0..<4 { words[i] = .max }  // members 0..<256: a bitmap
        words[63] = 1 << 63  // member 4095
        let bitmap = UserSet.encode(words)
        #expect(bitmap.count == 512 && bitmap.prefix(32).allSatisfy { $0 == 0xFF } && bitmap[32..<511].allSatisfy { $0 == 0 }
                && bitmap[511] == 0x80)
    }

    /// The encoder as it was before the one-buffer rewrite (the reference for the stored bytes).
    static func appendingEncoder(_ words: [UInt64]) -> Data {
        let members = words.reduce(0) { $0 + $1.nonzeroBitCount }
        var data = Data()
        if members <= UserSet.maxArrayMembers {
            for (index, word) in words.enumerated() where word != 0 {
                var rest = word
                while rest != 0 {
                    let value = UInt16(index * 64 + rest.trailingZeroBitCount)
                    data.append(UInt8(value & 0xFF))
                    data.append(UInt8(value >> 8))
                    rest &= rest - 1
                }
            }
        } else {
            for word in words {
                for shift in stride(from: 0, to: 64, by: 8) { data.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
            }
        }
        return data
    }

    @Test func unionCountsAUserInTwoSetsOnceAcrossChunks() {
        var a = UserSet([1, 2, 4095, 4096, 100_000])
        let b = UserSet([2, 4096, 4097, 9_999_999])
        a.formUnion(b)
        #expect(a.count == 7)
        #expect(a.contains(4097) && a.contains(9_999_999) && !a.contains(3))
    }

    /// Small sets are plain lists until they grow: the same members compare, count and union the
    /// same whichever form they are in.
    @Test func smallSetsBehaveLikeChunkedOnes() throws {
        for size in [0, 1, 15, 16, 17, 40] {
            let members = (0..<size).map { Int64($0 * 977) }  // across several chunks
            let small = UserSet(members)
            var chunked = UserSet()
            for (chunk, data) in UserSet(members).encodedChunks { try chunked.formUnion(chunk: chunk, encoded: data) }
            #expect(small == chunked && small.count == size && chunked.count == size)
            #expect(members.allSatisfy { small.contains($0) } && !small.contains(1))
            var union = small
            union.formUnion(UserSet([1, 977]))
            #expect(union.count == size + 1 + (size < 2 ? 1 : 0))
        }
    }

    @Test func mergeFunctionsUnionAndTestContainment() throws {
        let sparse = UserSet([5, 6, 7]).encodedChunks[0].data
        let dense = UserSet((0..<300).map { Int64($0 * 2) }).encodedChunks[0].data
        var merged = UserSet()
        try merged.formUnion(chunk: 0, encoded: try UserSet.union(sparse, dense))
        #expect(merged.count == 302)  // 6 is in both
        #expect(try UserSet.contains(dense, UserSet([6, 8]).encodedChunks[0].data))
        #expect(try !UserSet.contains(dense, sparse))
    }

    @Test func corruptChunksAreErrorsNotCrashes() {
        var set = UserSet()
        #expect(throws: StoreError.self) { try set.formUnion(chunk: 0, encoded: Data([1, 2, 3])) }
        #expect(throws: StoreError.self) { try set.formUnion(chunk: 0, encoded: Data([0xFF, 0xFF])) }
        #expect(throws: StoreError.self) { try set.formUnion(chunk: 0, encoded: Data(count: 600)) }
    }

    /// Thousands of distinct users in one hour and key: dense chunks go through the SQL upsert's
    /// merge and containment functions, over several commits and chunks.
    @Test func storeCountsThousandsOfUsersInOneBucketExactly() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("u.sqlite").path, synchronous: .normal)
        let hour = Date(unixMilliseconds: 1_764_000_000_000 / 3_600_000 * 3_600_000)
        var generator = RandomUsage(rng: SeededGenerator(seed: 3), start: hour, span: 3599)
        var users: Set<String> = []
        for batch in 0..<6 {
            let records = (0..<1500).map { i -> PricedRecord in
                var r = generator.record(id: "d\(batch)-\(i)", status: .success)
                r.record.userID = "dense-\((batch * 997 + i * 7) % 9000)"
                r.record.service = "bot"
                r.record.operation = "chat"
                r.model = "m"
                r.provider = "vendor"
                r.record.paying = false
                r.record.resourceType = nil  // one rollup key: one set
                users.insert(r.record.userID!)
                return r
            }
            _ = try await store.commit(records)
        }
        let query = FigureQuery(from: hour, to: hour.addingTimeInterval(3600), groupBy: [.model])
        let answer = try await store.activeUsers(query, paying: nil, retention: RetentionPolicy(), now: hour.addingTimeInterval(7200))
        #expect(answer.count(["m"]) == users.count)
        #expect(answer.total == users.count && !answer.rounded)
        let chunks = try await store.database.read { db in
            try Row.fetchAll(db, sql: "SELECT length(members) AS n FROM user_sets_hour").map { $0["n"] as Int }
        }
        #expect(users.count == 7432)
        #expect(chunks.count == 2 && chunks.allSatisfy { $0 == UserSet.bitmapBytes })  // ordinals 1...7432: chunks 0 and 1, both dense
    }

    /// A store written before user sets existed gets ordinals and sets from its raw records, and
    /// time before its oldest raw record is flagged, not counted as no users.
    @Test func migrationBackfillsUserSetsFromRawRecords() async throws {
        let directory = temporaryDirectory()
        let current = try SQLiteStore(path: directory.appendingPathComponent("current.sqlite").path, synchronous: .normal)
        let now = RFC3339.parse("2026-11-25T12:00:00Z")!
        var generator = RandomUsage(rng: SeededGenerator(seed: 11), start: now.addingTimeInterval(-10 * 86400), span: 10 * 86400)
        _ = try await current.commit((0..<2000).map { generator.record(id: "r\($0)") })

        let oldPath = directory.appendingPathComponent("v1.sqlite").path
        let old = try DatabaseQueue(path: oldPath)
        try StoreSchema.migrator.migrate(old, upTo: "v1")
        let laterColumns: Set = ["user_ordinal", "cache_write_1h_tokens", "router_cost_nano", "unrecognized_usage",
                                 "price_match", "unpriced_reason", "resource_type", "resource_id", "tags", "id_hash"]
        let v1Columns = RecordRow.columns.filter { !laterColumns.contains($0) }.joined(separator: ", ")
        try await old.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS current", arguments: [current.path])
            try db.execute(sql: "INSERT INTO usage_records (\(v1Columns)) SELECT \(v1Columns) FROM current.usage_records")
            // v1's rollups have no resource_type key (v8 adds it): summed over it.
            let figures = StoreSchema.figureColumns
            let keys = "bucket, service, operation, category, provider, model, status"
            try db.execute(sql: """
                INSERT INTO rollup_day (\(keys), \(figures.joined(separator: ", ")))
                SELECT \(keys), \(figures.map { "SUM(\($0))" }.joined(separator: ", ")) FROM current.rollup_day GROUP BY \(keys)
                """)
            try db.execute(sql: "DETACH DATABASE current")
        }
        try old.close()

        let migrated = try SQLiteStore(path: oldPath, synchronous: .normal)
        for groupBy in [[], [ReportDimension.model], [.service, .status]] {
            let query = FigureQuery(from: now.addingTimeInterval(-9.5 * 86400), to: now, groupBy: groupBy)
            let expected = try await current.activeUsers(query, paying: nil, retention: RetentionPolicy(), now: now)
            let actual = try await migrated.activeUsers(query, paying: nil, retention: RetentionPolicy(), now: now)
            #expect(actual.groups.mapValues(\.count) == expected.groups.mapValues(\.count))
            #expect(!actual.groups.isEmpty && !actual.rounded)
            // The day rollups went through v8's rebuild (resource_type '' for every old row) unchanged.
            let days = FigureQuery(from: Date(unixMilliseconds: Granularity.day.bucket(now.addingTimeInterval(-9 * 86400).unixMilliseconds)),
                                   to: Date(unixMilliseconds: Granularity.day.bucket(now.unixMilliseconds)), groupBy: groupBy)
            let before = try await current.figures(days, retention: RetentionPolicy(), now: now)
            let after = try await migrated.figures(days, retention: RetentionPolicy(), now: now)
            #expect(after.groups == before.groups && !after.groups.isEmpty)
            let byType = try await migrated.figures(FigureQuery(from: days.from, to: days.to, groupBy: [.resourceType]), retention: RetentionPolicy(), now: now)
            #expect(Array(byType.groups.keys) == [[""]])
        }
        // Later, raw records older than 5 days are gone: before the oldest raw record at the upgrade
        // the upgraded store has only rollups, so that part is flagged instead of counted as no users.
        let shortRaw = RetentionPolicy(rawDays: 5, minuteRollupDays: 2, hourRollupDays: 5)
        let older = FigureQuery(from: now.addingTimeInterval(-30.5 * 86400), to: now)  // whole UTC days, then hours
        #expect(try await migrated.activeUsers(older, paying: nil, retention: shortRaw, now: now).rounded)
        #expect(try await !current.activeUsers(older, paying: nil, retention: shortRaw, now: now).rounded)
    }
}
