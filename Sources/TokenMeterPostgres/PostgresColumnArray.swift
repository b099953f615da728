import PostgresNIO

/// One column of a multi-row statement, bound as one PostgreSQL array parameter (binary format,
/// NULL elements allowed) and turned back into rows by `unnest`: a batch of n rows binds one
/// parameter per column instead of one per row and column, and its statement text is the same
/// whatever the batch size (see `PostgresSQL.insertUnnest`).
enum PostgresColumnArray: Sendable, Equatable {
    case text([String?])
    case bigint([Int64?])
    case boolean([Bool?])
    case double([Double?])
    case bits([BitChunk])

    /// The element type the statement casts the array to (`$n::type[]`).
    var sqlType: String {
        switch self {
        case .text: "text"
        case .bigint: "bigint"
        case .boolean: "boolean"
        case .double: "double precision"
        case .bits: "bit(\(BitChunk.bits))"
        }
    }

    var count: Int {
        switch self {
        case .text(let v): v.count
        case .bigint(let v): v.count
        case .boolean(let v): v.count
        case .double(let v): v.count
        case .bits(let v): v.count
        }
    }

    var elementType: PostgresDataType {
        switch self {
        case .text: .text
        case .bigint: .int8
        case .boolean: .bool
        case .double: .float8
        case .bits: .bit
        }
    }
}

extension PostgresColumnArray: PostgresDynamicTypeEncodable {
    var psqlType: PostgresDataType {
        switch self {
        case .text: .textArray
        case .bigint: .int8Array
        case .boolean: .boolArray
        case .double: .float8Array
        case .bits: .bitArray
        }
    }

    var psqlFormat: PostgresFormat { .binary }

    /// PostgreSQL's binary array: dimensions (1, or 0 when empty), a has-NULLs flag, the element
    /// type, then the length and lower bound (1) of the dimension, then each element as its byte
    /// length (-1 for NULL) and its binary value.
    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        let hasNulls: Bool = switch self {
        case .text(let v): v.contains(nil)
        case .bigint(let v): v.contains(nil)
        case .boolean(let v): v.contains(nil)
        case .double(let v): v.contains(nil)
        case .bits: false
        }
        buffer.writeInteger(count == 0 ? 0 : 1, as: Int32.self)
        buffer.writeInteger(hasNulls ? 1 : 0, as: Int32.self)
        buffer.writeInteger(elementType.rawValue)
        guard count > 0 else { return }
        buffer.writeInteger(Int32(count))
        buffer.writeInteger(1, as: Int32.self)
        switch self {
        case .text(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(Int32(value.utf8.count))
                buffer.writeString(value)
            }
        case .bigint(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(8, as: Int32.self)
                buffer.writeInteger(value)
            }
        case .boolean(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(1, as: Int32.self)
                buffer.writeInteger(value ? 1 : 0, as: UInt8.self)
            }
        case .double(let values):
            for value in values {
                guard let value else { buffer.writeInteger(-1, as: Int32.self); continue }
                buffer.writeInteger(8, as: Int32.self)
                buffer.writeInteger(value.bitPattern)
            }
        case .bits(let values):
            for value in values {
                buffer.writeInteger(Int32(4 + BitChunk.bits / 8))
                value.encode(into: &buffer, context: context)
            }
        }
    }
}
