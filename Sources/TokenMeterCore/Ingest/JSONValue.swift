import Foundation

/// A decoded JSON value that keeps integers apart from floating-point numbers, so token counts
/// above 2^53 are not silently rounded and fractions are detectable.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? container.decode(Int64.self) {
            self = .int(int)
        } else if let double = try? container.decode(Double.self) {
            self = .double(double)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue {
    /// Deeper documents are refused while parsing.
    public static let maxDepth = 64

    /// Parses one JSON document (`JSONParser`); errors start with "invalid JSON".
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<JSONValue, NormalizationError> {
        func run(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, NormalizationError> {
            do {
                return .success(try JSONParser.parse(buffer, maxDepth: maxDepth))
            } catch {
                let location = error.path.isEmpty ? "" : " in the value of \(error.path)"
                return .failure(NormalizationError("invalid JSON\(location): \(error.message)"))
            }
        }
        return bytes.withContiguousStorageIfAvailable(run) ?? Array(bytes).withUnsafeBufferPointer(run)
    }

    /// Equal, except that numbers beyond 2^53 (where a Double cannot tell neighbouring integers
    /// apart) may differ in their last bit and in being `.int` or `.double`: how the byte parser is
    /// compared with JSONDecoder, which rounds such literals its own way.
    public func isEquivalent(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.isEquivalent(to: $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.isEquivalent(to: $0) } ?? false }
        case (.int, .double), (.double, .int), (.double, .double), (.int, .int):
            guard let x = number, let y = other.number else { return false }
            if self == other { return true }
            let magnitude = max(abs(x), abs(y))
            return magnitude >= 9_007_199_254_740_992 && abs(x - y) <= magnitude * 4 * Double.ulpOfOne
        default:
            return self == other
        }
    }

    private var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// Encodes with sorted keys so equal metadata always serializes to the same bytes.
    public func serialized() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}
