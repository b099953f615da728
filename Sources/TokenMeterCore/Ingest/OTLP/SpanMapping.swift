import Foundation

/// Turns the GenAI spans of one OTLP request into `/v1/usage` records (README, "OpenTelemetry
/// traces"), as the JSON objects the record normalizer reads, with explicit disjoint token fields.
/// Pure: no clock, no I/O. Spans that carry neither GenAI usage nor `gen_ai.operation.name` are
/// ignored; so are the container operations listed in `containerOperations`.
public enum SpanMapping {
    /// One GenAI span: where it was in the request, and its record or why it was refused.
    public struct Outcome: Sendable, Equatable {
        public var label: String
        public var record: Result<JSONValue, NormalizationError>
    }

    /// The attribute an application sets (on the span or an ancestor) to name the record's operation.
    public static let operationAttribute = "tokenmeter.operation"

    /// Agent, tool and workflow spans: their model calls are spans of their own, counted there
    /// (an agent span's usage is the sum of its calls: counting it too would count them twice).
    public static let containerOperations: Set<String> = ["invoke_agent", "create_agent", "execute_tool", "invoke_workflow"]

    /// Current semantic-convention names first, then the older ones still emitted
    /// (OpenLLMetry, OpenLIT, earlier semconv releases).
    static let inputNames = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens"]
    static let outputNames = ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens"]
    static let cacheReadNames = ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens", "llm.usage.cache_read_input_tokens"]
    static let cacheWriteNames = ["gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens", "llm.usage.cache_creation_input_tokens"]
    static let reasoningNames = ["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens", "llm.usage.reasoning_tokens",
                                 "gen_ai.usage.completion_tokens_details.reasoning"]
    static let costName = "gen_ai.usage.cost"

    public static func records(from request: OTLPTraceRequest) -> [Outcome] {
        var index: [SpanKey: Int] = [:]
        var flat: [OTLPSpan] = []
        for resource in request.resourceSpans {
            for span in resource.spans {
                index[SpanKey(trace: span.traceID, span: span.spanID)] = flat.count
                flat.append(span)
            }
        }
        var outcomes: [Outcome] = []
        for (r, resource) in request.resourceSpans.enumerated() {
            let service = resource.resourceAttributes[otlp: "service.name"]
            for (k, span) in resource.spans.enumerated() where isMetered(span) {
                let label = "resource_spans[\(r)] span \(k) (span_id \(Hex.encode(span.spanID).prefix(16)))"
                let ancestor = nearestAncestor(of: span, in: flat, index: index)
                do {
                    outcomes.append(Outcome(label: label, record: .success(try record(span, service: service, ancestor: ancestor))))
                } catch {
                    outcomes.append(Outcome(label: label, record: .failure(error)))
                }
            }
            for message in resource.undecodableSpans {
                outcomes.append(Outcome(label: "resource_spans[\(r)]", record: .failure(NormalizationError(message))))
            }
        }
        return outcomes
    }

    /// Carries GenAI usage or an operation name, and is not a container span.
    public static func isMetered(_ span: OTLPSpan) -> Bool {
        var hasUsage = false
        var operation: String?
        for attribute in span.attributes {
            if attribute.key == "gen_ai.operation.name", case .string(let name) = attribute.value { operation = name }
            if attribute.key.hasPrefix("gen_ai.usage.") || attribute.key.hasPrefix("llm.usage.") { hasUsage = true }
        }
        if let operation, containerOperations.contains(operation) { return false }
        return hasUsage || operation != nil
    }

    struct SpanKey: Hashable {
        var trace: [UInt8]
        var span: [UInt8]
    }

    /// The parent span when it is in the same request (an exporter sends a trace in batches, so the
    /// parent may be in another one: then there is none).
    static func nearestAncestor(of span: OTLPSpan, in spans: [OTLPSpan], index: [SpanKey: Int]) -> OTLPSpan? {
        guard !span.parentSpanID.isEmpty, let i = index[SpanKey(trace: span.traceID, span: span.parentSpanID)] else { return nil }
        return spans[i]
    }

