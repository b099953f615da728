import Foundation

/// Turns one client JSON object into a `UsageRecord`: CONTRACT sections 1, 1.1 and 1.2.
/// Pure: time comes from the injected clock.
public struct RecordNormalizer: Sendable {
    /// Oldest accepted timestamp, as an age (the raw-retention period).
    public var maxAge: TimeInterval
    public var now: @Sendable () -> Date

    public init(maxAge: TimeInterval = 90 * 86400, now: @escaping @Sendable () -> Date = Date.init) {
        self.maxAge = maxAge
        self.now = now
    }

    static let explicitTokenFields = ["input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens", "reasoning_tokens"]

    /// Keys under which a record carries the provider's usage object (whole response objects too).
    static let usageKeys = ["usage", "usage_metadata", "usageMetadata"]

    /// Prompt, completion and transport fields of a whole provider response object (OpenAI, Anthropic,
    /// Gemini, Bedrock), dropped from a record that carries a usage object: their text is never stored.
    static let responseContentKeys: Set<String> = [
        "choices", "candidates", "content", "output", "output_text", "messages", "response", "input", "instructions",
        "tools", "system", "prompt_feedback", "promptFeedback", "automatic_function_calling_history",
        "automaticFunctionCallingHistory", "sdk_http_response", "sdkHttpResponse", "parsed",
    ]

    public func normalize(_ value: JSONValue) -> Result<UsageRecord, NormalizationError> {
        guard case .object(let object) = value else {
            return .failure(NormalizationError("record: must be a JSON object, got \(value.typeName)"))
        }
        do {
            return .success(try normalize(object: object))
        } catch {
            return .failure(error)
        }
    }

    func normalize(object: [String: JSONValue]) throws(NormalizationError) -> UsageRecord {
        var r = FieldReader(object)
        if LiteLLMPayload.isStandardLoggingPayload(r) {
            return try normalize(object: LiteLLMPayload.record(from: object))
        }
        let receivedAt = now()
        // Looked up through the reader: hashing every probed name was the top of the ingest profile.
        if Self.usageKeys.contains(where: { UsageValue.isPresent(r.peek($0)) }) {
            for key in Self.responseContentKeys { _ = r.take(key) }
        }

        let givenID = try r.string("id", "generation_id", "request_id", "response_id", "responseId", maxBytes: RecordLimits.idBytes, allowNumber: true)
        let timestamp = try readTimestamp(&r, receivedAt: receivedAt)
        let userID = try r.string("user_id", maxBytes: RecordLimits.idBytes, allowNumber: true)
        let plan = try r.string("plan")
        let paying = try r.bool("paying")
        let service = try r.string("service", "service_name") ?? "default"
        guard let operation = try r.string("operation", "service_action", "action", "action_type") else {
            throw NormalizationError("operation: required (or one of service_action, action, action_type)")
        }
        let category = try readCategory(&r)
        let provider = try r.string("provider")?.lowercased()
        // A metered action without a model (`category: other`) is stored with model ""; pricing
        // then needs its credits or cost (or the operation's configured credits).
        let givenModel = try r.string("model", "model_id", "ai_model", "model_version", "modelVersion")
        guard let model = givenModel ?? (category == .other ? "" : nil) else {
            throw NormalizationError("model: required (or model_id, ai_model, model_version); only a metered action with category \"other\" and credits or cost_usd may omit it")
        }
        let resource = try ResourceFields.read(&r)
        let tags = try ResourceFields.readTags(&r)
        let status = try readStatus(&r)
        var extras = UsageExtras()
        let tokens = try readTokens(&r, object: object, extras: &extras)
        let units = try readUnits(&r)
        let (cost, credits, duration, errorType, errorMessage) = try readOutcomeFields(&r)
        let routerCost = try r.number("router_cost_usd", max: RecordLimits.maxCostUSD) ?? extras.routerCostUSD
        let metadata = try readMetadata(&r, object: object)

        if status == .pending && givenID == nil {
            throw NormalizationError("id: required when status is pending (PATCH /v1/usage/{id} completes it)")
        }
        return UsageRecord(
            id: givenID ?? RecordID.generate(), idWasGiven: givenID != nil, timestamp: timestamp,
            userID: userID, plan: plan, paying: paying, service: service, operation: operation,
            category: category, provider: provider, model: model, status: status, tokens: tokens,
            units: units, callerCostNanoUSD: cost, creditsMicro: credits, durationMs: duration,
            errorType: errorType, errorMessage: errorMessage, metadataJSON: metadata,
            unrecognizedUsage: extras.unrecognized, routerCostNanoUSD: routerCost.map { Money.nanoUSD(fromUSD: $0) },
            resourceType: resource?.type, resourceID: resource?.id, tags: tags
        )
    }

