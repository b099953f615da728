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

    public init(_ record: PricedRecord) {
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
    var columnValues: [Int64] {
        [requests, errors, tokens.input, tokens.cachedInput, tokens.cacheWrite, tokens.output, tokens.reasoning,
         costNanoUSD, creditsMicro, unpricedRequests, durationMicrosSum, durationCount]
    }

    init(columnValues v: [Int64]) {
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

    public init(_ record: PricedRecord) {
        service = record.record.service
        operation = record.record.operation
        category = record.category.rawValue
        provider = record.provider
        model = record.model
        status = record.record.status.rawValue
    }

    public init(service: String, operation: String, category: String, provider: String, model: String, status: String) {
        self.service = service
        self.operation = operation
        self.category = category
        self.provider = provider
        self.model = model
        self.status = status
    }
}

public struct UserDayDelta: Sendable, Equatable {
    public var plan: String?
    public var paying = false
    public var requests: Int64 = 0
    public var errors: Int64 = 0
    public var costNanoUSD: Int64 = 0
    public var creditsMicro: Int64 = 0
}

/// Everything one transaction adds to the rollup tables, aggregated in memory first so each
/// affected row is upserted once per batch.
public struct BatchAggregate: Sendable {
    public struct BucketKey: Hashable, Sendable {
        public var bucket: Int64
        public var dimensions: RollupDimensions
    }

    public struct UserDayKey: Hashable, Sendable {
        public var day: Int64
        public var userID: String
    }

    public var rollups: [Granularity: [BucketKey: RollupFigures]] = [:]
    public var userDays: [UserDayKey: UserDayDelta] = [:]
    public var userSets = UserSetAggregate()
    public var lifetime: [[String]: UsageTotals] = [:]

    public init() {}

    public var isEmpty: Bool { lifetime.isEmpty }

    /// Adds one completed (success or error) record; `userOrdinal` is the store's ordinal of its user id.
    public mutating func add(_ record: PricedRecord, userOrdinal: Int64?) {
        precondition(record.record.status != .pending)
        let ms = record.record.timestamp.unixMilliseconds
        let figures = RollupFigures(record)
        let dimensions = RollupDimensions(record)
        for granularity in Granularity.allCases {
            rollups[granularity, default: [:]][BucketKey(bucket: granularity.bucket(ms), dimensions: dimensions), default: RollupFigures()] += figures
        }
        if let userOrdinal {
            userSets.add(userOrdinal, at: ms, dimensions: dimensions, paying: record.record.paying == true)
        }
        if let user = record.record.userID {
            var delta = userDays[UserDayKey(day: Granularity.day.bucket(ms), userID: user)] ?? UserDayDelta()
            delta.plan = record.record.plan ?? delta.plan
            delta.paying = delta.paying || record.record.paying == true
            delta.requests += 1
            delta.errors += figures.errors
            delta.costNanoUSD += record.costNanoUSD
            delta.creditsMicro += record.creditsMicro
            userDays[UserDayKey(day: Granularity.day.bucket(ms), userID: user)] = delta
        }
        let totals = UsageTotals(record)
        let key = [totals.service, totals.operation, totals.category, totals.provider, totals.model, totals.status.rawValue, totals.errorType ?? ""]
        if var existing = lifetime[key] {
            existing.requests ⊕= totals.requests
            existing.tokens ⊕= totals.tokens
            existing.costNanoUSD ⊕= totals.costNanoUSD
            existing.creditsMicro ⊕= totals.creditsMicro
            existing.unpricedRequests ⊕= totals.unpricedRequests
            lifetime[key] = existing
        } else {
            lifetime[key] = totals
        }
    }
}

/// The users of one batch per (bucket, rollup key, paying), at the granularities user sets are kept at.
public struct UserSetAggregate: Sendable {
    public struct Key: Hashable, Sendable {
        public var bucket: Int64
        public var dimensions: RollupDimensions
        public var paying: Bool
    }

    /// Hours answer the edges of a range, days the rest; minutes would cost more than the raw records they replace.
    public static let granularities: [Granularity] = [.hour, .day]

    public var sets: [Granularity: [Key: UserSet]] = [:]

    public init() {}

    public var isEmpty: Bool { sets.isEmpty }

    public mutating func add(_ userOrdinal: Int64, at ms: Int64, dimensions: RollupDimensions, paying: Bool) {
        for granularity in Self.granularities {
            sets[granularity, default: [:]][Key(bucket: granularity.bucket(ms), dimensions: dimensions, paying: paying), default: UserSet()]
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
