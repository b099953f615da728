import Benchmark
import Foundation
import TokenMeter
import TokenMeterBenchSupport

// In-process benchmarks of tokenmeter's hot paths (issue 7), through the public API of the
// TokenMeter library only. Run them with scripts/bench/ordo. Sizes come from the environment:
//   TOKENMETER_BENCH_RECORDS  records in the store of the summary benchmark (default 300000)
//   TOKENMETER_BENCH_DAYS     days those records are spread over, ending now (default 120)
//   TOKENMETER_BENCH_SERIES   series to reach in the /metrics registry (default 10000)
//   TOKENMETER_BENCH_DIR      parent folder of the temporary SQLite files (default: the system temp folder)
// What each setup built is written to standard error before its benchmark runs.

let benchmarks: @Sendable () -> Void = {
    // .instructions needs perf counters; where the kernel refuses them (this VM) the tool leaves
    // the row out rather than printing zeros. CPU time is read in 10 ms ticks here, so it is only
    // asked for where one iteration takes tens of milliseconds.
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident, .instructions]
    let seriesMetric = BenchmarkMetric.custom("series (sample lines)", polarity: .prefersSmaller, useScalingFactor: false)

    // 1. What POST /v1/usage does per record before the write queue, plus the metric update the
    // writer does after the commit: JSON bytes -> JSONValue -> UsageRecord -> PricedRecord -> counters.
    // One iteration is 1,000 records (scaled: the per-record figures are shown).
    Benchmark(
        "Ingest one record: parse, normalize, price, metrics",
        configuration: .init(metrics: metrics + [.cpuTotal], warmupIterations: 5, scalingFactor: .kilo,
                             maxDuration: .seconds(3), maxIterations: 100_000)
    ) { benchmark, state in
        for i in benchmark.scaledIterations {
            let body = state.bodies[i % state.bodies.count]
            switch JSONValue.parse(body).flatMap(state.normalizer.normalize).flatMap(state.pricing.priceWithinLimits) {
            case .success(let priced):
                state.metrics.record(priced)
                blackHole(priced)
            case .failure(let error):
                fatalError("a benchmark record was rejected: \(error)")
            }
        }
    } setup: {
        try IngestState()
    }

    // 2. The body of GET /metrics: the text exposition of a registry holding ~10k series
    // (sample lines), built within the cardinality guard's default limits.
    Benchmark(
        "Metrics exposition with 10k series",
        configuration: .init(metrics: metrics + [seriesMetric],
                             warmupIterations: 3, maxDuration: .seconds(3), maxIterations: 10_000)
    ) { benchmark, state in
        for _ in benchmark.scaledIterations {
            state.buffer.removeAll(keepingCapacity: true)
            state.metrics.registry.emit(into: &state.buffer)
            blackHole(state.buffer)
        }
        benchmark.measurement(seriesMetric, state.series)
    } setup: {
        MetricsState(targetSeries: Env.int("TOKENMETER_BENCH_SERIES", 10_000))
    }

    // 3. One group commit of the batch writer: 1,000 records (raw rows, minute/hour/day rollups,
    // user sets, lifetime totals) in one transaction into a real SQLite file, synchronous FULL as
    // the server's default. Generating the batch is outside the measurement; the file grows by
    // 1,000 records per iteration.
    Benchmark(
        "Store commit of 1000 records with rollups",
        configuration: .init(metrics: metrics + [.cpuTotal], warmupIterations: 3, maxDuration: .seconds(4), maxIterations: 1_000)
    ) { benchmark, state in
        let nowMs = Date().unixMilliseconds
        let batch = state.factory.records(count: 1_000, start: nowMs - 86_400_000, spanMs: 86_400_000)
        benchmark.startMeasurement()
        let outcomes = try await state.store.commit(batch)
        benchmark.stopMeasurement()
        precondition(outcomes.count == batch.count && outcomes.allSatisfy { $0 == .accepted }, "a fresh batch had duplicates")
        blackHole(outcomes)
    } setup: {
        try CommitState()
    } teardown: {
        Env.removeDirectory("commit")
    }

    // 4. GET /v1/reports/summary?range=30d&group_by=model over a store built once in setup
    // through store.commit, then pruned with the default retention (as tokenmeter-bench reports).
    Benchmark(
        "Report summary 30d by model",
        configuration: .init(metrics: metrics, warmupIterations: 3, maxDuration: .seconds(4), maxIterations: 1_000)
    ) { _, state in
        let summary = try await state.service.summary(state.parameters, now: state.now)
        blackHole(summary)
    } setup: {
        try await SummaryState(records: Env.int("TOKENMETER_BENCH_RECORDS", 300_000), days: Env.int("TOKENMETER_BENCH_DAYS", 120))
    } teardown: {
        Env.removeDirectory("summary")
    }
}