    private func readTimestamp(_ r: inout FieldReader, receivedAt: Date) throws(NormalizationError) -> Date {
        guard let (key, value) = r.take(["timestamp", "created_at"]) else { return receivedAt }
        let date: Date
        switch value {
        case .string(let text):
            guard let parsed = RFC3339.parse(text) else {
                throw NormalizationError("\(key): '\(text.prefix(64))' is not an RFC 3339 timestamp (e.g. 2025-01-31T12:00:00Z)")
            }
            date = parsed
        case .int, .double:
            let seconds = try FieldReader.number(value, field: key, max: 1e15)
            date = Date(timeIntervalSince1970: seconds)
        default:
            throw NormalizationError("\(key): must be an RFC 3339 string or Unix seconds, got \(value.typeName)")
        }
        if date.timeIntervalSince(receivedAt) > RecordLimits.futureSkew {
            let hint = date.timeIntervalSince1970 > 1e11 ? " (Unix seconds expected; was it milliseconds?)" : ""
            throw NormalizationError("\(key): \(RFC3339.format(date)) is more than 5 minutes in the future\(hint)")
        }
        if receivedAt.timeIntervalSince(date) > maxAge {
            throw NormalizationError("\(key): \(RFC3339.format(date)) is older than the raw retention of \(Int(maxAge / 86400)) days")
        }
        return date
    }

    private func readCategory(_ r: inout FieldReader) throws(NormalizationError) -> UsageCategory? {
        guard let (key, value) = r.take(["category", "operation_category", "category_code"]) else { return nil }
        guard case .string(let text) = value else {
            throw NormalizationError("\(key): must be a string, got \(value.typeName)")
        }
        guard let category = UsageCategory(rawValue: text.lowercased()) else {
            let allowed = UsageCategory.allCases.map(\.rawValue).joined(separator: ", ")
            throw NormalizationError("\(key): unknown category '\(text.prefix(64))' (expected one of \(allowed))")
        }
        return category
    }

    func readStatus(_ r: inout FieldReader) throws(NormalizationError) -> RecordStatus {
        let success = try r.bool("success")
        guard let (key, value) = r.take("status") else {
            return success == false ? .error : .success
        }
        guard case .string(let text) = value else {
            throw NormalizationError("\(key): must be a string, got \(value.typeName)")
        }
        switch text.lowercased() {
        // `incomplete`: an OpenAI Responses object cut short (e.g. by max_output_tokens), billed
        // like a completed one; `cancelled`: a Responses call stopped before it finished.
        case "success", "completed", "ok", "incomplete": return .success
        case "error", "failed", "failure", "cancelled", "canceled": return .error
        case "pending": return .pending
        default:
            throw NormalizationError("status: unknown status '\(text.prefix(64))' (expected success, error or pending)")
        }
    }

    /// The record's token counts; fields the object does not give keep their value in `base`.
    func readTokens(_ r: inout FieldReader, object: [String: JSONValue], over base: TokenCounts = TokenCounts()) throws(NormalizationError) -> TokenCounts {
        var extras = UsageExtras()
        return try readTokens(&r, object: object, over: base, extras: &extras)
    }

