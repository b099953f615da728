import PostgresNIO
import TokenMeterCore

/// One user-set chunk (4096 membership bits) as a PostgreSQL `bit(4096)`: chunks of concurrent
/// writers merge inside the database with `|` (and reports OR them with `bit_or`), so a user set
/// stays exact whichever instance wrote which member. Bit `i` of the string is member
/// `chunk·4096 + i` (PostgreSQL's binary form: the bit length, then the bits, most significant first).
struct BitChunk: Sendable, Equatable, PostgresNonThrowingEncodable, PostgresDecodable {
    static let bits = UserSet.wordsInChunk * 64

    /// 64 words: bit `b` of word `w` is member `64w + b` of the chunk.
    var words: [UInt64]

    init(words: [UInt64]) {
        precondition(words.count == UserSet.wordsInChunk)
        self.words = words
    }

    static var psqlType: PostgresDataType { .bit }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(Int32(Self.bits))
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.bits / 8) { bytes in
            for (index, word) in words.enumerated() {
                for byte in 0..<8 {
                    // Member 8k + j is bit 7 - j of byte k.
                    bytes[index * 8 + byte] = UInt8(truncatingIfNeeded: word >> UInt64(byte * 8)).bitReversed
                }
            }
            return Self.bits / 8
        }
    }

    init<JSONDecoder: PostgresJSONDecoder>(from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
                                           context: PostgresDecodingContext<JSONDecoder>) throws {
        guard format == .binary, type == .bit || type == .varbit,
              let length = buffer.readInteger(as: Int32.self), length == Self.bits,
              let bytes = buffer.readBytes(length: Self.bits / 8) else {
            throw PostgresDecodingError.Code.typeMismatch
        }
        var words = [UInt64](repeating: 0, count: UserSet.wordsInChunk)
        for (index, byte) in bytes.enumerated() {
            words[index / 8] |= UInt64(byte.bitReversed) << UInt64((index % 8) * 8)
        }
        self.words = words
    }
}

extension UInt8 {
    /// The bits in the opposite order (bit 0 ↔ bit 7).
    var bitReversed: UInt8 {
        var value = self
        var result: UInt8 = 0
        for _ in 0..<8 {
            result = result << 1 | (value & 1)
            value >>= 1
        }
        return result
    }
}
