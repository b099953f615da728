import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Price resolve, update and layered import over HTTP")
struct PriceResolveUpdateTests {
    static func row(_ id: String, _ store: any UsageStore) async throws -> (match: String?, reason: String?, unpriced: Bool)? {
        try await (store as! SQLiteStore).database.read { db in
            try Row.fetchOne(db, sql: "SELECT price_match, unpriced_reason, unpriced FROM usage_records WHERE id = ?", arguments: [id])
                .map { ($0["price_match"], $0["unpriced_reason"], $0["unpriced"]) }
        }
    }

    @Test func resolveExplainsTheMatchAndStoredRecordsKeepIt() async throws {
        try await withLiveServer(testConfig()) { components, client in
            let hit = try await client.get("/v1/prices/resolve?model=anthropic/claude-3-5-haiku-20241022")
            #expect(hit.status == .ok)
            let answer = try hit.json()
            #expect(answer["resolved"] as? Bool == true)
            #expect(answer["model"] as? String == "claude-3-5-haiku")
            #expect(answer["rule"] as? String == "snapshot")
            #expect((answer["explanation"] as? String)?.contains("declares that its snapshots share its price") == true)
            #expect((answer["entry"] as? [String: Any])?["input"] as? Double == 0.8)

            let miss = try await client.get("/v1/prices/resolve?model=gpt-3.5-turbo-9999")
            #expect(miss.status == .ok)
            let missAnswer = try miss.json()
            #expect(missAnswer["resolved"] as? Bool == false)
            #expect((missAnswer["notes"] as? [String])?.first?.contains("snapshots_share_price") == true)
            #expect(try await client.get("/v1/prices/resolve").status == .badRequest)

            try await client.post("/v1/usage", json: """
                [{"id":"a","operation":"chat","model":"claude-3-5-haiku-20241022","input_tokens":10},
                 {"id":"b","operation":"video","model":"veo-3"},
                 {"id":"c","operation":"chat","model":"gpt-3.5-turbo-9999","input_tokens":10},
                 {"id":"d","operation":"chat","model":"gpt-4o","input_tokens":10,"cost_usd":0.5}]
                """)
            #expect(try await Self.row("a", components.store)! == ("snapshot", nil, false))
            let veo = try await Self.row("b", components.store)!
            #expect(veo.unpriced && veo.match == nil && veo.reason?.contains("units.seconds") == true)
            #expect(try await Self.row("c", components.store)! == (nil, "no price matches 'gpt-3.5-turbo-9999'", true))
            #expect(try await Self.row("d", components.store)!.match == "caller")

            // The reports say why.
            let economics = try await client.get("/v1/reports/economics?range=24h").json()
            let reasons = (economics["unpriced"] as? [String: Any])?["reasons"] as? [[String: Any]] ?? []
            #expect(reasons.contains { $0["model"] as? String == "veo-3" && ($0["reason"] as? String)?.contains("units.seconds") == true })
            #expect(reasons.contains { $0["model"] as? String == "gpt-3.5-turbo-9999" && $0["requests"] as? Int == 1 })
        }
    }

