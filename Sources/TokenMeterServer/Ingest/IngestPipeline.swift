import TokenMeterCore
import Foundation

/// The answer to POST /v1/usage (CONTRACT section 3).
public struct IngestSummary: Codable, Sendable, Equatable {
    public struct RecordError: Codable, Sendable, Equatable {
        public var index: Int
        public var error: String
    }

    /// A record accepted with usage fields tokenmeter did not understand (CONTRACT 1.2).
    public struct RecordWarning: Codable, Sendable, Equatable {
        public var index: Int
        /// Paths inside the usage object, sorted.
        public var unrecognized_usage: [String]
    }

    public var accepted = 0
    public var duplicates = 0
    public var rejected = 0
    public var errors: [RecordError] = []
    /// Present only when some record had unrecognized usage fields.
    public var warnings: [RecordWarning]?

    /// At most this many errors are listed; `rejected` still counts them all.
    static let listedErrors = 1000
}

/// Body → records → normalized → priced → committed by the writer.
public struct IngestPipeline: Sendable {
    public let normalizer: RecordNormalizer
    public let pricing: PricingService
    public let queue: WriteQueue
    public let metrics: UsageMetrics

    public init(normalizer: RecordNormalizer, pricing: PricingService, queue: WriteQueue, metrics: UsageMetrics) {
        self.normalizer = normalizer
        self.pricing = pricing
        self.queue = queue
        self.metrics = metrics
    }

    /// Throws `WriteQueue.SubmitError` or `StoreUnavailable` when valid records could not be committed.
    public func ingest(body: [UInt8], format: IngestBody.Format) async throws -> IngestSummary {
        try await ingest(elements: IngestBody.elements(of: body, format: format))
    }

    /// Records already split out of a body (or mapped from OTLP spans), each still to normalize.
    public func ingest(elements: [Result<JSONValue, NormalizationError>]) async throws -> IngestSummary {
        var summary = IngestSummary()
        var priced: [PricedRecord] = []
        var warnings: [IngestSummary.RecordWarning] = []
        for (index, element) in elements.enumerated() {
            switch element.flatMap(normalizer.normalize).flatMap(pricing.priceWithinLimits) {
            case .success(let record):
                priced.append(record)
                if !record.record.unrecognizedUsage.isEmpty, warnings.count < IngestSummary.listedErrors {
                    warnings.append(.init(index: index, unrecognized_usage: record.record.unrecognizedUsage.keys.sorted()))
                }
            case .failure(let error):
                summary.rejected += 1
                if summary.errors.count < IngestSummary.listedErrors {
                    summary.errors.append(.init(index: index, error: error.message))
                }
            }
        }
        if !warnings.isEmpty { summary.warnings = warnings }
        if !priced.isEmpty {
            for outcome in try await queue.submit(priced) {
                if outcome == .accepted { summary.accepted += 1 } else { summary.duplicates += 1 }
            }
        }
        metrics.ingested(accepted: summary.accepted, duplicates: summary.duplicates, rejected: summary.rejected)
        return summary
    }
}
