/// What a batch adds to the rollup, user-set and lifetime tables, as rows in one fixed order, for
/// stores that write the aggregate themselves (the PostgreSQL store). Every store writing rows in the
/// same key order is what keeps concurrent writers of one shared store from deadlocking, and each
/// key appears once, so one multi-row upsert never touches a row twice.
extension BatchAggregate {
    public struct RollupRow: Sendable, Equatable {
        public var granularity: Granularity
        public var bucket: Int64
        public var dimensions: RollupDimensions
        public var figures: RollupFigures
    }

    public struct UserSetRow: Sendable, Equatable {
        public var granularity: Granularity
        public var bucket: Int64
        public var dimensions: RollupDimensions
        public var paying: Bool
        public var chunk: Int64
        /// The chunk's 4096 membership bits, as 64 words (bit `i` of word `w` is member `chunk·4096 + 64w + i`).
        public var words: [UInt64]
    }

    /// Rollup rows sorted by (granularity, bucket, dimensions).
    public var rollupRows: [RollupRow] {
        rollups.map { RollupRow(granularity: $0.key.granularity, bucket: $0.key.bucket, dimensions: dimensions[$0.key.dimension], figures: $0.value) }
            .sorted { ($0.granularity, $0.bucket, $0.dimensions.sortKey) < ($1.granularity, $1.bucket, $1.dimensions.sortKey) }
    }

    /// User-set rows sorted by (granularity, bucket, dimensions, paying, chunk).
    public var userSetRows: [UserSetRow] {
        userSets.sets.flatMap { key, set in
            set.bitmapChunks.map { UserSetRow(granularity: key.granularity, bucket: key.bucket, dimensions: dimensions[key.dimension],
                                              paying: key.paying, chunk: $0.chunk, words: $0.words) }
        }.sorted { a, b in
            (a.granularity, a.bucket, a.dimensions.sortKey, a.paying ? 1 : 0, a.chunk) < (b.granularity, b.bucket, b.dimensions.sortKey, b.paying ? 1 : 0, b.chunk)
        }
    }

    /// Lifetime totals sorted by (dimensions, status, error type).
    public var lifetimeRows: [UsageTotals] {
        lifetime.values.sorted { $0.keyValues.joined(separator: "\u{0}") < $1.keyValues.joined(separator: "\u{0}") }
    }
}

extension RollupDimensions {
    /// The key columns of every store's rollup and user-set tables (after `bucket`), in `columnValues`
    /// order (the one list).
    public static let columnNames = ["service", "operation", "category", "provider", "model", "status", "resource_type"]

    /// The dimensions in `columnNames` order.
    public var columnValues: [String] { [service, operation, category, provider, model, status, resourceType] }

    /// One string that sorts like the tuple of the seven dimensions (a separator below any character they hold).
    var sortKey: String { columnValues.joined(separator: "\u{0}") }
}

extension UsageTotals {
    /// The key columns of every store's lifetime table, in `keyValues` order: the rollup key and the
    /// error type ("" for none).
    public static let keyColumnNames = RollupDimensions.columnNames + ["error_type"]

    /// The counter columns of every store's lifetime table, in `counterValues` order.
    public static let counterColumnNames = [
        "requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
        "cost_nano", "credits_micro", "unpriced_requests",
    ]

    public var keyValues: [String] { [service, operation, category, provider, model, status.rawValue, resourceType, errorType ?? ""] }

    public var counterValues: [Int64] {
        [requests, tokens.input, tokens.cachedInput, tokens.cacheWrite, tokens.output, tokens.reasoning, costNanoUSD, creditsMicro, unpricedRequests]
    }

    /// Totals read back from `keyColumnNames` and `counterColumnNames` values.
    public init(keyValues k: [String], counterValues c: [Int64]) {
        precondition(k.count == Self.keyColumnNames.count && c.count == Self.counterColumnNames.count, "lifetime row width")
        self.init(service: k[0], operation: k[1], category: k[2], provider: k[3], model: k[4],
                  status: RecordStatus(rawValue: k[5]) ?? .success, errorType: k[7].isEmpty ? nil : k[7])
        resourceType = k[6]
        requests = c[0]
        tokens = TokenCounts(input: c[1], cachedInput: c[2], cacheWrite: c[3], output: c[4], reasoning: c[5])
        costNanoUSD = c[6]
        creditsMicro = c[7]
        unpricedRequests = c[8]
    }
}

extension RollupFigures {
    /// Column values in the order of the store's figure columns (`RollupFigures.columnNames`).
    public var storedValues: [Int64] { columnValues }

    /// Figures read back in `columnNames` order.
    public init(storedValues: [Int64]) { self.init(columnValues: storedValues) }

    /// The stored figure columns of every store's rollup tables, in `storedValues` order (the one list).
    public static let columnNames = [
        "requests", "errors", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "cost_nano", "credits_micro", "unpriced_requests", "duration_us_sum", "duration_count",
    ]
}

extension UserSet {
    /// Every non-empty chunk as its 64 membership words, by chunk number.
    public var bitmapChunks: [(chunk: Int64, words: [UInt64])] {
        encodedChunks.map { item in
            var words = Self.emptyWords
            // `encodedChunks` is this type's own encoding, which always decodes.
            try? Self.decode(item.data, into: &words)
            return (item.chunk, words)
        }
    }

    /// Adds the members of one chunk given as 64 membership words.
    public mutating func formUnion(chunk: Int64, words: [UInt64]) {
        precondition(words.count == Self.wordsPerChunk, "a user-set chunk has \(Self.wordsPerChunk) words")
        // This type's own encoding of valid words, which always decodes.
        try? formUnion(chunk: chunk, encoded: Self.encode(words))
    }

    public static var wordsInChunk: Int { wordsPerChunk }
}
