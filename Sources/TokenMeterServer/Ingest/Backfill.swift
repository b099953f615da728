import TokenMeterCore
import Foundation

/// `tokenmeter ingest FILE.ndjson`: normalizes, prices and commits an NDJSON file straight into the
/// store in batches, with the same idempotency as the HTTP API.
public struct Backfill: Sendable {
    public struct Progress: Sendable {
        public var bytesRead: Int
        public var totalBytes: Int
        public var lines: Int
        public var elapsed: Double

        public var recordsPerSecond: Double { elapsed > 0 ? Double(lines) / elapsed : 0 }
        public var etaSeconds: Double? {
            guard bytesRead > 0, elapsed > 0 else { return nil }
            return elapsed * Double(totalBytes - bytesRead) / Double(bytesRead)
        }
    }

    public struct Summary: Sendable, Equatable {
        public var accepted = 0
        public var duplicates = 0
        public var rejected = 0
        /// (line number, message) of rejected lines, the first `listedErrors`.
        public var errors: [(line: Int, message: String)] = []

        public static func == (a: Summary, b: Summary) -> Bool {
            a.accepted == b.accepted && a.duplicates == b.duplicates && a.rejected == b.rejected
                && a.errors.map(\.line) == b.errors.map(\.line) && a.errors.map(\.message) == b.errors.map(\.message)
        }
    }

    public let store: any RecordWriter
    public let pricing: PricingService
    public let normalizer: RecordNormalizer
    public var batchSize = 1000
    public var listedErrors = 100

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    public init(store: any RecordWriter, pricing: PricingService, normalizer: RecordNormalizer) {
        self.store = store
        self.pricing = pricing
        self.normalizer = normalizer
    }

    public func run(file: String, progress: (Progress) -> Void = { _ in }) async throws -> Summary {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw CatalogError("cannot open \(file)") }
        defer { try? handle.close() }
        let totalBytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        let start = ContinuousClock.now
        var summary = Summary()
        var batch: [PricedRecord] = []
        var pending: [UInt8] = []
        var lineNumber = 0
        var bytesRead = 0

        func flush() async throws {
            guard !batch.isEmpty else { return }
            for outcome in try await store.commit(batch) {
                if outcome == .accepted { summary.accepted += 1 } else { summary.duplicates += 1 }
            }
            batch.removeAll(keepingCapacity: true)
            progress(Progress(bytesRead: bytesRead, totalBytes: totalBytes, lines: lineNumber, elapsed: Self.seconds(ContinuousClock.now - start)))
        }
        func take(_ line: ArraySlice<UInt8>) {
            lineNumber += 1
            guard line.contains(where: { $0 != 32 && $0 != 9 && $0 != 13 }) else { return }
            switch JSONValue.parse(line).flatMap(normalizer.normalize).flatMap(pricing.priceWithinLimits) {
            case .success(let record):
                batch.append(record)
            case .failure(let error):
                summary.rejected += 1
                if summary.errors.count < listedErrors { summary.errors.append((lineNumber, error.message)) }
            }
        }

        while true {
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            bytesRead += chunk.count
            pending.append(contentsOf: chunk)
            var lineStart = pending.startIndex
            while let newline = pending[lineStart...].firstIndex(of: 10) {
                take(pending[lineStart..<newline])
                lineStart = newline + 1
                if batch.count >= batchSize { try await flush() }
            }
            pending.removeSubrange(..<lineStart)
        }
        if !pending.isEmpty { take(pending[...]) }
        try await flush()
        return summary
    }
}
