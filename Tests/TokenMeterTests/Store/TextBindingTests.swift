import Foundation
import GRDB
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite

/// Text is bound to the record INSERT with SQLITE_STATIC from a `TextArena`: SQLite reads the bytes
/// when the statement steps, so nothing bound for a row may move or be overwritten before then.
@Suite("Text bound from the arena")
struct TextBindingTests {
    /// Values shorter than, as long as and longer than a block, in one row: every copy still holds its
    /// bytes after the whole row was copied, and none is a NULL pointer (which SQLite binds as NULL).
    @Test func aRowsCopiesStayPutUntilTheNextRow() {
        let arena = TextArena(blockSize: 8)
        let rows = [
            ["", "a", "1234567", "12345678", "123456789", String(repeating: "z", count: 30), "é✓", ""],
            ["next", String(repeating: "y", count: 17), "", "12345678"],
        ]
        for row in rows {
            arena.startRow()
            var copies: [(UnsafePointer<CChar>, Int)] = []
            for value in row {
                var value = value
                copies.append(value.withUTF8 { arena.copy($0) })
            }
            for (value, (pointer, count)) in zip(row, copies) {
                let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: count)
                #expect(Array(bytes) == Array(value.utf8), "\(value)")
            }
        }
    }

    /// Through the store: a batch of records whose text fields are empty, short, and up to the
    /// limits (a row with 16 KiB of metadata fills more than one of the arena's blocks), each read
    /// back as written, with '' kept apart from NULL.
    @Test func everyTextFieldOfABatchReadsBackAsWritten() async throws {
        let path = temporaryDirectory().appendingPathComponent("text.sqlite").path
        let store = try SQLiteStore(path: path, synchronous: .normal)
        let lengths = [0, 1, 100, 8 * 1024, RecordLimits.metadataBytes]
        var records: [UsageRecord] = []
        for (i, length) in lengths.enumerated() {
            for variant in 0..<3 {
                let filler = String(repeating: Character(UnicodeScalar(UInt8(97 + (i * 3 + variant) % 26))), count: max(0, length - 12))
                records.append(UsageRecord(
                    id: "text-\(i)-\(variant)-\(UUID().uuidString)", timestamp: Date(), userID: "user-\(variant)", plan: "plan-\(i)",
                    service: "svc-\(variant)", operation: "op", model: "model-\(i)", status: .error,
                    errorType: "type-\(i)", errorMessage: length == 0 ? "" : String(filler.prefix(RecordLimits.errorMessageBytes)),
                    metadataJSON: length == 0 ? nil : "{\"note\":\"\(filler)\"}",
                    resourceType: variant == 0 ? nil : "doc", resourceID: variant == 2 ? "r-\(filler.prefix(200))" : nil,
                    tags: variant == 1 ? ["k": String(filler.prefix(RecordLimits.tagValueBytes))] : [:]))
            }
        }
        _ = try await store.commit(records.map { CostCalculator.price($0, entry: nil) })
        let stored = try await store.database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM usage_records").map(RecordRow.record(from:))
        }
        let byID = Dictionary(uniqueKeysWithValues: stored.map { ($0.id, $0) })
        #expect(byID.count == records.count)
        for record in records {
            let back = try #require(byID[record.id])
            #expect(back.userID == record.userID && back.plan == record.plan && back.service == record.service)
            #expect(back.model == record.model && back.errorType == record.errorType)
            #expect(back.errorMessage == record.errorMessage, "\(record.id)")
            #expect(back.metadataJSON == record.metadataJSON, "\(record.id)")
            #expect(back.resourceType == record.resourceType && back.resourceID == record.resourceID && back.tags == record.tags)
        }
        try await store.close()
    }
}
