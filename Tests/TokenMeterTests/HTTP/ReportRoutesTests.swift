import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

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
        // Strict names: a misspelled parameter or filter is never silently ignored.
        ("/v1/reports/summary?modle=gpt-4o", "modle: unknown parameter (valid: range, from, to, tz, currency, format, group_by, limit, service,"),
        ("/v1/reports/summary?range=24h&user_ids=u1", "user_ids: unknown parameter"),
        ("/v1/reports/timeseries?intervl=hour", "intervl: unknown parameter (valid: range, from, to, tz, currency, format, group_by, limit, interval,"),
        ("/v1/reports/economics?group_by=model", "group_by: unknown parameter (valid: range, from, to, tz, currency, format, limit,"),
        ("/v1/reports/monitoring?range=7d&group_by=model", "group_by: unknown parameter (valid: range, tz, format)"),
        ("/v1/reports/monitoring?tz=Mars/Olympus", "tz: 'Mars/Olympus' is not an IANA time zone"),
        ("/v1/reports/monitoring?format=xml", "format: 'xml' must be json or csv"),
        ("/v1/users/u1/usage?user=u2", "user: unknown parameter"),
        ("/v1/reports/summary?from=2026-11-01T00:00:00+3:00", "from: '2026-11-01T00:00:00 3:00' is not an RFC 3339 timestamp"),
        ("/v1/reports/economics?limit=5000", "limit: 5000 is more than the 1000 groups"),
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
            #expect(lines.first?.hasPrefix("from,to,tz,rounded,active_users_rounded,covered_from,covered_to,row,model,user,other,requests,errors,success_rate") == true)
            #expect(lines.count == 5)  // header, totals, three groups
            #expect(csv.text.contains(",group,gpt-4o-mini,u1,false,1,0,1.0,1000000,0,0,0,0,1000000,0.150000000,150000000,5.0,0,1,100.0"))

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

extension ReportRoutesTests {
    @Test func aPlusOffsetTheDatedModelNameAndTheQueryZoneAreHonoured() async throws {
        try await withLiveServer(testConfig()) { _, client in
            let now = Date()
            let posted = try await client.post("/v1/usage", json: """
                [{"id":"d1","service":"bot","operation":"chat","model":"gpt-4o-2024-08-06","input_tokens":10,"user_id":"u1"},
                 {"id":"d2","service":"bot","operation":"chat","model":"gpt-4o","input_tokens":10,"user_id":"u2"},
                 {"id":"d3","service":"bot","operation":"chat","model":"gpt-4o-mini","input_tokens":10,"user_id":"u2"}]
                """)
            #expect(posted.status.code < 300, "\(posted.text)")
            for filter in ["gpt-4o-2024-08-06", "gpt-4o", "GPT-4o", "openai/gpt-4o"] {
                let response = try await client.get("/v1/reports/summary?range=1h&model=\(filter)")
                let totals = try #require(try response.json()["totals"] as? [String: Any])
                #expect(totals["requests"] as? Int == 2, "model=\(filter)")
            }
            // A literal + in the offset (form decoding reads it as a space) is still an offset.
            let from = RFC3339.format(now.addingTimeInterval(-3600)).prefix(19) + "+00:00"
            let plus = try await client.get("/v1/reports/summary?from=\(from)")
            #expect(plus.status == .ok)
            #expect(try plus.json()["from"] as? String == String(from.prefix(19)) + "Z")
            let encoded = try await client.get("/v1/reports/summary?from=\(String(from.prefix(19)))%2B00:00")
            #expect(try encoded.json()["from"] as? String == String(from.prefix(19)) + "Z")
            let monitoring = try await client.get("/v1/reports/monitoring?range=7d&tz=Asia/Kolkata")
            let json = try monitoring.json()
            #expect(json["tz"] as? String == "Asia/Kolkata")
            let days = try #require((json["api_costs"] as? [String: Any])?["by_day"] as? [[String: Any]])
            let calendar = ReportCalendar(timeZone: TimeZone(identifier: "Asia/Kolkata")!)
            #expect(days.last?["date"] as? String == calendar.dateLabel(now))
        }
    }