// MARK: - Setup states

/// Typical bodies as clients send them: OpenAI Chat, Anthropic (prompt cache), Gemini
/// (usage_metadata, integer user id, metadata) and a per-image model.
final class IngestState {
    static let bodies = [
        #"{"id":"gen-1","service":"bot","operation":"horoscope","model":"gpt-4o-mini","user_id":"42","plan":"pro","paying":true,"credits":2,"duration_ms":850,"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":200}}}"#,
        #"{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","service":"bot","operation":"chat","model":"claude-sonnet-4-20250514","user_id":"u-7","plan":"free","paying":false,"latency_ms":2300,"usage":{"input_tokens":40,"cache_read_input_tokens":2000,"cache_creation_input_tokens":500,"output_tokens":250}}"#,
        #"{"request_id":"b3f1c2d4-9a8e-4c1b-8f2e-1d2c3b4a5f60","service_name":"xray_analyzer","action":"analyze","model":"gemini-2.5-flash","user_id":1017,"category":"text_with_image","duration_ms":4100,"usage_metadata":{"promptTokenCount":1800,"cachedContentTokenCount":0,"candidatesTokenCount":420,"thoughtsTokenCount":96,"totalTokenCount":2316},"metadata":{"chat_id":"981273","locale":"en"}}"#,
        #"{"id":"img-77","service":"web","operation":"image","model":"dall-e-3","user_id":"u-3","units":{"images":1},"credits":5,"duration_ms":9200,"status":"completed"}"#,
    ].map { Array($0.utf8) }

    let bodies = IngestState.bodies
    let normalizer = RecordNormalizer()
    let pricing: PricingService
    let metrics = UsageMetrics()

    init() throws {
        pricing = PricingService(base: try DefaultCatalog.entries())
        for body in bodies {
            let priced = try JSONValue.parse(body).flatMap(normalizer.normalize).flatMap(pricing.priceWithinLimits).get()
            precondition(!priced.unpriced && priced.costNanoUSD > 0, "\(priced.model) is not priced by the default catalog")
            Env.log("ingest: \(priced.record.service)/\(priced.record.operation)/\(priced.model) (\(priced.provider)) -> \(Money.decimalString(nano: priced.costNanoUSD)) USD")
        }
    }
}

/// A registry filled through `UsageMetrics.record` with distinct service/operation/model label
/// sets (each with a duration, some with an error) until the exposition has `targetSeries` sample
/// lines. 8 services, 12 operations and 10 models: far below the guard's 200 values per label and
/// 2,500 label sets per metric, so nothing overflows to `__other__` (checked).
final class MetricsState {
    let metrics = UsageMetrics()
    var buffer: [UInt8] = []
    private(set) var series = 0

