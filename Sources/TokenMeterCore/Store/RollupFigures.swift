/// Additive figures of a set of completed records: what a rollup row holds. Every field is an
/// integer, so any sum of rows is exact.
public struct RollupFigures: Sendable, Equatable {
    public var requests: Int64 = 0
    public var errors: Int64 = 0
    public var tokens = TokenCounts()
    public var costNanoUSD: Int64 = 0
    public var creditsMicro: Int64 = 0
    public var unpricedRequests: Int64 = 0
    public var durationMicrosSum: Int64 = 0
    public var durationCount: Int64 = 0

    public init() {}

    /// `borrowing`: an initializer takes its arguments owned, which copied the whole record (a retain
    /// of each of its strings) three times per record in `BatchAggregate.add`.
    public init(_ record: borrowing PricedRecord) {
        requests = 1
        errors = record.record.status == .error ? 1 : 0
        tokens = record.record.tokens
        costNanoUSD = record.costNanoUSD
        creditsMicro = record.creditsMicro
        unpricedRequests = record.unpriced ? 1 : 0
        if let micros = record.record.durationMicros {
            durationMicrosSum = micros
            durationCount = 1
        }
    }

    /// Saturates instead of trapping: per-record limits keep real sums far below Int64.max, and a
    /// hostile flood of maximal records must not crash the writer.
    public static func += (a: inout RollupFigures, b: RollupFigures) {
        a.requests ⊕= b.requests
        a.errors ⊕= b.errors
        a.tokens ⊕= b.tokens
        a.costNanoUSD ⊕= b.costNanoUSD
        a.creditsMicro ⊕= b.creditsMicro
        a.unpricedRequests ⊕= b.unpricedRequests
        a.durationMicrosSum ⊕= b.durationMicrosSum
        a.durationCount ⊕= b.durationCount
    }

    /// Column values in the order of `StoreSchema.figureColumns`.
    package var columnValues: [Int64] {
        [requests, errors, tokens.input, tokens.cachedInput, tokens.cacheWrite, tokens.output, tokens.reasoning,
         costNanoUSD, creditsMicro, unpricedRequests, durationMicrosSum, durationCount]
    }

    package init(columnValues v: [Int64]) {
        requests = v[0]; errors = v[1]
        tokens = TokenCounts(input: v[2], cachedInput: v[3], cacheWrite: v[4], output: v[5], reasoning: v[6])
        costNanoUSD = v[7]; creditsMicro = v[8]; unpricedRequests = v[9]; durationMicrosSum = v[10]; durationCount = v[11]
    }
}

/// The dimensions a rollup row is keyed by (besides its bucket).
public struct RollupDimensions: Sendable, Hashable {
    public var service: String
    public var operation: String
    public var category: String
    public var provider: String
    public var model: String
    public var status: String
    /// The record's `resource_type`, "" when it has none.
    public var resourceType: String

    public init(_ record: borrowing PricedRecord) {
        service = record.record.service
        operation = record.record.operation
        category = record.category.rawValue
        provider = record.provider
        model = record.model
        status = record.record.status.rawValue
        resourceType = record.record.resourceType ?? ""
    }

    public init(service: String, operation: String, category: String, provider: String, model: String, status: String,
                resourceType: String = "") {
        self.service = service
        self.operation = operation
        self.category = category
        self.provider = provider
        self.model = model
        self.status = status
        self.resourceType = resourceType
    }
}

/// Rollup keys seen in one batch, each hashed once per record: the aggregates below are keyed by
/// its small integer ids instead of six strings (hashing was the top of the writer's profile).
public struct DimensionTable: Sendable {
    private var ids: [RollupDimensions: Int] = [:]
    private(set) var all: [RollupDimensions] = []

    public init() {}

    public mutating func id(_ dimensions: RollupDimensions) -> Int {
        if let id = ids[dimensions] { return id }
        ids[dimensions] = all.count
        all.append(dimensions)
        return all.count - 1
    }

    public subscript(id: Int) -> RollupDimensions { all[id] }
}

/// Everything one transaction adds to the rollup tables, aggregated in memory first so each
/// affected row is upserted once per batch.
public struct BatchAggregate: Sendable {
    package struct BucketKey: Hashable {
        package var granularity: Granularity
        package var bucket: Int64
        package var dimension: Int
    }

    package struct LifetimeKey: Hashable {
        package var dimension: Int
        package var errorType: String?
    }

    public private(set) var dimensions = DimensionTable()
    package private(set) var rollups: [BucketKey: RollupFigures] = [:]
    public private(set) var userSets = UserSetAggregate()
    private(set) var lifetime: [LifetimeKey: UsageTotals] = [:]

    public init() {}

    public var isEmpty: Bool { lifetime.isEmpty }

    /// Adds one completed (success or error) record; `userOrdinal` is the store's ordinal of its
    /// user id (present exactly when the record has a user id).
    public mutating func add(_ record: borrowing PricedRecord, userOrdinal: Int64?) {
        precondition(record.record.status != .pending)
        let ms = record.record.timestamp.unixMilliseconds
        let figures = RollupFigures(record)
        let dimension = dimensions.id(RollupDimensions(record))
        for granularity in Granularity.allCases {
            rollups[BucketKey(granularity: granularity, bucket: granularity.bucket(ms), dimension: dimension), default: RollupFigures()] += figures
        }
        if let userOrdinal {
            userSets.add(userOrdinal, at: ms, dimension: dimension, paying: record.record.paying == true)
        }
        // The lifetime counters are a subset of the rollup figures: a key seen before in the batch
        // adds them, without building the record's `UsageTotals` (its six strings) again.
        let key = LifetimeKey(dimension: dimension, errorType: UsageTotals.errorType(of: record))
        if let index = lifetime.index(forKey: key) {
            lifetime.values[index].add(figures)
        } else {
            lifetime[key] = UsageTotals(record)
        }
    }

    /// The lifetime totals of the batch, one per (rollup key, error type).
    package var totals: Dictionary<LifetimeKey, UsageTotals>.Values { lifetime.values }
}

/// The users of one batch per (bucket, rollup key, paying), at the granularities user sets are
/// kept at. Rollup keys are ids in the `DimensionTable` the aggregate is written with.
public struct UserSetAggregate: Sendable {
    package struct Key: Hashable {
        package var granularity: Granularity
        package var bucket: Int64
        package var dimension: Int
        package var paying: Bool
    }

    /// Hours answer the edges of a range, days the rest; minutes would cost more than the raw records they replace.
    public static let granularities: [Granularity] = [.hour, .day]

    package private(set) var sets: [Key: UserSet] = [:]

    public init() {}

    public var isEmpty: Bool { sets.isEmpty }

    public mutating func add(_ userOrdinal: Int64, at ms: Int64, dimension: Int, paying: Bool) {
        for granularity in Self.granularities {
            sets[Key(granularity: granularity, bucket: granularity.bucket(ms), dimension: dimension, paying: paying), default: UserSet()]
                .insert(userOrdinal)
        }
    }
}

infix operator ⊕=: AssignmentPrecedence

/// Saturating addition for stored sums.
func ⊕= (a: inout Int64, b: Int64) {
    let (sum, overflow) = a.addingReportingOverflow(b)
    a = overflow ? (b > 0 ? Int64.max : Int64.min) : sum
}

func ⊕= (a: inout TokenCounts, b: TokenCounts) {
    a.input ⊕= b.input
    a.cachedInput ⊕= b.cachedInput
    a.cacheWrite ⊕= b.cacheWrite
    a.output ⊕= b.output
    a.reasoning ⊕= b.reasoning
}