    @Test func aDailyLimitCountsSuccessfulCallsOfTheConfiguredLocalDay() async throws {
        var config = testConfig()
        let zone = TimeZone(identifier: "Pacific/Kiritimati")!  // +14: its day never matches UTC's
        config.timeZone = zone
        try await withLiveServer(config) { _, client in
            let put = try await client.execute(uri: "/v1/prices/suno", method: .put, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"provider":"suno","category":"audio_gen","request":0.04,"daily_limit":5}"#))
            #expect(put.status == .ok)
            let now = Date()
            let configured = ReportCalendar(timeZone: zone).startOfDay(now)
            let utc = ReportCalendar(timeZone: .gmt).startOfDay(now)
            // A call between the two midnights is today in exactly one of the zones.
            let between = Date(timeIntervalSince1970: (min(configured, utc).timeIntervalSince1970 + max(configured, utc).timeIntervalSince1970) / 2)
            let posted = try await client.post("/v1/usage", json: """
                [{"id":"s1","operation":"song","model":"suno","user_id":"u9"},
                 {"id":"s2","operation":"song","model":"suno","user_id":"u9","status":"error","error_type":"Timeout"},
                 {"id":"s3","operation":"song","model":"suno","user_id":"u9","status":"pending"},
                 {"id":"s4","operation":"song","model":"suno","user_id":"u9","timestamp":"\(RFC3339.format(between))"}]
                """)
            #expect(posted.status.code < 300, "\(posted.text)")
            let json = try await client.get("/v1/users/u9/usage?range=7d&tz=UTC").json()
            #expect(json["limits_tz"] as? String == "Pacific/Kiritimati" && json["tz"] as? String == "UTC")
            let suno = try #require((json["models"] as? [[String: Any]])?.first { $0["model"] as? String == "suno" })
            let used = 1 + (between >= configured ? 1 : 0)  // successes only, in the configured day
            #expect(suno["daily_limit"] as? Int == 5 && suno["used_today"] as? Int == used && suno["remaining"] as? Int == 5 - used)
        }
    }

    @Test func emptyBlocksHaveNullRatios() async throws {
        try await withLiveServer(testConfig()) { _, client in
            let summary = try await client.get("/v1/reports/summary?range=1h")
            let totals = try #require(try summary.json()["totals"] as? [String: Any])
            #expect(totals["success_rate"] is NSNull && totals["avg_duration_ms"] is NSNull && totals["requests"] as? Int == 0)
            let monitoring = try await client.get("/v1/reports/monitoring?range=24h").json()
            let unit = try #require(monitoring["unit_economics"] as? [String: Any])
            #expect(unit["cost_per_active_user"] is NSNull && unit["cost_per_paying_user"] is NSNull)
            let errors = try #require(monitoring["error_stats"] as? [String: Any])
            #expect(errors["error_rate"] is NSNull && errors["avg_response_time_ms"] is NSNull)
            let economics = try await client.get("/v1/reports/economics?range=24h").json()
            let unpriced = try #require(economics["unpriced"] as? [String: Any])
            #expect(unpriced["share_of_requests"] is NSNull && unpriced["share_of_tokens"] is NSNull)
        }
    }

