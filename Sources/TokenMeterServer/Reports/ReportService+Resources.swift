import TokenMeterCore
import Foundation

extension ReportService {
    public struct ResourceUsage: Encodable, Sendable {
        public struct Part: Encodable, Sendable {
            /// `model` or `operation` ("" for a metered action without a model).
            public var name: String
            public var key: String
            public var figures: FigureBlock

            public func encode(to encoder: any Encoder) throws {
                struct Key: CodingKey {
                    var stringValue: String
                    var intValue: Int? { nil }
                    init(stringValue: String) { self.stringValue = stringValue }
                    init?(intValue: Int) { nil }
                }
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(key, forKey: Key(stringValue: name))
                try figures.encode(to: encoder)
            }
        }

        public var resource_type: String
        public var resource_id: String
        public var from: String
        public var to: String
        public var tz: String
        public var rounded: Bool
        public var coverage: Coverage
        public var totals: FigureBlock
        public var cost_usd: Double
        public var cost_nano_usd: Int64
        public var credits: Double
        /// Start of the first and of the last completed call; the end of the call that ended last.
        @NullEncoded public var first_call_at: String?
        @NullEncoded public var last_call_at: String?
        @NullEncoded public var last_call_end_at: String?
        /// From the first call's start to the latest end, in milliseconds.
        @NullEncoded public var wall_span_ms: Double?
        /// Distinct user ids (sorted, at most 100) and how many there are.
        public var users: [String]
        public var user_count: Int
        public var by_model: [Part]
        public var by_operation: [Part]
    }

    /// `GET /v1/resources/{type}/{id}/usage`: one unit of work's exact totals (sums over its raw
    /// records), by model and by operation, with its first and last call and its users.
    /// Throws `notFound` (nil answer) when the range holds no completed call of it.
    public func resourceUsage(type: String, id: String, _ p: ReportParameters, now: Date) async throws -> ResourceUsage? {
        var parameters = p
        parameters.filters = [.resourceType: [type]]
        parameters.resourceIDs = [id]
        parameters.tags = [:]
        parameters.limit = nil
        parameters.groupBy = [.model]
        let byModel = try await summary(parameters, now: now)
        parameters.groupBy = [.operation]
        let byOperation = try await summary(parameters, now: now)
        let span = try await source.resourceSpan(type: type, id: id, from: p.from, to: p.to)
        guard byModel.totals.requests > 0 else { return nil }
        let wall = span.firstCall.flatMap { first in span.lastEnd.map { (($0.timeIntervalSince(first)) * 1000).rounded() } }
        return ResourceUsage(
            resource_type: type, resource_id: id, from: byModel.from, to: byModel.to, tz: byModel.tz, rounded: byModel.rounded,
            coverage: byModel.coverage, totals: byModel.totals, cost_usd: byModel.totals.cost_usd,
            cost_nano_usd: byModel.totals.cost_nano_usd, credits: byModel.totals.credits,
            first_call_at: span.firstCall.map(RFC3339.format), last_call_at: span.lastCall.map(RFC3339.format),
            last_call_end_at: span.lastEnd.map(RFC3339.format), wall_span_ms: wall,
            users: span.users, user_count: span.userCount,
            by_model: byModel.groups.map { .init(name: "model", key: $0.key["model"] ?? "", figures: $0.figures) },
            by_operation: byOperation.groups.map { .init(name: "operation", key: $0.key["operation"] ?? "", figures: $0.figures) })
    }
}
