import TokenMeterCore
/// The 64-bit key under which a record id is indexed (`usage_records.id_hash`). The index is not
/// unique: two different ids may share a key, and the store compares the id text of every record
/// with the same key, so idempotency stays exact whatever the key function does. The key only has
/// to be stable (the same text gives the same key in every process and version: it is stored) and
/// to spread ids well.
///
/// - A canonical UUIDv7 (`xxxxxxxx-xxxx-7xxx-[89ab]xxx-xxxxxxxxxxxx`, either case) keeps its order:
///   the key is its 48-bit millisecond timestamp, its 12 `rand_a` bits (a counter in generators that
///   are monotonic within a millisecond, as tokenmeter's and the Python client's are), then 4 bits of
///   the FNV-1a hash of the whole text. Time-ordered ids then insert at the right edge of the index
///   (an append) instead of on a random leaf.
/// - Any other id (provider generation ids, UUIDv4, free text): FNV-1a 64 of its UTF-8 bytes.
public enum RecordIDKey {
    public static func key(_ id: String) -> Int64 {
        var id = id
        return id.withUTF8 { key(utf8: $0) }
    }

    public static func key(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int64 {
        let hash = fnv1a64(bytes)
        if let prefix = uuidV7Prefix(bytes) {
            return Int64(bitPattern: prefix << 4 | (hash & 0xF))
        }
        return Int64(bitPattern: hash)
    }

    /// FNV-1a, 64 bits (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
    public static func fnv1a64(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The 48-bit timestamp and the 12 `rand_a` bits of a canonical UUIDv7 (60 bits), or nil.
    static func uuidV7Prefix(_ b: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard b.count == 36, b[8] == hyphen, b[13] == hyphen, b[18] == hyphen, b[23] == hyphen, b[14] == UInt8(ascii: "7")
        else { return nil }
        switch b[19] {
        case UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "A"), UInt8(ascii: "B"): break
        default: return nil
        }
        var value: UInt64 = 0
        func take(_ range: Range<Int>) -> Bool {
            for i in range {
                guard let digit = hexValue(b[i]) else { return false }
                value = value << 4 | UInt64(digit)
            }
            return true
        }
        guard take(0..<8), take(9..<13), take(15..<18) else { return nil }
        for i in 24..<36 where hexValue(b[i]) == nil { return nil }
        for i in 20..<23 where hexValue(b[i]) == nil { return nil }
        return value
    }

    private static let hyphen = UInt8(ascii: "-")

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
