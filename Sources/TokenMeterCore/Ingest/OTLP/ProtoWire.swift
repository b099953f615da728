/// Reads the protobuf wire format (varint, fixed64, length-delimited, fixed32): just what the few
/// OTLP trace messages need. Every read is bounds-checked; a malformed input throws, never traps.
/// Groups (wire types 3 and 4, deprecated since proto2 and absent from OTLP) are refused.
package struct ProtoReader {
    package enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    private let bytes: [UInt8]
    private var index: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        index = 0
        end = bytes.count
    }

    private init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        index = range.lowerBound
        end = range.upperBound
    }

    var isAtEnd: Bool { index >= end }

    /// The next field's number and wire type, or nil at the end of this message.
    mutating func nextField() throws(OTLPDecodeError) -> (number: UInt32, wire: WireType)? {
        guard index < end else { return nil }
        let key = try varint()
        guard let wire = WireType(rawValue: UInt8(key & 7)) else {
            throw OTLPDecodeError("invalid wire type \(key & 7)")
        }
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else { throw OTLPDecodeError("invalid field number \(number)") }
        if wire == .startGroup || wire == .endGroup {
            throw OTLPDecodeError("field \(number): groups (wire type \(wire.rawValue)) are not valid in OTLP")
        }
        return (UInt32(number), wire)
    }

    mutating func varint() throws(OTLPDecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < end else { throw OTLPDecodeError("truncated varint") }
            let byte = bytes[index]
            index += 1
            if shift == 63 && byte > 1 { throw OTLPDecodeError("varint longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func fixed64() throws(OTLPDecodeError) -> UInt64 {
        guard end - index >= 8 else { throw OTLPDecodeError("truncated fixed64") }
        var value: UInt64 = 0
        for k in 0..<8 { value |= UInt64(bytes[index + k]) << (8 * UInt64(k)) }
        index += 8
        return value
    }

    mutating func fixed32() throws(OTLPDecodeError) -> UInt32 {
        guard end - index >= 4 else { throw OTLPDecodeError("truncated fixed32") }
        var value: UInt32 = 0
        for k in 0..<4 { value |= UInt32(bytes[index + k]) << (8 * UInt32(k)) }
        index += 4
        return value
    }

    /// The range of a length-delimited field's payload, consumed.
    private mutating func lengthDelimitedRange() throws(OTLPDecodeError) -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - index) else {
            throw OTLPDecodeError("length \(length) runs past the end of the message")
        }
        let start = index
        index += Int(length)
        return start..<index
    }

    mutating func bytesField() throws(OTLPDecodeError) -> [UInt8] {
        Array(bytes[try lengthDelimitedRange()])
    }

    /// proto3 strings must be valid UTF-8; the official parsers refuse the message otherwise.
    mutating func string() throws(OTLPDecodeError) -> String {
        let range = try lengthDelimitedRange()
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw OTLPDecodeError("a string field is not valid UTF-8")
        }
        return text
    }

    /// A reader over an embedded message, consumed from this one.
    mutating func message() throws(OTLPDecodeError) -> ProtoReader {
        ProtoReader(bytes: bytes, range: try lengthDelimitedRange())
    }

    mutating func skip(_ wire: WireType) throws(OTLPDecodeError) {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimitedRange()
        case .startGroup, .endGroup: throw OTLPDecodeError("groups are not valid in OTLP")
        }
    }

    /// Checks that a known field came with the wire type its declaration gives.
    static func expect(_ wire: WireType, _ expected: WireType, field: String) throws(OTLPDecodeError) {
        guard wire == expected else {
            throw OTLPDecodeError("\(field): wire type \(wire.rawValue), expected \(expected.rawValue)")
        }
    }
}

/// A request body that is not a valid OTLP message: the whole request is answered 400.
public struct OTLPDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    func at(_ path: String) -> OTLPDecodeError { OTLPDecodeError("\(path): \(message)") }
}

/// Writes the protobuf wire format for the response messages.
package struct ProtoWriter {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    package mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    package mutating func tag(_ field: UInt32, _ wire: ProtoReader.WireType) { varint(UInt64(field) << 3 | UInt64(wire.rawValue)) }

    package mutating func int(_ field: UInt32, _ value: Int64) {
        guard value != 0 else { return }
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    package mutating func fixed64(_ field: UInt32, _ value: UInt64) {
        tag(field, .fixed64)
        for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))) }
    }

    package mutating func string(_ field: UInt32, _ value: String) {
        guard !value.isEmpty else { return }
        lengthDelimited(field, Array(value.utf8))
    }

    package mutating func lengthDelimited(_ field: UInt32, _ payload: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(payload.count))
        bytes += payload
    }
}
