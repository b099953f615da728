import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("credits_per_operation at run time")
struct OperationCreditsTests {
    @Test func concurrentChangesEndInMemoryAsTheStoreKeepsThem() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("c.sqlite").path, synchronous: .normal)
        let credits = OperationCredits(configured: ["workflow_execution": 0.001, "sync": 2])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask {
                    try await credits.apply(i % 2 == 0 ? "workflow_execution" : "op\(i % 5)",
                                            creditsMicro: i % 7 == 0 ? nil : Int64(i * 1000), repository: store)
                }
            }
            try await group.waitForAll()
        }
        let persisted = try await store.loadOperationCredits()
        #expect(credits.changed == persisted.mapValues { Money.value(fromMicro: $0) })
        // A restart replays the store over the configuration: the same map.
        let restarted = OperationCredits(configured: ["workflow_execution": 0.001, "sync": 2], changedMicro: persisted)
        #expect(restarted.effective == credits.effective)
        #expect(credits.operationCreditsMicro("sync") == 2_000_000)
    }

    @Test func removingARunTimeValueBringsBackTheConfiguredOne() async throws {
        let store = try SQLiteStore(path: temporaryDirectory().appendingPathComponent("d.sqlite").path, synchronous: .normal)
        let credits = OperationCredits(configured: ["workflow_execution": 0.001])
        try await credits.apply("workflow_execution", creditsMicro: 5000, repository: store)
        #expect(credits.operationCreditsMicro("workflow_execution") == 5000)
        try await credits.apply("workflow_execution", creditsMicro: nil, repository: store)
        #expect(credits.operationCreditsMicro("workflow_execution") == 1000 && credits.changed.isEmpty)
        #expect(try await store.loadOperationCredits().isEmpty)
    }

    @Test(arguments: [("", 1.0, "operation: must be 1 to 256 bytes"), ("x", -1.0, "credits: must be a number from 0"),
                      ("x", Double.nan, "credits: must be a number from 0"), ("x", 2e9, "credits: must be a number from 0")])
    func badValuesAreRefused(operation: String, value: Double, message: String) {
        #expect(OperationCredits.problem(operation: operation, credits: value)?.hasPrefix(message) == true)
        #expect(OperationCredits.problem(operation: "workflow_execution", credits: 0.001) == nil)
    }
}
