import Foundation

/// A set of users, by the integer ordinal the store gives each user id, held as bitmap chunks of
/// 4096 ordinals. The store keeps one chunk per (bucket, rollup key, chunk number) row, so the
/// distinct users of any range and grouping are a union of a few small rows instead of a
/// COUNT(DISTINCT) over every raw record in the range.
public struct UserSet: Sendable, Equatable {
    public static let chunkShift: Int64 = 12
    static let chunkBits = 1 << 12
    static let wordsPerChunk = chunkBits / 64
    /// A chunk with at most this many members is stored as a sorted little-endian UInt16 array
    /// (2 bytes each, < 512 bytes); a fuller one as its 512-byte bitmap. The length tells them apart.
    static let maxArrayMembers = 255
    static let bitmapBytes = chunkBits / 8

    /// Chunk number → 64 words of membership bits.
    private(set) var chunks: [Int64: [UInt64]] = [:]
    /// A set of up to `maxFew` members is a plain list until it grows (a report grouped by user has
    /// one small set per user: a 512-byte chunk each would cost gigabytes for a million users).
    private var few: [Int64] = []
    private static let maxFew = 16

    public init() {}

    public init<S: Sequence>(_ ordinals: S) where S.Element == Int64 {
        for ordinal in ordinals { insert(ordinal) }
    }

    public static func == (a: UserSet, b: UserSet) -> Bool { a.spilled.chunks == b.spilled.chunks }

    public var count: Int {
        few.count + chunks.values.reduce(0) { total, words in total + words.reduce(0) { $0 + $1.nonzeroBitCount } }
    }

    public var isEmpty: Bool { few.isEmpty && chunks.isEmpty }

    /// How many 4096-ordinal chunks hold members (a set still held as a plain list counts as one).
    package var chunkCount: Int { chunks.isEmpty ? (few.isEmpty ? 0 : 1) : chunks.count }

    public mutating func insert(_ ordinal: Int64) {
        precondition(ordinal >= 0, "user ordinals are non-negative")
        if chunks.isEmpty {
            if !few.contains(ordinal) { few.append(ordinal) }
            if few.count > Self.maxFew { spill() }
            return
        }
        setBit(ordinal)
    }

    private mutating func setBit(_ ordinal: Int64) {
        let bit = Int(ordinal & Int64(Self.chunkBits - 1))
        chunks[ordinal >> Self.chunkShift, default: Self.emptyWords][bit >> 6] |= 1 << UInt64(bit & 63)
    }

    /// Moves the plain list into chunks.
    private mutating func spill() {
        for ordinal in few { setBit(ordinal) }
        few = []
    }

    private var spilled: UserSet {
        var copy = self
        copy.spill()
        return copy
    }

    public func contains(_ ordinal: Int64) -> Bool {
        if few.contains(ordinal) { return true }
        guard ordinal >= 0, let words = chunks[ordinal >> Self.chunkShift] else { return false }
        let bit = Int(ordinal & Int64(Self.chunkBits - 1))
        return words[bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }

    /// True when every member of this set is in `other`.
    public func isSubset(of other: UserSet) -> Bool {
        guard few.allSatisfy(other.contains) else { return false }
        guard !chunks.isEmpty else { return true }
        let theirs = other.few.isEmpty ? other.chunks : other.spilled.chunks
        for (chunk, words) in chunks {
            let others = theirs[chunk] ?? Self.emptyWords
            for i in 0..<Self.wordsPerChunk where words[i] & ~others[i] != 0 { return false }
        }
        return true
    }

    public mutating func formUnion(_ other: UserSet) {
        for ordinal in other.few { insert(ordinal) }
        guard !other.chunks.isEmpty else { return }
        spill()
        for (chunk, words) in other.chunks {
            if var mine = chunks.removeValue(forKey: chunk) {
                for i in 0..<Self.wordsPerChunk { mine[i] |= words[i] }
                chunks[chunk] = mine
            } else {
                chunks[chunk] = words
            }
        }
    }

    /// Adds the members of one stored chunk.
    package mutating func formUnion(chunk: Int64, encoded: Data) throws {
        spill()
        var words = chunks.removeValue(forKey: chunk) ?? Self.emptyWords
        defer { chunks[chunk] = words }
        try Self.decode(encoded, into: &words)
    }

    /// (chunk number, stored form) of every non-empty chunk.
    package var encodedChunks: [(chunk: Int64, data: Data)] {
        spilled.chunks.sorted { $0.key < $1.key }.map { ($0.key, Self.encode($0.value)) }
    }

    static var emptyWords: [UInt64] { Array(repeating: 0, count: wordsPerChunk) }

    /// The bytes are written into a buffer of the final size: `Data.append` of one byte at a time
    /// cost ~700 instructions a byte (callgrind), 144k per bitmap chunk, in every user-set upsert.
    static func encode(_ words: [UInt64]) -> Data {
        let members = words.reduce(0) { $0 + $1.nonzeroBitCount }
        var data = Data(count: members <= maxArrayMembers ? members * 2 : bitmapBytes)
        data.withUnsafeMutableBytes { bytes in
            if members <= maxArrayMembers {
                var at = 0
                for (index, word) in words.enumerated() where word != 0 {
                    var rest = word
                    while rest != 0 {
                        let value = UInt16(index * 64 + rest.trailingZeroBitCount)
                        bytes[at] = UInt8(value & 0xFF)
                        bytes[at + 1] = UInt8(value >> 8)
                        at += 2
                        rest &= rest - 1
                    }
                }
            } else {
                for (index, word) in words.enumerated() {
                    bytes.storeBytes(of: word.littleEndian, toByteOffset: index * 8, as: UInt64.self)
                }
            }
        }
        return data
    }

    /// ORs a stored chunk into `words`.
    static func decode(_ data: Data, into words: inout [UInt64]) throws {
        try data.withUnsafeBytes { bytes in
            if bytes.count == bitmapBytes {
                for i in 0..<wordsPerChunk {
                    words[i] |= UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                }
            } else if bytes.count % 2 == 0 && bytes.count / 2 <= maxArrayMembers {
                for i in stride(from: 0, to: bytes.count, by: 2) {
                    let value = Int(bytes[i]) | Int(bytes[i + 1]) << 8
                    guard value < chunkBits else { throw StoreError("corrupt user set chunk: member \(value) out of range") }
                    words[value >> 6] |= 1 << UInt64(value & 63)
                }
            } else {
                throw StoreError("corrupt user set chunk: \(bytes.count) bytes")
            }
        }
    }

    /// The union of two stored chunks, in stored form (the SQL upsert's merge function).
    package static func union(_ a: Data, _ b: Data) throws -> Data {
        var words = emptyWords
        try decode(a, into: &words)
        try decode(b, into: &words)
        return encode(words)
    }

    /// True when every member of stored chunk `b` is in stored chunk `a` (the upsert then writes nothing).
    package static func contains(_ a: Data, _ b: Data) throws -> Bool {
        var mine = emptyWords
        try decode(a, into: &mine)
        var theirs = emptyWords
        try decode(b, into: &theirs)
        return zip(mine, theirs).allSatisfy { $0 | $1 == $0 }
    }
}
