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
    /// Deeper documents are refused before decoding: decoding cost grows faster than depth.
    public static let maxDepth = 64

    /// Parses one JSON document, refusing nesting deeper than `maxDepth` with a cheap pre-scan.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<JSONValue, NormalizationError> {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                if depth > maxDepth {
                    return .failure(NormalizationError("invalid JSON: nested deeper than \(maxDepth) levels"))
                }
            case 0x5D, 0x7D: depth -= 1
            default: break
            }
        }
        do {
            return .success(try JSONDecoder().decode(JSONValue.self, from: Data(bytes)))
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return .failure(NormalizationError("invalid JSON: \(detail ?? context.debugDescription)"))
        } catch let DecodingError.typeMismatch(_, context) {
            return .failure(unreadable(at: context.codingPath))
        } catch let DecodingError.valueNotFound(_, context) {
            return .failure(unreadable(at: context.codingPath))
        } catch {
            return .failure(unreadable(at: []))
        }
    }

    private static func unreadable(at path: [any CodingKey]) -> NormalizationError {
        let field = path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return NormalizationError("invalid JSON: the value\(field.isEmpty ? "" : " of \(field)") could not be read (invalid UTF-8, or a number out of range)")
    }

    /// Encodes with sorted keys so equal metadata always serializes to the same bytes.
    public func serialized() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}
