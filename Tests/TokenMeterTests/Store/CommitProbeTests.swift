import Foundation
import GRDB
import Synchronization
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite

/// The check after each commit (`CommitProbe`): a commit the file system failed around is a
/// permanent fault, never a success. The real fault (ext4, journal aborted mid-sync) is run by
/// Tests/e2e/test_store_faults.py; here the probe is the store's real fallocate one, or a stand-in
/// that says what a failed file system says.
@Suite("Commit probe")
struct CommitProbeTests {
    static func record(_ id: String) -> PricedRecord {
        CostCalculator.price(UsageRecord(id: id, idWasGiven: true, timestamp: Date(), operation: "chat", model: "m",
                                         status: .success, tokens: TokenCounts(input: 10)), entry: nil)
    }

    static func storedIDs(_ store: SQLiteStore) async throws -> [String] {
        try await store.database.read { try String.fetchAll($0, sql: "SELECT id FROM usage_records ORDER BY seq") }
    }

    @Test func aCommitTheFileSystemFailedAroundIsAPermanentFaultAndStopsLaterWrites() async throws {
        let failing = Atomic<Bool>(false)
        let probed = Atomic<Int>(0)
        let path = try temporaryDirectory().appendingPathComponent("p.sqlite").path
        let store = try SQLiteStore(path: path, idKey: RecordIDKey.key, probe: { _ in
            .success(CommitProbe {
                probed.add(1, ordering: .relaxed)
                return failing.load(ordering: .relaxed) ? "Read-only file system" : nil
            })
        })
        #expect(try await store.commit([Self.record("a")]) == [.accepted])
        #expect(probed.load(ordering: .relaxed) == 1)

        failing.store(true, ordering: .relaxed)
        await #expect {
            _ = try await store.commit([Self.record("b")])
        } throws: { error in
            guard let fault = error as? StoreFault, fault.isPermanent else { return false }
            return "\(fault)".contains("may not be on disk") && "\(fault)".contains("Read-only file system")
        }
        #expect(store.condition().fault?.isPermanent == true)

        // Latched: the file system answering again does not make the store write again.
        failing.store(false, ordering: .relaxed)
        let probesBefore = probed.load(ordering: .relaxed)
        await #expect(throws: StoreFault.self) { _ = try await store.commit([Self.record("c")]) }
        await #expect(throws: StoreFault.self) { try await store.probeWrite(now: Date()) }
        #expect(probed.load(ordering: .relaxed) == probesBefore, "a latched store does not even begin a write")
        // SQLite did commit "b"; whether it is on disk is what the fault left open.
        #expect(try await Self.storedIDs(store) == ["a", "b"])
    }

    /// Each kind of write commits through one of the two guarded paths; each is probed once per
    /// commit, after it.
    @Test func everyKindOfWriteIsProbed() async throws {
        let probed = Atomic<Int>(0)
        let path = try temporaryDirectory().appendingPathComponent("k.sqlite").path
        let store = try SQLiteStore(path: path, idKey: RecordIDKey.key, probe: { _ in
            .success(CommitProbe { probed.add(1, ordering: .relaxed); return nil })
        })
        func probes(_ write: () async throws -> Void) async throws -> Int {
            let before = probed.load(ordering: .relaxed)
            try await write()
            return probed.load(ordering: .relaxed) - before
        }
        #expect(try await probes { _ = try await store.commit([Self.record("a")]) } == 1)
        #expect(try await probes { _ = try await store.commit((0..<50).map { Self.record("b\($0)") }) } == 1)
        #expect(try await probes { try await store.probeWrite(now: Date()) } == 1)
        #expect(try await probes { _ = try await store.prune(retention: RetentionPolicy(), now: Date()) } >= 1)
    }

    @Test func theFallocateProbeChangesNoByteNextToLiveConnections() async throws {
        let path = try temporaryDirectory().appendingPathComponent("f.sqlite").path
        let store = try SQLiteStore(path: path)
        #expect(store.commitProbe != nil, "this file system has fallocate: \(store.commitCheck)")
        #expect(store.commitCheck.contains("probed"))
        _ = try await store.commit((0..<200).map { Self.record("r\($0)") })
        let probe = try CommitProbe.fallocate(path: path).get()
        let before = try Self.blocksAndBytes(path)
        for _ in 0..<3 { #expect(probe.fileSystemFailure() == nil) }
        let after = try Self.blocksAndBytes(path)
        #expect(after.size == before.size)
        #expect(after.blocks == before.blocks)
        #expect(after.bytes == before.bytes)
        // The store still writes and reads after probes on its file (its locks are intact).
        #expect(try await store.commit([Self.record("after")]) == [.accepted])
        #expect(try await Self.storedIDs(store).count == 201)
    }

    @Test func noProbeWithoutTheFileOrWithoutSyncedCommits() async throws {
        guard case .failure(.cannotOpen) = CommitProbe.fallocate(path: "/nonexistent/dir/x.sqlite") else {
            Issue.record("a probe for a file that does not exist")
            return
        }
        let normal = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("n.sqlite").path, synchronous: .normal)
        #expect(normal.commitProbe == nil)
        #expect(normal.commitCheck.contains("NORMAL"))
        let unsupported = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("u.sqlite").path, idKey: RecordIDKey.key,
                                          probe: { _ in .failure(.unsupported("Operation not supported")) })
        #expect(unsupported.commitProbe == nil)
        #expect(unsupported.commitCheck.contains("does not support fallocate"))
        #expect(try await unsupported.commit([Self.record("a")]) == [.accepted])
    }

    static func blocksAndBytes(_ path: String) throws -> (size: Int64, blocks: Int64, bytes: Data) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw StoreError("stat \(path) failed") }
        return (Int64(info.st_size), Int64(info.st_blocks), try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
