import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

@Suite("Metrics recorded per batch")
struct BatchRecordingTests {
    /// Summing a batch per label set before touching the counters gives the same exposition as
    /// recording every record on its own (counters, token types, errors, unpriced, histograms).
    @Test func aBatchExposesTheSameSeriesAsItsRecordsOneByOne() {
        var generator = RandomUsage(rng: SeededGenerator(seed: 5), start: Date(timeIntervalSince1970: 1_764_000_000), span: 86_400)
        let records = (0..<3000).map { generator.record(id: "m\($0)") }
        let oneByOne = UsageMetrics(version: "test")
        for record in records where record.record.status != .pending { oneByOne.record(record) }
        let batched = UsageMetrics(version: "test")
        for start in stride(from: 0, to: records.count, by: 700) {
            batched.record(batch: records[start..<min(start + 700, records.count)])
        }
        let expected = String(decoding: oneByOne.exposition(), as: UTF8.self)
        let actual = String(decoding: batched.exposition(), as: UTF8.self)
        #expect(expected.contains("tokenmeter_request_duration_seconds_bucket"))
        let (a, e) = (Self.samples(actual), Self.samples(expected))
        // Cost and credits are Double counters: the batch adds one exact sum where one by one adds
        // each record's float, so they may differ in the last bits.
        let differing = Set(a.keys).union(e.keys).filter { key in
            guard let x = a[key], let y = e[key] else { return true }
            return abs(x - y) > 1e-9 * max(1, abs(y))
        }.sorted()
        #expect(a.count == e.count && a.count > 1000)
        #expect(differing.isEmpty, "\(differing.prefix(5).map { "\($0): batch \(a[$0] ?? -1), one by one \(e[$0] ?? -1)" })")
    }

    /// Past the cardinality guard, the overflow counter still counts folded records, not batches.
    @Test func overflowsAreCountedPerRecordInABatch() {
        var generator = RandomUsage(rng: SeededGenerator(seed: 9), start: Date(timeIntervalSince1970: 1_764_000_000), span: 86_400)
        let records = (0..<500).map { i -> PricedRecord in
            var r = generator.record(id: "o\(i)", status: .success)
            r.model = "model-\(i % 7)"  // 7 models, 3 admitted
            return r
        }
        let limits = MetricsLimits(maxValuesPerLabel: 3, maxSeriesPerMetric: 10_000)
        let oneByOne = UsageMetrics(limits: limits, version: "test")
        for record in records { oneByOne.record(record) }
        let batched = UsageMetrics(limits: limits, version: "test")
        batched.record(batch: records)
        let overflow = #"tokenmeter_label_overflow_total{label="model"}"#
        let expected = Self.samples(String(decoding: oneByOne.exposition(), as: UTF8.self))[overflow]
        #expect(expected != nil && expected! > 100)
        #expect(Self.samples(String(decoding: batched.exposition(), as: UTF8.self))[overflow] == expected)
    }

    /// Sample lines by series.
    static func samples(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }
}
