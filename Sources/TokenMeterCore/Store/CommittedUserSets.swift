/// The members of user-set rows this process has committed, for the current and the previous
/// bucket of each granularity (by the writer's clock). A batch whose users of a row are all known
/// there has nothing to write to that row: the store's upsert would leave it as it is (it only adds
/// members), so the writer skips it.
///
/// What is remembered stays true: user-set rows only gain members (the one delete is retention's,
/// of buckets long past the ones kept here), whoever writes them, and members are remembered only
/// after the transaction that wrote them committed. Forgetting is always safe: it costs an upsert.
package struct CommittedUserSets: Sendable {
    package struct Key: Hashable, Sendable {
        var granularity: Granularity
        var bucket: Int64
        var dimensions: RollupDimensions
        var paying: Bool
    }

    /// Beyond this many 4096-user chunks held (512 bytes each, 16 MiB) everything is forgotten.
    package static let maxChunks = 32_768

    private var rows: [Key: UserSet] = [:]
    /// Per granularity, the current bucket the rows were last pruned for.
    private var currentBucket: [Granularity: Int64] = [:]
    private var chunks = 0

    package init() {}

    /// Whether the row of `key` (in `dimensions`) is known to hold every member of `set`.
    package func holds(_ set: UserSet, at key: UserSetAggregate.Key, dimensions: DimensionTable) -> Bool {
        rows[Key(key, dimensions)].map(set.isSubset) ?? false
    }

    /// Call once the transaction that wrote `aggregate` committed; `nowMs` is the writer's clock.
    /// Rows of other buckets than the current and the previous one are not kept.
    package mutating func remember(_ aggregate: UserSetAggregate, dimensions: DimensionTable, nowMs: Int64) {
        for granularity in UserSetAggregate.granularities { advance(granularity, to: granularity.bucket(nowMs)) }
        for (key, set) in aggregate.sets {
            let current = currentBucket[key.granularity]!
            guard key.bucket == current || key.bucket == current - key.granularity.milliseconds else { continue }
            // One lookup of the key (seven strings to hash), then the row is changed in place.
            let rowKey = Key(key, dimensions)
            if let index = rows.index(forKey: rowKey) {
                let before = rows.values[index].chunkCount
                rows.values[index].formUnion(set)
                chunks += rows.values[index].chunkCount - before
            } else {
                rows[rowKey] = set
                chunks += set.chunkCount
            }
        }
        if chunks > Self.maxChunks { forgetAll() }
    }

    package mutating func forgetAll() {
        rows.removeAll()
        currentBucket.removeAll()
        chunks = 0
    }

    package var rowCount: Int { rows.count }

    /// Makes `bucket` the current one of `granularity`, forgetting rows of other buckets than it and
    /// the one before (the clock may also step back).
    private mutating func advance(_ granularity: Granularity, to bucket: Int64) {
        if currentBucket[granularity] == bucket { return }
        currentBucket[granularity] = bucket
        let previous = bucket - granularity.milliseconds
        for (key, set) in rows where key.granularity == granularity && key.bucket != bucket && key.bucket != previous {
            chunks -= set.chunkCount
            rows[key] = nil
        }
    }
}

extension CommittedUserSets.Key {
    init(_ key: UserSetAggregate.Key, _ dimensions: DimensionTable) {
        self.init(granularity: key.granularity, bucket: key.bucket, dimensions: dimensions[key.dimension], paying: key.paying)
    }
}