    /// RFC 4180 fields of one CSV text (quoted fields may hold commas, quotes and newlines).
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = Array(text).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    let next = iterator.next()
                    if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                } else { field.append(c) }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",": row.append(field); field = ""
            case "\n": row.append(field); rows.append(row); row = []; field = ""
            default: field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    /// A JSON value as its CSV text: null is empty, numbers compare as numbers.
    static func same(_ csv: String, _ json: Any?) -> Bool {
        if json == nil || json is NSNull { return csv.isEmpty }
        if let string = json as? String { return csv == string }
        if csv == "true" || csv == "false" { return (json as? Bool) == (csv == "true") }
        func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= 1e-12 * max(1, abs(b)) } ?? false }
        if let number = json as? NSNumber { return close(Double(csv), number.doubleValue) }
        if let number = json as? Double { return close(Double(csv), number) }
        if let number = json as? Int { return Double(csv) == Double(number) }
        return false
    }

    /// Every leaf of a JSON answer by path (`a.b.0.c`), as the CSV of a nested report lists them.
    static func leaves(_ value: Any, _ path: String = "", into result: inout [String: Any]) {
        if let dictionary = value as? [String: Any] {
            for (key, item) in dictionary { leaves(item, path.isEmpty ? key : path + "." + key, into: &result) }
        } else if let array = value as? [Any] {
            for (index, item) in array.enumerated() { leaves(item, path + ".\(index)", into: &result) }
        } else {
            result[path] = value
        }
    }

    @Test(arguments: [
        "/v1/reports/summary?range=1h",
        "/v1/reports/summary?range=1h&group_by=model,user&limit=2&currency=RUB",
        "/v1/reports/summary?range=1h&group_by=plan&tz=Asia/Kolkata",
        "/v1/reports/timeseries?range=24h&interval=hour&group_by=model&currency=RUB",
        "/v1/reports/timeseries?range=7d&interval=day&group_by=user&limit=1&tz=America/Santiago",
        "/v1/users/u1/usage?range=24h&currency=RUB",
        "/v1/reports/monitoring?range=7d&tz=Australia/Lord_Howe",
        "/v1/reports/economics?range=24h&limit=1",
    ])
    func csvCarriesEverythingTheJSONCarries(path: String) async throws {
        var config = testConfig()
        config.currencyRates = ["RUB": 100]
        config.creditValueUSD = 0.01
        try await withLiveServer(config) { _, client in
            try await client.post("/v1/usage", json: Self.records)
            try await client.post("/v1/usage", json: #"[{"id":"o","service":"bot","operation":"chat","model":"gpt-4o-mini","input_tokens":7,"user_id":"other","plan":"other"}]"#)
            // The same query twice: a fixed range instead of one ending now (monitoring only has rolling ranges).
            let now = Date()
            var fixed = path
            for (range, seconds) in [("range=1h", 3600.0), ("range=24h", 86400), ("range=7d", 7 * 86400)] where !path.contains("monitoring") {
                fixed = fixed.replacingOccurrences(of: range, with: "from=\(RFC3339.format(now.addingTimeInterval(-seconds)))&to=\(RFC3339.format(now.addingTimeInterval(60)))")
            }
            let json = try await client.get(fixed).json()
            let csv = try await client.get(fixed + "&format=csv")
            #expect(csv.status == .ok && csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let rows = Self.parseCSV(csv.text)
            let header = try #require(rows.first)
            if header == ["path", "value"] {
                var expected: [String: Any] = [:]
                Self.leaves(json, into: &expected)
                let listed = Dictionary(rows.dropFirst().map { ($0[0], $0[1]) }, uniquingKeysWith: { a, _ in a })
                #expect(Set(listed.keys) == Set(expected.keys), "\(path)")
                for (key, value) in expected where !(path.contains("monitoring") && (key == "from" || key == "to")) {
                    #expect(Self.same(listed[key] ?? "?", value), "\(path) \(key): \(listed[key] ?? "-") vs \(value)")
                }
                return
            }
            let records = rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
            // The figure blocks of the JSON answer, in order, with their range and group key.
            var blocks: [(from: Any?, to: Any?, flags: [String: Any], key: [String: String], other: Bool, row: String, figures: [String: Any])] = []
            func add(_ from: Any?, _ to: Any?, _ answer: [String: Any], totals: [String: Any], groups: [[String: Any]]) {
                let coverage = answer["coverage"] as? [String: Any] ?? [:]
                let flags: [String: Any] = ["rounded": answer["rounded"] as Any, "active_users_rounded": answer["active_users_rounded"] as Any,
                                            "covered_from": coverage["from"] as Any, "covered_to": coverage["to"] as Any]
                blocks.append((from, to, flags, [:], false, "total", totals))
                for group in groups {
                    blocks.append((from, to, flags, group["key"] as? [String: String] ?? [:], group["other"] as? Bool == true, "group", group))
                }
            }
            if let series = json["series"] as? [[String: Any]] {
                for bucket in series {
                    add(bucket["start"], bucket["end"], bucket, totals: bucket["totals"] as! [String: Any], groups: bucket["groups"] as! [[String: Any]])
                }
            } else if let models = json["models"] as? [[String: Any]] {
                add(json["from"], json["to"], json, totals: json["totals"] as! [String: Any], groups: models.map { m in
                    var g = m
                    g["key"] = ["model": m["model"] as! String]
                    return g
                })
            } else {
                add(json["from"], json["to"], json, totals: json["totals"] as! [String: Any], groups: json["groups"] as! [[String: Any]])
            }
            #expect(records.count == blocks.count, "\(path)")
            #expect(blocks.contains { $0.row == "group" } || !path.contains("group_by"))
            for (record, block) in zip(records, blocks) {
                #expect(Self.same(record["from"] ?? "?", block.from) && Self.same(record["to"] ?? "?", block.to), "\(path)")
                for (column, value) in block.flags { #expect(Self.same(record[column] ?? "?", value), "\(path) \(column)") }
                #expect(record["row"] == block.row && record["other"] == String(block.other), "\(path)")
                for (dimension, value) in block.key { #expect(record[dimension] == value, "\(path) \(dimension)") }
                for (field, value) in block.figures where !["key", "other", "model"].contains(field) {
                    #expect(Self.same(record[field] ?? "?", value), "\(path) \(field): \(record[field] ?? "missing") vs \(value)")
                }
                if path.contains("currency=RUB") { #expect(record["currency"] == "RUB" && record["cost"] != nil) }
            }
            // The summed rest is marked, so a real group named `other` stays a group.
            if path.contains("limit=") { #expect(records.contains { $0["other"] == "true" }, "\(path)") }
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