    /// As above; `extras` gets the unrecognized usage fields and a router's cost.
    func readTokens(_ r: inout FieldReader, object: [String: JSONValue], over base: TokenCounts = TokenCounts(),
                    extras: inout UsageExtras) throws(NormalizationError) -> TokenCounts {
        var fromUsage: ParsedUsage?
        if let (key, value) = r.take(Self.usageKeys) {
            guard case .object(let usage) = value else {
                throw NormalizationError("\(key): must be an object, got \(value.typeName)")
            }
            fromUsage = try ParsedUsage.parse(usage, prefix: "\(key).")
        }
        // Usage fields laid out at the top level (a logger that spread the provider's usage object).
        var flat: ParsedUsage?
        if ProviderUsageShape.flatMarkers.contains(where: { UsageValue.isPresent(r.peek($0)) }) {
            flat = try ParsedUsage.parse(object, prefix: "", scanUnknown: false)
            for key in flat?.consumedKeys ?? [] { _ = r.take(key) }
        }
        func explicit(_ name: String) throws(NormalizationError) -> Int64? {
            if flat?.consumedKeys.contains(name) == true { return nil }
            return try r.count(name)
        }
        let input = try explicit("input_tokens")
        let cached = try explicit("cached_input_tokens")
        let cacheWrite = try explicit("cache_write_tokens")
        let cacheWrite1h = try explicit("cache_write_1h_tokens")
        let output = try explicit("output_tokens")
        let reasoning = try explicit("reasoning_tokens")
        _ = r.take("total_tokens")

        var tokens = base
        tokens.input = input ?? flat?.input ?? fromUsage?.input ?? base.input
        // `prompt_tokens` includes cached tokens: split off a cached count given separately.
        let source = flat?.input != nil ? flat : fromUsage
        if input == nil, let cached, let source, source.shape.inputIncludesCache, source.cachedInput == nil, source.input != nil {
            guard cached <= tokens.input else {
                throw NormalizationError("cached_input_tokens: \(cached) exceeds the prompt tokens (\(tokens.input))")
            }
            tokens.input -= cached
        }
        tokens.cachedInput = cached ?? flat?.cachedInput ?? fromUsage?.cachedInput ?? base.cachedInput
        tokens.cacheWrite = cacheWrite ?? flat?.cacheWrite ?? fromUsage?.cacheWrite ?? base.cacheWrite
        tokens.cacheWrite1h = cacheWrite1h ?? flat?.cacheWrite1h ?? fromUsage?.cacheWrite1h
            ?? (cacheWrite != nil || flat?.cacheWrite != nil || fromUsage?.cacheWrite != nil ? 0 : base.cacheWrite1h)
        tokens.output = output ?? flat?.output ?? fromUsage?.output ?? base.output
        tokens.reasoning = reasoning ?? flat?.reasoning ?? fromUsage?.reasoning ?? base.reasoning
        if tokens.reasoning > tokens.output {
            throw NormalizationError("reasoning_tokens: \(tokens.reasoning) exceeds output_tokens (\(tokens.output)); reasoning is part of the output")
        }
        if tokens.cacheWrite1h > tokens.cacheWrite {
            throw NormalizationError("cache_write_1h_tokens: \(tokens.cacheWrite1h) exceeds cache_write_tokens (\(tokens.cacheWrite)); 1-hour writes are part of the cache writes")
        }
        if let (key, value) = object["total_tokens"].map({ ("total_tokens", $0) }), value != .null,
           flat == nil || !(flat!.consumedKeys.contains("total_tokens")) {
            let total = try FieldReader.count(value, field: key)
            if total != tokens.total {
                throw NormalizationError("total_tokens: \(total) is not the sum of input, cached input, cache write and output tokens (\(tokens.total))")
            }
        }
        if let fromUsage {
            extras.unrecognized = fromUsage.unrecognized
            extras.routerCostUSD = fromUsage.routerCostUSD
        }
        if extras.routerCostUSD == nil { extras.routerCostUSD = flat?.routerCostUSD }
        return tokens
    }