    @Test func updateDryRunListsChangesAndTheUpdateAppliesUnderOperatorChanges() async throws {
        let database = temporaryDirectory().appendingPathComponent("update.sqlite")
        let file = #"""
            {"catalog_version": "2099-01-01", "models": [
              {"model": "gpt-4o", "provider": "openai", "input": 2, "output": 8, "snapshots_share_price": true},
              {"model": "brand-new-model", "provider": "acme", "input": 1, "output": 1},
              {"model": "gpt-4o-mini", "provider": "openai", "input": 0.15, "cached_input": 0.075, "output": 0.6}
            ]}
            """#
        try await withLiveServer(testConfig(database: database)) { components, client in
            let put = try await client.execute(uri: "/v1/prices/gpt-4o-mini", method: .put, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"input":1,"output":1}"#))
            #expect(put.status == .ok)
            let dry = try await client.execute(uri: "/v1/prices/update?dry_run=true", method: .post,
                                               headers: [.contentType: "application/json"], body: ByteBuffer(string: file))
            #expect(dry.status == .ok, "\(dry.text)")
            let diff = try dry.json()
            #expect(diff["dry_run"] as? Bool == true)
            #expect(diff["new"] as? [String] == ["brand-new-model"])
            #expect(diff["changed"] as? [String] == ["gpt-4o", "gpt-4o-mini"])
            #expect((diff["removed"] as? [String])?.contains("claude-3-5-haiku") == true)
            #expect((diff["conflicts"] as? [String]) == ["gpt-4o-mini: the operator's own price stays in force over the updated one"])
            #expect(try await client.get("/v1/prices/resolve?model=brand-new-model").json()["resolved"] as? Bool == false)

            let applied = try await client.execute(uri: "/v1/prices/update", method: .post,
                                                   headers: [.contentType: "application/json"], body: ByteBuffer(string: file))
            #expect(applied.status == .ok)
            #expect(try await client.get("/v1/prices/resolve?model=brand-new-model").json()["resolved"] as? Bool == true)
            #expect(try await client.get("/v1/prices/resolve?model=claude-3-5-haiku").json()["resolved"] as? Bool == false)
            let mini = try await client.get("/v1/prices/resolve?model=gpt-4o-mini").json()
            #expect((mini["entry"] as? [String: Any])?["input"] as? Double == 1, "the operator's price stays over the update")
        }
        // Persisted: a restart keeps the updated shipped layer.
        try await withLiveServer(testConfig(database: database)) { _, client in
            let gpt4o = try await client.get("/v1/prices/resolve?model=gpt-4o-2024-11-20").json()
            #expect(gpt4o["rule"] as? String == "snapshot")
            #expect((gpt4o["entry"] as? [String: Any])?["input"] as? Double == 2)
            let old = try await client.execute(uri: "/v1/prices/update", method: .post, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"catalog_version": "2000-01-01", "models": [{"model": "x", "input": 1}]}"#))
            #expect(old.status == .badRequest)
            #expect((try old.json()["error"] as? String)?.contains("older than this binary's catalog") == true)
        }
    }

    @Test func anImportKeepsShippedNamesAndListsConflicts() async throws {
        let litellm = #"""
            {"gemini-2.5-flash": {"litellm_provider": "vertex_ai-language-models", "mode": "chat", "input_cost_per_token": 3e-07, "output_cost_per_token": 2.5e-06},
             "claude-3.5-haiku": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 9e-06, "output_cost_per_token": 9e-06},
             "vercel_ai_gateway/anthropic/claude-3-5-sonnet-20241022": {"litellm_provider": "vercel_ai_gateway", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
             "gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_token": 5e-06, "output_cost_per_image_token": 4e-05, "output_cost_per_image": 0.01},
             "gpt-4o-vision": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_image": 0.001}}
            """#
        try await withLiveServer(testConfig()) { components, client in
            let answer = try await client.execute(uri: "/v1/prices/import", method: .post, headers: [.contentType: "application/json"],
                                                  body: ByteBuffer(string: litellm))
            #expect(answer.status == .ok, "\(answer.text)")
            let body = try answer.json()
            let conflicts = body["conflicts"] as? [String] ?? []
            let skipped = body["skipped"] as? [String] ?? []
            #expect(conflicts.contains { $0.hasPrefix("gemini-2.5-flash: kept the shipped provider 'google'") })
            #expect(conflicts.contains { $0.hasPrefix("claude-3.5-haiku: is an alias of shipped claude-3-5-haiku") })
            #expect(skipped.contains { $0.hasPrefix("gpt-4o-vision: only a per-image price, and it is not an image model") })

            let flash = try await client.get("/v1/prices/resolve?model=gemini-2.5-flash").json()
            #expect((flash["entry"] as? [String: Any])?["provider"] as? String == "google")
            let haiku = try await client.get("/v1/prices/resolve?model=claude-3.5-haiku").json()
            #expect(haiku["model"] as? String == "claude-3-5-haiku")
            #expect((haiku["entry"] as? [String: Any])?["input"] as? Double == 0.8, "the shipped price: the import did not take the alias")
            let sonnet = try await client.get("/v1/prices/resolve?model=claude-3-5-sonnet-20241022").json()
            #expect(sonnet["model"] as? String == "claude-3-5-sonnet", "a reseller key never takes a first-party name")
            let image = try await client.get("/v1/prices/resolve?model=gpt-image-1").json()
            let entry = image["entry"] as? [String: Any]
            #expect(entry?["output"] as? Double == 40, "image-token output price, not $0")
        }
    }
}
