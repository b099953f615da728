import ArgumentParser
import Foundation
import GRDB
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer
import TokenMeterBenchSupport

/// Issue 5: 30- and 90-day summaries grouped by model over a large store, next to a plain GROUP BY
/// over the raw table on the same database.
struct ReportsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports",
        abstract: "Summary report latency (30 and 90 days, grouped by model) next to a plain GROUP BY over usage_records."
    )

    @Option(help: "Records in the store (spread over --days days ending now).")
    var records = 10_000_000

    @Option(help: "Days the records are spread over.")
    var days = 120

    @Option(help: "Database file (keep it outside the repository).")
    var db = "/work/bench-data/reports.sqlite"

    @Flag(help: "Reuse the database at --db if it exists instead of building it.")
    var reuse = false

    @Option(help: "Records per store.commit while building.")
    var buildBatch = 5000

    @Option(help: "Repetitions of each summary (median and p90 reported).")
    var repeats = 20

    @Option(help: "Repetitions of each raw GROUP BY (median reported).")
    var rawRepeats = 3

    @Option(help: "Distinct users in the generated records.")
    var users = 10_000

    @Option(help: "Append tab-separated result lines to this file (for scripts/bench/run).")
    var resultsTsv: String?

    var nowFile: String { db + ".now" }

    func run() async throws {
        let retention = RetentionPolicy()
        let now: Date
        if reuse, FileManager.default.fileExists(atPath: db), let text = try? String(contentsOfFile: nowFile, encoding: .utf8),
           let ms = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            now = Date(unixMilliseconds: ms)
            log("reusing \(db) built for now = \(RFC3339.format(now))")
        } else {
            now = try await build(retention: retention)
        }
        let store = try SQLiteStore(path: db, synchronous: .normal)
        let info = try await store.database.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM usage_records") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rollup_minute") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rollup_hour") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rollup_day") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM user_ordinals") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM user_sets_hour") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM user_sets_day") ?? 0)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: db)[.size] as? Int) ?? 0
        log("store: \(info.0) raw records (90 days kept), rollup rows minute \(info.1) / hour \(info.2) / day \(info.3), user ordinals \(info.4), user sets hour \(info.5) / day \(info.6), file \(size / 1_048_576) MiB")
        print("Store: \(format(Double(records))) records generated over \(days) days, pruned to raw \(retention.rawDays) days: \(format(Double(info.0))) raw records, rollup rows minute \(format(Double(info.1))) / hour \(format(Double(info.2))) / day \(format(Double(info.3))), \(format(Double(info.4))) user ordinals, user-set rows hour \(format(Double(info.5))) / day \(format(Double(info.6))), file \(size / 1_048_576) MiB.")
        print("")

        let service = ReportService(source: store, retention: retention)
        var table: [String] = []
        var breakdown: [String] = []
        for rangeDays in [30, 90] {
            let from = now.addingTimeInterval(-Double(rangeDays) * 86400)
            // As the HTTP route builds them: ?range=30d&group_by=model (from = now - 30 days, to = now).
            let parameters = try ReportParameters.parse(["range": "\(rangeDays)d", "group_by": "model"],
                                                        defaultTimeZone: TimeZone(identifier: "UTC")!, currencyRates: [:], now: now)
            precondition(parameters.from == from && parameters.to == now && parameters.groupBy == [.model])
            // Warm-up (page cache, statement cache), not counted.
            let summary = try await service.summary(parameters, now: now)
            var times: [Double] = []
            for _ in 0..<repeats {
                times.append(try await Timing.measure { _ = try await service.summary(parameters, now: now) })
            }
            // Where the summary's time goes: the same calls it makes, timed one by one.
            let query = FigureQuery(from: from, to: now, groupBy: [.model])
            var figureTimes: [Double] = [], userTimes: [Double] = []
            for _ in 0..<max(3, repeats / 4) {
                figureTimes.append(try await Timing.measure { _ = try await store.figures(query, retention: retention, now: now) })
                userTimes.append(try await Timing.measure { _ = try await store.activeUsers(query, paying: nil, retention: retention, now: now) })
            }
            // Reference: the same question as a plain GROUP BY over the raw table.
            let (sql, arguments) = Self.rawSQL(from: from, to: now)
            var reference: [Row] = []
            var rawTimes: [Double] = []
            for _ in 0..<rawRepeats {
                rawTimes.append(try Timing.measure { reference = try store.database.read { try Row.fetchAll($0, sql: sql, arguments: arguments) } })
            }
            let (usersSQL, _) = Self.rawUsersSQL(from: from, to: now)
            var rawUserTimes: [Double] = []
            for _ in 0..<rawRepeats {
                rawUserTimes.append(try Timing.measure { _ = try store.database.read { try Row.fetchAll($0, sql: usersSQL, arguments: arguments) } })
            }
            let median = Timing.median(times), p90 = Timing.percentile(times, 90), rawMedian = Timing.median(rawTimes)
            let rawUsersMedian = Timing.median(rawUserTimes)
            log("\(rangeDays)d: summary median \(format(median * 1000, 2)) ms p90 \(format(p90 * 1000, 2)) ms; raw GROUP BY median \(format(rawMedian * 1000, 1)) ms (\(rawTimes.map { format($0 * 1000, 0) }.joined(separator: ", ")))")
            table.append("| \(rangeDays) days | \(format(median * 1000, 2)) | \(format(p90 * 1000, 2)) | \(format(rawMedian * 1000, 1)) | \(format(rawMedian / median, 1))x | \(format(rawUsersMedian * 1000, 1)) | \(format(rawUsersMedian / median, 1))x |")
            try ResultsFile(path: resultsTsv).append(
                "\(rangeDays)-day summary by model, \(format(Double(records))) records", value: format(median * 1000, 2), unit: "ms (median)",
                reference: "raw GROUP BY model with COUNT(DISTINCT user_id)", referenceValue: format(rawUsersMedian * 1000, 1) + " ms",
                ratio: format(rawUsersMedian / median, 0) + "x faster", target: "< 20 ms and >= 100x")
            breakdown.append("| \(rangeDays) days | \(format(Timing.median(figureTimes) * 1000, 2)) | \(format(Timing.median(userTimes) * 1000, 2)) | \(format(rawMedian / Timing.median(figureTimes), 0))x |")

            // Do the two answers agree? Requests, cost and active users per model.
            var mismatches: [String] = []
            let rawUsers = try store.database.read { try Row.fetchAll($0, sql: usersSQL, arguments: arguments) }
            for row in rawUsers {
                let model: String = row["model"], users: Int = row["users"]
                if byModelUsers(summary)[model] != users {
                    mismatches.append("\(model): summary \(byModelUsers(summary)[model] ?? -1) active users vs raw \(users)")
                }
            }
            let byModel = Dictionary(uniqueKeysWithValues: summary.groups.map { ($0.key["model"] ?? "", $0.figures) })
            for row in reference {
                let model: String = row["model"], requests: Int64 = row["requests"], cost: Int64 = row["cost_nano"]
                let figures = byModel[model]
                if figures?.requests != requests || figures?.cost_nano_usd != cost {
                    mismatches.append("\(model): summary \(figures.map { "\($0.requests) req, \($0.cost_nano_usd) nano" } ?? "missing") vs raw \(requests) req, \(cost) nano")
                }
            }
            if byModel.count != reference.count { mismatches.append("summary has \(byModel.count) models, raw \(reference.count)") }
            let total = reference.reduce(Int64(0)) { $0 + ($1["requests"] as Int64) }
            let verdict = mismatches.isEmpty
                ? "agree: \(reference.count) models, \(format(Double(total))) requests, requests, cost_nano and active users equal per model"
                : "DISAGREE: " + mismatches.joined(separator: "; ")
            print("\(rangeDays)-day answers \(verdict)")
            log("\(rangeDays)-day answers \(verdict)")
        }
        print("")
        print("| range | summary median ms | summary p90 ms | raw GROUP BY median ms | raw / summary | raw GROUP BY + COUNT(DISTINCT user_id) median ms | that / summary |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for line in table { print(line) }
        print("")
        print("Breakdown (medians of the calls summary makes):")
        print("")
        print("| range | store.figures ms | store.activeUsers (per model and total, one pass) ms | raw GROUP BY / figures |")
        print("|---|---:|---:|---:|")
        for line in breakdown { print(line) }
        print("")
        print("Query plans:")
        let (usersSQL, arguments) = Self.rawUsersSQL(from: now.addingTimeInterval(-30 * 86400), to: now)
        let (sql, _) = Self.rawSQL(from: now.addingTimeInterval(-30 * 86400), to: now)
        for (name, text) in [("raw GROUP BY", sql), ("raw GROUP BY + COUNT(DISTINCT user_id)", usersSQL)] {
            let plan = try store.database.read { try Row.fetchAll($0, sql: "EXPLAIN QUERY PLAN " + text, arguments: arguments) }
            print("- \(name): " + plan.map { $0["detail"] as String }.joined(separator: "; "))
        }
        try store.closeDatabase()
    }

    func byModelUsers(_ summary: ReportService.Summary) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: summary.groups.map { ($0.key["model"] ?? "", $0.figures.active_users) })
    }

    static func rawSQL(from: Date, to: Date) -> (String, StatementArguments) {
        ("""
        SELECT model, COUNT(*) AS requests, SUM(status = 'error'), SUM(input_tokens), SUM(cached_input_tokens),
            SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(cost_nano) AS cost_nano,
            SUM(credits_micro), SUM(unpriced), SUM(coalesce(duration_us, 0)), COUNT(duration_us)
        FROM usage_records WHERE ts >= ? AND ts < ? AND status != 'pending' GROUP BY model
        """, [from.unixMilliseconds, to.unixMilliseconds])
    }

    /// The raw query that also answers active users per model, as the summary does.
    static func rawUsersSQL(from: Date, to: Date) -> (String, StatementArguments) {
        ("""
        SELECT model, COUNT(*) AS requests, SUM(status = 'error'), SUM(input_tokens), SUM(cached_input_tokens),
            SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(cost_nano) AS cost_nano,
            SUM(credits_micro), SUM(unpriced), SUM(coalesce(duration_us, 0)), COUNT(duration_us), COUNT(DISTINCT user_id) AS users
        FROM usage_records WHERE ts >= ? AND ts < ? AND status != 'pending' GROUP BY model
        """, [from.unixMilliseconds, to.unixMilliseconds])
    }

    /// Writes the store through `store.commit` (raw records and rollups, as production), then prunes
    /// with the default retention. Returns the `now` the data ends at.
    func build(retention: RetentionPolicy) async throws -> Date {
        try FileManager.default.createDirectory(atPath: (db as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        removeDatabase(db)
        try? FileManager.default.removeItem(atPath: nowFile)
        let nowMs = Date().unixMilliseconds
        let now = Date(unixMilliseconds: nowMs)
        let spanMs = Int64(days) * 86_400_000
        let store = try SQLiteStore(path: db, synchronous: .normal)
        var factory = RecordFactory(seed: 7, users: users)
        let started = ContinuousClock.now
        var written = 0
        var generating = 0.0
        var lastReport = started
        var windowStart = (started, 0)
        while written < records {
            let n = min(buildBatch, records - written)
            let genStart = ContinuousClock.now
            let batch = factory.records(count: n, start: nowMs - spanMs, spanMs: spanMs, offset: written, total: records)
            generating += Timing.seconds(ContinuousClock.now - genStart)
            _ = try await store.commit(batch)
            written += n
            let t = ContinuousClock.now
            if Timing.seconds(t - lastReport) >= 15 || written == records {
                let windowRate = Double(written - windowStart.1) / Timing.seconds(t - windowStart.0)
                log("build: \(written) records, \(format(Timing.seconds(t - started), 0)) s, current \(format(windowRate)) records/s (generation \(format(generating, 1)) s so far)")
                lastReport = t
                windowStart = (t, written)
            }
        }
        let buildSeconds = Timing.seconds(ContinuousClock.now - started)
        let pruneSeconds = try await Timing.measure {
            let summary = try await store.prune(retention: retention, now: now)
            log("prune: \(summary.records) raw records, \(summary.minuteRows) minute rows, \(summary.hourRows) hour rows")
        }
        try await store.database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try store.closeDatabase()
        try String(nowMs).write(toFile: nowFile, atomically: true, encoding: .utf8)
        let line = "Build: \(format(Double(records))) records through store.commit in batches of \(buildBatch) (synchronous NORMAL) in \(format(buildSeconds, 0)) s (\(format(Double(records) / buildSeconds)) records/s including \(format(generating, 0)) s of record generation); prune with the default retention \(format(pruneSeconds, 1)) s."
        log(line)
        print(line)
        return now
    }
}
