/// The parts of an OTLP `ExportTraceServiceRequest` (opentelemetry-proto v1) that metering reads.
/// Fields tokenmeter has no use for (events, links, trace state, scope, kind, flags) are skipped
/// while decoding.
public struct OTLPTraceRequest: Sendable, Equatable {
    public var resourceSpans: [OTLPResourceSpans] = []

    public init(resourceSpans: [OTLPResourceSpans] = []) { self.resourceSpans = resourceSpans }

    public var spanCount: Int { resourceSpans.reduce(0) { $0 + $1.spans.count + $1.undecodableSpans.count } }
}

/// One `ResourceSpans`: the resource's attributes and the spans of all its scopes, in order.
public struct OTLPResourceSpans: Sendable, Equatable {
    public var resourceAttributes: [OTLPKeyValue] = []
    public var spans: [OTLPSpan] = []
    /// Spans of a JSON body that could not be read (a wrong type in one span): each is one rejected
    /// span, named by its path, while the rest of the request is still ingested.
    public var undecodableSpans: [String] = []

    public init(resourceAttributes: [OTLPKeyValue] = [], spans: [OTLPSpan] = [], undecodableSpans: [String] = []) {
        self.resourceAttributes = resourceAttributes
        self.spans = spans
        self.undecodableSpans = undecodableSpans
    }
}

public struct OTLPSpan: Sendable, Equatable {
    public enum StatusCode: Int32, Sendable { case unset = 0, ok = 1, error = 2 }

    public var traceID: [UInt8] = []
    public var spanID: [UInt8] = []
    public var parentSpanID: [UInt8] = []
    public var name = ""
    public var startTimeUnixNano: UInt64 = 0
    public var endTimeUnixNano: UInt64 = 0
    public var attributes: [OTLPKeyValue] = []
    /// The raw status code: values outside the enum are kept (proto3 open enums) and read as unset.
    public var statusCode: Int32 = 0
    public var statusMessage = ""

    public init(traceID: [UInt8] = [], spanID: [UInt8] = [], parentSpanID: [UInt8] = [], name: String = "",
                startTimeUnixNano: UInt64 = 0, endTimeUnixNano: UInt64 = 0, attributes: [OTLPKeyValue] = [],
                statusCode: Int32 = 0, statusMessage: String = "") {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.startTimeUnixNano = startTimeUnixNano
        self.endTimeUnixNano = endTimeUnixNano
        self.attributes = attributes
        self.statusCode = statusCode
        self.statusMessage = statusMessage
    }

    public var status: StatusCode { StatusCode(rawValue: statusCode) ?? .unset }
}

public struct OTLPKeyValue: Sendable, Equatable {
    public var key: String
    public var value: OTLPValue

    public init(_ key: String, _ value: OTLPValue) {
        self.key = key
        self.value = value
    }
}

/// `AnyValue`. `.empty` is an AnyValue with no member set (valid in OTLP: "an empty value").
public indirect enum OTLPValue: Sendable, Equatable {
    case empty
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([OTLPValue])
    case kvlist([OTLPKeyValue])

    var typeName: String {
        switch self {
        case .empty: "an empty value"
        case .string: "a string"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a double"
        case .bytes: "bytes"
        case .array: "an array"
        case .kvlist: "a key-value list"
        }
    }
}

enum OTLPLimits {
    /// Nesting of array and kvlist values; deeper bodies are refused rather than recursed into.
    static let maxValueDepth = 32
}

extension Array where Element == OTLPKeyValue {
    /// The last value of `key` (a repeated key: the later one wins, as in the SDKs' own maps).
    subscript(otlp key: String) -> OTLPValue? {
        last(where: { $0.key == key })?.value
    }
}