    static func record(_ span: OTLPSpan, service: OTLPValue?, ancestor: OTLPSpan?) throws(NormalizationError) -> JSONValue {
        let a = span.attributes
        guard span.traceID.count == 16, span.traceID.contains(where: { $0 != 0 }) else {
            throw NormalizationError("trace_id: must be 16 bytes and not all zero (32 hex digits in JSON), got \(span.traceID.count) bytes")
        }
        guard span.spanID.count == 8, span.spanID.contains(where: { $0 != 0 }) else {
            throw NormalizationError("span_id: must be 8 bytes and not all zero (16 hex digits in JSON), got \(span.spanID.count) bytes")
        }
        guard span.startTimeUnixNano > 0 else {
            throw NormalizationError("start_time_unix_nano: missing; the record's timestamp is the span's start")
        }
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(20)
        object["id"] = .string(Hex.encode(span.traceID) + "-" + Hex.encode(span.spanID))
        object["timestamp"] = .double(Double(span.startTimeUnixNano) / 1e9)
        if span.endTimeUnixNano >= span.startTimeUnixNano {
            object["duration_ms"] = .double(Double(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6)
        }
        guard let model = try first(a, "gen_ai.response.model", "gen_ai.request.model") else {
            throw NormalizationError("gen_ai.request.model: missing (and no gen_ai.response.model); a GenAI span needs a model to be priced")
        }
        object["model"] = .string(model)
        if let provider = try first(a, "gen_ai.provider.name", "gen_ai.system") {
            object["provider"] = .string(normalizedProvider(provider))
        }
        if let service, case .string(let name) = service, !name.isEmpty { object["service"] = .string(name) }
        if let user = try first(a, "user.id", "enduser.id") { object["user_id"] = .string(user) }
        object["operation"] = .string(try operation(of: span, ancestor: ancestor))

        let errorType = try string(a, "error.type").map(cleanedErrorType)
        if span.status == .error || errorType != nil {
            object["status"] = .string("error")
            object["error_type"] = .string(errorType ?? "span_status_error")
            if !span.statusMessage.isEmpty { object["error_message"] = .string(span.statusMessage) }
        } else {
            object["status"] = .string("success")
        }

        let input = try count(a, inputNames)
        let cacheRead = try count(a, cacheReadNames)
        let cacheWrite = try count(a, cacheWriteNames)
        let cached = (cacheRead?.value ?? 0) + (cacheWrite?.value ?? 0)
        if cached > (input?.value ?? 0) {
            let parts = [cacheRead, cacheWrite].compactMap { $0.map { "\($0.name) = \($0.value)" } }.joined(separator: " + ")
            throw NormalizationError("\(parts) exceeds \(input?.name ?? inputNames[0]) = \(input?.value ?? 0); the conventions count cached tokens inside the input tokens")
        }
        object["input_tokens"] = .int((input?.value ?? 0) - cached)
        object["cached_input_tokens"] = .int(cacheRead?.value ?? 0)
        object["cache_write_tokens"] = .int(cacheWrite?.value ?? 0)
        object["output_tokens"] = .int(try count(a, outputNames)?.value ?? 0)
        object["reasoning_tokens"] = .int(try count(a, reasoningNames)?.value ?? 0)

        // Metadata only when there is a figure to keep: serializing it costs the normalizer ~13% of a
        // span's ingest (the record id already leads back to the span in the tracing backend).
        if let cost = a[otlp: costName] {
            let usd: Double
            switch cost {
            case .double(let d): usd = d
            case .int(let i): usd = Double(i)
            default: throw NormalizationError("\(costName): must be a number, got \(cost.typeName)")
            }
            guard usd.isFinite, usd >= 0, usd <= RecordLimits.maxCostUSD else {
                throw NormalizationError("\(costName): must be a finite number from 0 to \(Int(RecordLimits.maxCostUSD)), got \(usd)")
            }
            object["metadata"] = .object([costName: .double(usd)])
        }
        return .object(object)
    }

    /// Python instrumentations that set `error.type` to the exception class itself send its repr,
    /// `<class 'openai.RateLimitError'>`: keep the qualified name, as the conventions ask.
    static func cleanedErrorType(_ raw: String) -> String {
        guard raw.hasPrefix("<class '"), raw.hasSuffix("'>"), raw.count > 10 else { return raw }
        return String(raw.dropFirst(8).dropLast(2))
    }

    /// `tokenmeter.operation` on the span, else on the nearest ancestor in the request, else that
    /// ancestor's name, else `gen_ai.operation.name`, else the span's own name.
    static func operation(of span: OTLPSpan, ancestor: OTLPSpan?) throws(NormalizationError) -> String {
        if let own = try string(span.attributes, operationAttribute) { return own }
        if let ancestor {
            if let set = try string(ancestor.attributes, operationAttribute) { return set }
            if !ancestor.name.isEmpty { return ancestor.name }
        }
        if let name = try string(span.attributes, "gen_ai.operation.name") { return name }
        guard !span.name.isEmpty else {
            throw NormalizationError("gen_ai.operation.name: missing, and the span has no name to use as the operation")
        }
        return span.name
    }

    /// The first of `keys` present as a non-empty string.
    static func first(_ attributes: [OTLPKeyValue], _ keys: String...) throws(NormalizationError) -> String? {
        for key in keys {
            if let value = try string(attributes, key) { return value }
        }
        return nil
    }

    static func string(_ attributes: [OTLPKeyValue], _ key: String) throws(NormalizationError) -> String? {
        guard let value = attributes[otlp: key] else { return nil }
        switch value {
        case .empty: return nil
        case .string(let text): return text.isEmpty ? nil : text
        default: throw NormalizationError("\(key): must be a string, got \(value.typeName)")
        }
    }

    /// The first of `names` present, as a non-negative whole number of tokens.
    static func count(_ attributes: [OTLPKeyValue], _ names: [String]) throws(NormalizationError) -> (name: String, value: Int64)? {
        for name in names {
            guard let value = attributes[otlp: name] else { continue }
            switch value {
            case .empty: continue
            case .int(let i):
                guard i >= 0 else { throw NormalizationError("\(name): must not be negative, got \(i)") }
                guard i <= RecordLimits.maxTokens else { throw NormalizationError("\(name): \(i) is too large (at most \(RecordLimits.maxTokens))") }
                return (name, i)
            case .double(let d):
                guard d.isFinite, d == d.rounded() else { throw NormalizationError("\(name): must be a whole number of tokens, got \(d)") }
                guard d >= 0 else { throw NormalizationError("\(name): must not be negative, got \(d)") }
                guard d <= Double(RecordLimits.maxTokens) else { throw NormalizationError("\(name): \(d) is too large (at most \(RecordLimits.maxTokens))") }
                return (name, Int64(d))
            default:
                throw NormalizationError("\(name): must be an integer, got \(value.typeName)")
            }
        }
        return nil
    }

    /// `gen_ai.provider.name` / `gen_ai.system` values (current, deprecated and instrumentation
    /// spellings) → the provider names tokenmeter's catalog and labels use.
    public static func normalizedProvider(_ raw: String) -> String {
        // The common case, already lower-case ASCII without spaces, skips Foundation's case mapping.
        if raw.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x2D && $0 <= 0x39) || $0 == 0x5F }) {
            return providerAliases[raw] ?? raw
        }
        let key = raw.lowercased().trimmingCharacters(in: .whitespaces)
        return providerAliases[key] ?? key
    }

    static let providerAliases: [String: String] = [
        "azure.ai.openai": "azure", "az.ai.openai": "azure", "azure.ai.inference": "azure", "az.ai.inference": "azure", "azure": "azure",
        "aws.bedrock": "bedrock", "aws": "bedrock", "bedrock": "bedrock",
        "gcp.gemini": "google", "gcp.vertex_ai": "google", "gcp.gen_ai": "google", "gemini": "google", "vertex_ai": "google",
        "vertexai": "google", "vertex ai": "google", "google": "google",
        "mistral_ai": "mistral", "mistralai": "mistral", "mistral ai": "mistral",
        "x_ai": "xai", "xai": "xai",
        "ibm.watsonx.ai": "ibm", "ibm.watson.ai": "ibm", "watsonx": "ibm",
    ]
}
