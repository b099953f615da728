import Testing
@testable import TokenMeterCore

/// `FieldReader` finds a member by its exact name: the length check in front of the string compare
/// neither hides a present key nor finds an absent one.
@Suite("Field reader lookups")
struct FieldReaderTests {
    static let small: [String: JSONValue] = [
        "id": .string("a"), "model": .string("m"), "user_id": .string("u"), "service": .string("s"),
        "input_tokens": .int(1), "output_tokens": .int(2), "é": .int(3), "total_tokens": .null,
    ]
    /// More than 24 members: the reader indexes them in a dictionary instead.
    static let large: [String: JSONValue] = small.merging((0..<30).map { ("field_\($0)", .int(Int64($0))) }) { a, _ in a }

    @Test(arguments: [small, large])
    func presentNamesAreFoundAndOthersAreNot(object: [String: JSONValue]) {
        var reader = FieldReader(object)
        #expect(reader.take("model")?.value == .string("m"))
        #expect(reader.take("user_id")?.value == .string("u"))  // same length as "service"
        #expect(reader.take("service")?.value == .string("s"))
        #expect(reader.take("é")?.value == .int(3))             // 2 UTF-8 bytes, 1 character
        #expect(reader.take("e") == nil)
        #expect(reader.take("servicE") == nil)                  // same length, other bytes
        #expect(reader.take("user_i") == nil)
        #expect(reader.take("input_tokenss") == nil)
        #expect(reader.take(["prompt_tokens", "input_tokens"])?.key == "input_tokens")
        #expect(reader.take(["total_tokens", "output_tokens"])?.key == "output_tokens")  // null is skipped
        #expect(reader.isConsumed("total_tokens"))
        #expect(!reader.isConsumed("id"))
        #expect(reader.consumed == ["model", "user_id", "service", "é", "input_tokens", "total_tokens", "output_tokens"])
    }

    /// The signature bits in front of the scan only rule names out: over many key sets (sizes up to
    /// the 24 where the dictionary takes over, names sharing lengths and first bytes, the empty
    /// name, non-ASCII), every present name is found and every absent one is not.
    @Test func theSignatureNeverHidesAPresentName() {
        var names = ["", "a", "b", "é", "id", "iD", "ab", "ba", "model", "modem", "Model", "user_id", "service", "tokens", "tokenz"]
        for length in 1...40 { names.append(String(repeating: "x", count: length)); names.append("y" + String(repeating: "_", count: length)) }
        var generator = SeededGenerator(seed: 29)
        for round in 0..<300 {
            let count = round % 25
            let present = Set((0..<count).map { _ in names[Int(generator.next() % UInt64(names.count))] })
            let reader = FieldReader(Dictionary(uniqueKeysWithValues: present.map { ($0, JSONValue.int(1)) }))
            for name in names { #expect(reader.has(name) == present.contains(name), "\(name) in \(present.sorted())") }
        }
    }
}