    init(targetSeries: Int) {
        let services = ["bot", "web", "xray_analyzer", "api", "mobile", "batch", "support", "search"]
        let operations = ["chat", "horoscope", "analyze", "summarize", "translate", "classify", "extract", "rewrite",
                          "title", "moderate", "suggest", "tag"]
        let models = ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "o3", "gpt-5-mini", "claude-sonnet-4", "claude-haiku-4-5",
                      "gemini-2.5-flash", "gemini-2.5-pro", "gpt-4.1-nano"]
        let errorTypes = ["rate_limit", "timeout", "server_error"]
        let pricing = PricingService(base: (try? DefaultCatalog.entries()) ?? [])
        let now = Date()
        var labelSets = 0
        outer: for service in services {
            for operation in operations {
                for model in models {
                    let usage = UsageRecord(timestamp: now, service: service, operation: operation, model: model,
                                            tokens: TokenCounts(input: 1200, cachedInput: 200, output: 300),
                                            creditsMicro: 2_000_000, durationMs: 850)
                    metrics.record(pricing.price(usage))
                    if labelSets % 10 == 0 {
                        var failed = usage
                        failed.status = .error
                        failed.errorType = errorTypes[(labelSets / 10) % errorTypes.count]
                        metrics.record(pricing.price(failed))
                    }
                    labelSets += 1
                    if labelSets % 10 == 0 {
                        series = Self.sampleLines(metrics.exposition())
                        if series >= targetSeries { break outer }
                    }
                }
            }
        }
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        series = Self.sampleLines(Array(text.utf8))
        precondition(series >= targetSeries, "only \(series) series from every label set")
        precondition(!text.contains("=\"__other__\""), "the cardinality guard folded a label set into __other__")
        buffer.reserveCapacity(text.utf8.count)
        Env.log("metrics: \(labelSets) label sets -> \(series) series (sample lines), \(text.utf8.count) bytes of exposition")
    }

    static func sampleLines(_ bytes: [UInt8]) -> Int {
        var count = 0
        var lineStart = true
        for byte in bytes {
            if lineStart && byte != UInt8(ascii: "#") && byte != UInt8(ascii: "\n") { count += 1 }
            lineStart = byte == UInt8(ascii: "\n")
        }
        return count
    }
}

final class CommitState {
    let store: SQLiteStore
    var factory = RecordFactory(seed: 11)

    init() throws {
        let path = try Env.makeDirectory("commit") + "/commit.sqlite"
        store = try SQLiteStore(path: path, synchronous: .full)
        Env.log("commit: \(path), synchronous FULL")
    }
}

final class SummaryState {
    let service: ReportService
    let parameters: ReportParameters
    let now: Date

    init(records: Int, days: Int) async throws {
        let path = try Env.makeDirectory("summary") + "/reports.sqlite"
        let nowMs = Date().unixMilliseconds
        now = Date(unixMilliseconds: nowMs)
        let spanMs = Int64(days) * 86_400_000
        let retention = RetentionPolicy()
        let store = try SQLiteStore(path: path, synchronous: .normal)
        var factory = RecordFactory(seed: 7)
        let started = ContinuousClock.now
        var written = 0
        while written < records {
            let n = min(5_000, records - written)
            _ = try await store.commit(factory.records(count: n, start: nowMs - spanMs, spanMs: spanMs, offset: written, total: records))
            written += n
        }
        let pruned = try await store.prune(retention: retention, now: now)
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        service = ReportService(source: store, retention: retention)
        parameters = try ReportParameters.parse(["range": "30d", "group_by": "model"], defaultTimeZone: TimeZone(identifier: "UTC")!,
                                                currencyRates: [:], now: now)
        let summary = try await service.summary(parameters, now: now)
        let size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1_048_576
        Env.log("summary: built \(records) records over \(days) days via store.commit (batches of 5000, NORMAL) in ~\(Int(seconds)) s, "
            + "pruned \(pruned.records) raw records older than \(retention.rawDays) days, file \(size) MiB; "
            + "30d summary: \(summary.totals.requests) requests, \(summary.groups.count) models, \(summary.totals.active_users) active users")
    }
}

// MARK: - Environment

enum Env {
    static func int(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0.replacingOccurrences(of: "_", with: "")) } ?? fallback
    }

    /// One folder per benchmark and process, so concurrent runs never share a database file.
    static func directory(_ name: String) -> String {
        let parent = ProcessInfo.processInfo.environment["TOKENMETER_BENCH_DIR"] ?? NSTemporaryDirectory()
        return (parent as NSString).appendingPathComponent("tokenmeter-ordo-\(name)-\(ProcessInfo.processInfo.processIdentifier)")
    }

    static func makeDirectory(_ name: String) throws -> String {
        let path = directory(name)
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func removeDirectory(_ name: String) {
        try? FileManager.default.removeItem(atPath: directory(name))
    }

    static func log(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
