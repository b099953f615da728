import Foundation

/// The body of `PATCH /v1/usage/{id}` (CONTRACT 1.3): the final status and any usage, cost, credits,
/// duration and error fields. Fields it carries replace those of the pending record.
public struct RecordCompletion: Sendable, Equatable {
    public var status: RecordStatus
    /// The token-related fields as sent, merged over the pending record's counts when applied.
    public var tokenFields: [String: JSONValue]?
    public var units: UsageUnits?
    public var callerCostNanoUSD: Int64?
    public var creditsMicro: Int64?
    public var durationMs: Double?
    public var errorType: String?
    public var errorMessage: String?

    public init(status: RecordStatus, tokenFields: [String: JSONValue]? = nil, units: UsageUnits? = nil, callerCostNanoUSD: Int64? = nil,
                creditsMicro: Int64? = nil, durationMs: Double? = nil, errorType: String? = nil, errorMessage: String? = nil) {
        self.status = status
        self.tokenFields = tokenFields
        self.units = units
        self.callerCostNanoUSD = callerCostNanoUSD
        self.creditsMicro = creditsMicro
        self.durationMs = durationMs
        self.errorType = errorType
        self.errorMessage = errorMessage
    }

    /// The completed record; throws when the merged token counts are inconsistent.
    public func applied(to pending: UsageRecord) throws(NormalizationError) -> UsageRecord {
        var record = pending
        record.status = status
        if let tokenFields {
            var reader = FieldReader(tokenFields)
            var extras = UsageExtras()
            record.tokens = try RecordNormalizer().readTokens(&reader, object: tokenFields, over: pending.tokens, extras: &extras)
            if !extras.unrecognized.isEmpty { record.unrecognizedUsage = extras.unrecognized }
            record.routerCostNanoUSD = extras.routerCostUSD.map { Money.nanoUSD(fromUSD: $0) } ?? record.routerCostNanoUSD
        }
        record.units = units ?? record.units
        record.callerCostNanoUSD = callerCostNanoUSD ?? record.callerCostNanoUSD
        record.creditsMicro = creditsMicro ?? record.creditsMicro
        record.durationMs = durationMs ?? record.durationMs
        record.errorType = errorType ?? record.errorType
        record.errorMessage = errorMessage ?? record.errorMessage
        return record
    }
}

extension RecordNormalizer {
    static let tokenKeys: Set<String> = Set(explicitTokenFields + ProviderUsageShape.flatMarkers + ["usage", "usage_metadata", "usageMetadata", "total_tokens"])

    public func normalizeCompletion(_ value: JSONValue) -> Result<RecordCompletion, NormalizationError> {
        guard case .object(let object) = value else {
            return .failure(NormalizationError("body: must be a JSON object, got \(value.typeName)"))
        }
        do {
            var r = FieldReader(object)
            guard object["status"] != nil || object["success"] != nil else {
                throw NormalizationError("status: required (success or error)")
            }
            let status = try readStatus(&r)
            guard status != .pending else { throw NormalizationError("status: must be success or error to complete a record") }
            let tokenFields = object.filter { Self.tokenKeys.contains($0.key) }
            if !tokenFields.isEmpty {
                var reader = FieldReader(tokenFields)
                _ = try readTokens(&reader, object: tokenFields)
                for key in tokenFields.keys { _ = r.take(key) }
            }
            let units = object["units"] != nil ? try readUnits(&r) : nil
            let (cost, credits, duration, errorType, errorMessage) = try readOutcomeFields(&r)
            let unknown = object.keys.filter { !r.isConsumed($0) }.sorted()
            if let field = unknown.first {
                throw NormalizationError("\(field.prefix(64)): not a field a completion can change (status, usage and token fields, units, cost_usd, credits, duration_ms, error_type, error_message)")
            }
            return .success(RecordCompletion(status: status, tokenFields: tokenFields.isEmpty ? nil : tokenFields, units: units, callerCostNanoUSD: cost,
                                             creditsMicro: credits, durationMs: duration, errorType: errorType, errorMessage: errorMessage))
        } catch let error as NormalizationError {
            return .failure(error)
        } catch {
            return .failure(NormalizationError("\(error)"))
        }
    }
}

extension Date {
    public var unixMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
    public init(unixMilliseconds ms: Int64) { self.init(timeIntervalSince1970: Double(ms) / 1000) }
}