    func readUnits(_ r: inout FieldReader) throws(NormalizationError) -> UsageUnits {
        guard let (key, value) = r.take("units") else { return UsageUnits() }
        guard case .object(let object) = value else {
            throw NormalizationError("\(key): must be an object, got \(value.typeName)")
        }
        if let unknown = object.keys.sorted().first(where: { !UsageUnits.names.contains($0) }) {
            throw NormalizationError("units.\(unknown.prefix(64)): unknown unit (expected \(UsageUnits.names.joined(separator: ", ")))")
        }
        var reader = FieldReader(object, prefix: "units.")
        return UsageUnits(
            requests: try reader.number("requests"), images: try reader.number("images"),
            seconds: try reader.number("seconds"), minutes: try reader.number("minutes"),
            characters: try reader.number("characters")
        )
    }

    /// The fields a record and a completion share: cost, credits, duration and error.
    func readOutcomeFields(_ r: inout FieldReader) throws(NormalizationError)
        -> (costNanoUSD: Int64?, creditsMicro: Int64?, durationMs: Double?, errorType: String?, errorMessage: String?) {
        let cost = try r.number("cost_usd", "cost_dollars", "total_cost_usd", max: RecordLimits.maxCostUSD).map { Money.nanoUSD(fromUSD: $0) }
        let credits = try r.number("credits", "tokens_cost", "credits_charged", max: RecordLimits.maxCredits).map { Money.micro(from: $0) }
        var duration = try r.number("duration_ms", "latency_ms", "request_duration_ms", max: RecordLimits.maxDurationMs)
        if let seconds = try r.number("processing_time_seconds", max: RecordLimits.maxDurationMs / 1000), duration == nil {
            duration = seconds * 1000
        }
        return (cost, credits, duration, try r.string("error_type", "error_code", allowNumber: true), try readErrorMessage(&r))
    }

    func readErrorMessage(_ r: inout FieldReader) throws(NormalizationError) -> String? {
        guard let (key, value) = r.take("error_message") else { return nil }
        guard case .string(let text) = value else {
            throw NormalizationError("\(key): must be a string, got \(value.typeName)")
        }
        // Free text: a NUL would cut the stored value short, so it is replaced, not rejected.
        return text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}").truncatedToUTF8(bytes: RecordLimits.errorMessageBytes)
    }

    private func readMetadata(_ r: inout FieldReader, object: [String: JSONValue]) throws(NormalizationError) -> String? {
        var metadata: [String: JSONValue] = [:]
        for name in ["metadata", "input_data", "request_metadata"] {
            guard let (key, value) = r.take(name) else { continue }
            if case .object(let inner) = value {
                metadata.merge(inner) { current, _ in current }
            } else {
                metadata[key] = value
            }
        }
        for (key, value) in object where !r.isConsumed(key) {
            metadata[key] = value
        }
        guard !metadata.isEmpty else { return nil }
        let json = JSONValue.object(metadata).serialized()
        if json.utf8.count > RecordLimits.metadataBytes {
            throw NormalizationError("metadata: \(json.utf8.count) bytes with unknown fields included, more than the limit of \(RecordLimits.metadataBytes)")
        }
        return json
    }
}

/// What a usage object says besides the token counts.
struct UsageExtras: Equatable {
    /// Non-zero counts in usage fields tokenmeter does not understand, by path inside the object.
    var unrecognized: [String: Int64] = [:]
    /// A router's own figure for the call's cost (OpenRouter's `usage.cost`), in USD.
    var routerCostUSD: Double?
}

extension String {
    /// At most `bytes` UTF-8 bytes, cut at a character boundary.
    func truncatedToUTF8(bytes: Int) -> String {
        guard utf8.count > bytes else { return self }
        var result = ""
        var used = 0
        for character in self {
            let size = character.utf8.count
            if used + size > bytes { break }
            result.append(character)
            used += size
        }
        return result
    }
}
