import Foundation

/// The catalog shipped with the binary (`Pricing/Resources/default-catalog.json`).
public enum DefaultCatalog {
    public static func entries() throws -> [PriceEntry] {
        try file().models
    }

    public static func file() throws -> CatalogFile {
        guard let url = Bundle.module.url(forResource: "default-catalog", withExtension: "json") else {
            throw CatalogError("the default catalog resource is missing from the build")
        }
        return try decodeFile(Data(contentsOf: url), source: "default-catalog.json")
    }

    public static func decode(_ data: Data, source: String) throws -> [PriceEntry] {
        try decodeFile(data, source: source).models
    }

    public static func decodeFile(_ data: Data, source: String) throws -> CatalogFile {
        do {
            return try JSONDecoder().decode(CatalogFile.self, from: data)
        } catch let error as DecodingError {
            throw CatalogError("\(source): \(error.readableDescription)")
        }
    }
}

public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension DecodingError {
    /// "models[3].input: price must be ..." rather than Foundation's nested dump.
    public var readableDescription: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch self {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(_, let context):
            return "\(path(context.codingPath)): missing value"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required"
        case .dataCorrupted(let context):
            let where_ = path(context.codingPath)
            return (where_.isEmpty ? "" : "\(where_): ") + context.debugDescription
        @unknown default:
            return "\(self)"
        }
    }
}
