import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Price changes at run time")
struct PricesAPITests {
    static func cost(of id: String, _ store: any UsageStore) async throws -> Int64? {
        let store = store as! SQLiteStore
        return try await store.database.read { db in try Int64.fetchOne(db, sql: "SELECT cost_nano FROM usage_records WHERE id = ?", arguments: [id]) }
    }

    @Test func putChangesTheNextRecordAndNotEarlierOnes() async throws {
        let database = temporaryDirectory().appendingPathComponent("prices.sqlite")
        try await withLiveServer(testConfig(database: database)) { components, client in
            let record = { (id: String) in #"{"id":"\#(id)","operation":"chat","model":"gpt-4o-mini","input_tokens":1000000,"output_tokens":1000000}"# }
            try await client.post("/v1/usage", json: record("before"))
            #expect(try await Self.cost(of: "before", components.store) == 750_000_000)  // 1M×0.15 + 1M×0.60

            let put = try await client.execute(uri: "/v1/prices/gpt-4o-mini", method: .put, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"provider":"openai","input":1,"output":2,"source":"test"}"#))
            #expect(put.status == .ok, "\(put.text)")
            try await client.post("/v1/usage", json: record("after"))
            #expect(try await Self.cost(of: "after", components.store) == 3_000_000_000)  // 1M×1 + 1M×2
            #expect(try await Self.cost(of: "before", components.store) == 750_000_000)

            let shown = try await client.get("/v1/prices/openai/gpt-4o-mini-2024-07-18")
            #expect(shown.status == .ok)
            #expect(try shown.json()["model"] as? String == "gpt-4o-mini")

            let invalid = try await client.execute(uri: "/v1/prices/x", method: .put, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"input":-1}"#))
            #expect(invalid.status == .badRequest)
            #expect((try invalid.json()["error"] as? String)?.contains("non-negative") == true)
        }
        // The change is persisted: a restarted server prices with it.
        try await withLiveServer(testConfig(database: database)) { components, client in
            try await client.post("/v1/usage", json: #"{"id":"restarted","operation":"chat","model":"gpt-4o-mini","input_tokens":1000000}"#)
            #expect(try await Self.cost(of: "restarted", components.store) == 1_000_000_000)
        }
    }

    @Test func datedPutAppliesFromItsDateAndDeleteRemovesIt() async throws {
        let switchDate = Granularity.day.bucket(Date().addingTimeInterval(-10 * 86400).unixMilliseconds)
        let validFrom = RFC3339.format(milliseconds: switchDate)
        let justBefore = RFC3339.format(milliseconds: switchDate - 1000)
        try await withLiveServer(testConfig()) { components, client in
            let put = try await client.execute(uri: "/v1/prices/house-model", method: .put, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"input":10,"valid_from":"\#(validFrom)"}"#))
            #expect(put.status == .ok)
            let posted = try await client.post("/v1/usage", json: """
                [{"id":"old","operation":"a","model":"house-model","input_tokens":1000,"timestamp":"\(justBefore)"},
                 {"id":"new","operation":"a","model":"house-model","input_tokens":1000,"timestamp":"\(validFrom)"}]
                """)
            #expect(try posted.json()["accepted"] as? Int == 2)
            let unpriced = try await (components.store as! SQLiteStore).database.read { db in
                try Bool.fetchOne(db, sql: "SELECT unpriced FROM usage_records WHERE id = 'old'")
            }
            #expect(unpriced == true)
            #expect(try await PricesAPITests.cost(of: "new", components.store) == 10_000_000)  // 1000 × $10 per 1M
            let deleted = try await client.execute(uri: "/v1/prices/house-model", method: .delete)
            #expect(deleted.status == .ok)
            #expect(try await client.get("/v1/prices/house-model").status == .notFound)
        }
    }

    @Test func importsALiteLLMFileOverHTTP() async throws {
        try await withLiveServer(testConfig()) { components, client in
            let file = #"""
                {"sample_spec": {"input_cost_per_token": 0},
                 "acme/tiny": {"input_cost_per_token": 2e-07, "output_cost_per_token": 8e-07, "litellm_provider": "acme", "mode": "chat"},
                 "no-price": {"max_tokens": 10}}
                """#
            let response = try await client.post("/v1/prices/import", json: file)
            #expect(response.status == .ok)
            #expect(try response.json()["imported"] as? Int == 1)
            try await client.post("/v1/usage", json: #"{"id":"t","operation":"a","model":"acme/tiny","input_tokens":1000,"output_tokens":1000}"#)
            #expect(try await PricesAPITests.cost(of: "t", components.store) == 1_000_000)  // 1000×2e-7 + 1000×8e-7 USD = 0.001 USD
            let bad = try await client.post("/v1/prices/import", json: "[1,2]")
            #expect(bad.status == .badRequest)
        }
    }
}
