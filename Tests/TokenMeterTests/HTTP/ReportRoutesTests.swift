import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TokenMeter

@Suite("Report routes")
struct ReportRoutesTests {
    static let records = #"""
        [{"id":"a","service":"bot","operation":"chat","model":"gpt-4o-mini","input_tokens":1000000,"user_id":"u1","plan":"pro","paying":true,"credits":5,"duration_ms":100},
         {"id":"b","service":"bot","operation":"horoscope","model":"gpt-4o-mini","output_tokens":1000000,"user_id":"u2","plan":"free","duration_ms":300},
         {"id":"c","service":"web","operation":"chat","model":"my-private-model","input_tokens":5,"user_id":"u1","plan":"pro","paying":true,"status":"error","error_type":"Timeout"}]
        """#

    @Test(arguments: [
        ("/v1/reports/summary?range=2w", "range: unknown range '2w'"),
        ("/v1/reports/summary?group_by=model,colour", "group_by: unknown dimension 'colour'"),
        ("/v1/reports/summary?from=2026-11-20T00:00:00Z&to=2026-11-10T00:00:00Z", "is not before to"),
        ("/v1/reports/summary?from=yesterday", "from: 'yesterday' is not an RFC 3339 timestamp"),
        ("/v1/reports/summary?range=7d&from=2026-11-20T00:00:00Z", "give either range or from/to"),
        ("/v1/reports/summary?tz=Mars/Olympus", "tz: 'Mars/Olympus' is not an IANA time zone"),
        ("/v1/reports/summary?limit=0", "limit: '0' must be a positive integer"),
        ("/v1/reports/summary?currency=XYZ", "currency: no rate configured for 'XYZ'"),
        ("/v1/reports/summary?format=xml", "format: 'xml' must be json or csv"),
        ("/v1/reports/timeseries?interval=fortnight", "interval: 'fortnight' must be hour, day, week or month"),
        ("/v1/reports/timeseries?range=90d&interval=hour", "more than 2000 hour buckets"),
        ("/v1/reports/monitoring?range=1y", "range: '1y' must be 24h, 7d or 30d"),
        ("/v1/users/u1/usage?range=forever", "range: unknown range 'forever'"),
    ])
    func invalidParametersAre400WithAMessage(path: String, message: String) async throws {
        try await withLiveServer(testConfig()) { _, client in
            let response = try await client.get(path)
            #expect(response.status == .badRequest)
            let error = try response.json()["error"] as? String ?? ""
            #expect(error.contains(message), "\(error)")
        }
    }

    @Test func summaryGroupsCsvAndCurrency() async throws {
        var config = testConfig()
        config.currencyRates = ["RUB": 100]
        try await withLiveServer(config) { _, client in
            try await client.post("/v1/usage", json: Self.records)
            let summary = try await client.get("/v1/reports/summary?range=1h&group_by=model&currency=rub")
            #expect(summary.status == .ok)
            let json = try summary.json()
            let totals = try #require(json["totals"] as? [String: Any])
            for field in ["requests", "errors", "success_rate", "input_tokens", "cached_input_tokens", "cache_write_tokens",
                          "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "credits", "unpriced_requests",
                          "active_users", "avg_duration_ms"] {
                #expect(totals[field] != nil, "totals.\(field) missing")
            }
            #expect(totals["requests"] as? Int == 3 && totals["errors"] as? Int == 1 && totals["active_users"] as? Int == 2)
            #expect(totals["cost_usd"] as? Double == 0.75)  // 1M×0.15 + 1M×0.60
            #expect(totals["cost"] as? Double == 75 && totals["currency"] as? String == "RUB")
            #expect(totals["avg_duration_ms"] as? Double == 200)
            let groups = try #require(json["groups"] as? [[String: Any]])
            #expect(groups.map { ($0["key"] as? [String: String])?["model"] } == ["gpt-4o-mini", "my-private-model"])
            #expect(groups.last?["unpriced_requests"] as? Int == 1)

            let csv = try await client.get("/v1/reports/summary?range=1h&group_by=model,user&format=csv")
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = csv.text.split(separator: "\n")
            #expect(lines.first?.hasPrefix("model,user,requests,errors,success_rate") == true)
            #expect(lines.count == 4)
            #expect(csv.text.contains("gpt-4o-mini,u1,1,0,1.0,1000000,0,0,0,0,1000000,0.150000000,5.0,0,1,100.0"))

            let byPlan = try await client.get("/v1/reports/summary?range=1h&group_by=plan&plan=pro")
            let planGroups = try #require(try byPlan.json()["groups"] as? [[String: Any]])
            #expect(planGroups.count == 1 && planGroups.first?["requests"] as? Int == 2)

            let series = try await client.get("/v1/reports/timeseries?range=24h&interval=hour")
            #expect(series.status == .ok)
            let buckets = try #require(try series.json()["series"] as? [[String: Any]])
            #expect(buckets.count >= 24 && buckets.count <= 25)
            #expect(buckets.compactMap { ($0["totals"] as? [String: Any])?["requests"] as? Int }.reduce(0, +) == 3)
        }
    }

    @Test func monitoringHasTheContractShape() async throws {
        try await withLiveServer(testConfig()) { _, client in
            try await client.post("/v1/usage", json: Self.records)
            let response = try await client.get("/v1/reports/monitoring?range=7d")
            #expect(response.status == .ok)
            let json = try response.json()
            let users = try #require(json["active_users"] as? [String: Any])
            #expect(users["dau"] as? Int == 2 && users["wau"] as? Int == 2 && users["mau"] as? Int == 2)
            let costs = try #require(json["api_costs"] as? [String: Any])
            #expect(costs["total_cost"] as? Double == 0.75 && costs["total_requests"] as? Int == 3)
            #expect(costs["total_tokens"] as? Int == 2_000_005)
            let byOperation = try #require(costs["by_operation"] as? [[String: Any]])
            #expect(Set(byOperation.compactMap { $0["operation"] as? String }) == ["chat", "horoscope"])
            let byDay = try #require(costs["by_day"] as? [[String: Any]])
            #expect(byDay.count >= 7 && byDay.compactMap { $0["requests"] as? Int }.reduce(0, +) == 3)
            let economics = try #require(json["unit_economics"] as? [String: Any])
            #expect(economics["active_users"] as? Int == 2 && economics["active_paying_users"] as? Int == 1)
            #expect(economics["cost_per_active_user"] as? Double == 0.375 && economics["cost_per_paying_user"] as? Double == 0.75)
            #expect(economics["paying_users"] as? Int == 1 && economics["total_cost"] as? Double == 0.75)
            let errors = try #require(json["error_stats"] as? [String: Any])
            #expect(errors["error_count"] as? Int == 1)
            #expect(abs((errors["error_rate"] as? Double ?? 0) - 1.0 / 3) < 1e-12)
            #expect(errors["avg_response_time_ms"] as? Double == 200)
        }
    }

    @Test func userUsageShowsDailyLimits() async throws {
        try await withLiveServer(testConfig()) { _, client in
            let put = try await client.execute(uri: "/v1/prices/suno", method: .put, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"provider":"suno","category":"audio_gen","aliases":["suno-v4"],"request":0.04,"daily_limit":5,"credits_per_unit":10}"#))
            #expect(put.status == .ok)
            try await client.post("/v1/usage", json: """
                [{"operation":"song","model":"suno","user_id":"u9","plan":"unlimited"},
                 {"operation":"song","model":"suno-v4","user_id":"u9","plan":"unlimited"},
                 {"operation":"chat","model":"gpt-4o-mini","user_id":"u9","input_tokens":10,"credits":1}]
                """)
            let response = try await client.get("/v1/users/u9/usage?range=24h")
            #expect(response.status == .ok)
            let json = try response.json()
            #expect(json["credits_charged"] as? Double == 21)
            let models = try #require(json["models"] as? [[String: Any]])
            let suno = try #require(models.first { $0["model"] as? String == "suno" })
            #expect(suno["daily_limit"] as? Int == 5 && suno["used_today"] as? Int == 2 && suno["remaining"] as? Int == 3)
            #expect(suno["cost_usd"] as? Double == 0.08 && suno["credits"] as? Double == 20)
            #expect(models.first { $0["model"] as? String == "gpt-4o-mini" }?["daily_limit"] == nil)
        }
    }
}

@Suite("Unit economics")
struct EconomicsTests {
    @Test func creditsVersusCostPerPlanModelTopUsersAndUnpricedShare() async throws {
        var config = testConfig()
        config.creditValueUSD = 0.1
        try await withLiveServer(config) { _, client in
            try await client.post("/v1/usage", json: ReportRoutesTests.records)
            let response = try await client.get("/v1/reports/economics?range=24h")
            #expect(response.status == .ok)
            let json = try response.json()
            let plans = try #require(json["by_plan"] as? [[String: Any]])
            let pro = try #require(plans.first { $0["key"] as? String == "pro" })
            #expect(pro["cost_usd"] as? Double == 0.15 && pro["credits"] as? Double == 5 && pro["active_users"] as? Int == 1)
            #expect(pro["credits_per_usd"] as? Double == 5 / 0.15)
            #expect(abs((pro["margin_usd"] as? Double ?? 0) - (5 * 0.1 - 0.15)) < 1e-12)
            #expect(pro["cost_per_active_user"] as? Double == 0.15)
            let top = try #require(json["top_users"] as? [[String: Any]])
            #expect(top.map { $0["user_id"] as? String } == ["u2", "u1"])  // u2 spent 0.60, u1 0.15
            let unpriced = try #require(json["unpriced"] as? [String: Any])
            #expect(unpriced["requests"] as? Int == 1 && unpriced["models"] as? [String] == ["my-private-model"])
            #expect(abs((unpriced["share_of_requests"] as? Double ?? 0) - 1.0 / 3) < 1e-12)
        }
    }
}
