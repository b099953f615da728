import Foundation

/// Splits a time range into the coarsest rollup buckets that fit inside it (day, then hour, then
/// minute) and raw-record segments for what is left, so any range is answered exactly while whole
/// days never touch raw records. Where the finer data has been pruned, the edges are rounded to the
/// nearest bucket boundary of the finest granularity still kept, and the plan says so.
public struct QueryPlan: Sendable, Equatable {
    public enum Source: Sendable, Hashable {
        case raw
        case rollup(Granularity)
    }

    public struct Segment: Sendable, Equatable {
        public var source: Source
        public var from: Int64
        public var to: Int64
    }

    /// An `oldestKept` answer for a source that holds nothing (later than any range's end).
    public static let never = Int64.max / 4

    public var segments: [Segment] = []
    /// True when part of the range was older than the data that could answer it exactly.
    public var rounded = false
    /// The range the segments cover: the range asked for when exact; rounded outward to the
    /// buckets of the finest rollup still kept where raw records are gone; later than `from` when
    /// nothing holds the start (that part is left out).
    public var coveredFrom: Int64 = 0
    public var coveredTo: Int64 = 0

    public static func == (a: QueryPlan, b: QueryPlan) -> Bool { a.segments == b.segments && a.rounded == b.rounded }

    /// `oldestKept` gives, per source, the oldest timestamp (ms) that source still holds exactly.
    ///
    /// Raw retention: raw records end at a cutoff that is rarely a bucket edge, so the bucket of the
    /// finest rollup kept just before it (a UTC day with the default retention) mixes time only that
    /// rollup holds with time raw records hold too. An edge before the end of that bucket (`switchAt`)
    /// is rounded to a bucket of the finest rollup that holds it: outward for the range's own edges
    /// (`outwardFrom`/`outwardTo`), to the nearest bucket for the inner edges of a timeseries (so its
    /// buckets tile and never overlap). The old part is answered from rollups up to `switchAt`, the
    /// rest exactly; no time the rollups hold is dropped, and `coveredFrom`/`coveredTo` say what the
    /// answer covers. The same applies at each rollup's cutoff (`usableFrom`). Time nothing holds any
    /// more is left out (`coveredFrom` is later than `from`).
    public static func make(from: Int64, to: Int64, outwardFrom: Bool = true, outwardTo: Bool = true,
                            oldestKept: (Source) -> Int64) -> QueryPlan {
        var plan = QueryPlan()
        plan.coveredFrom = from
        plan.coveredTo = to
        guard from < to else { return plan }
        let all: [Granularity] = [.day, .hour, .minute]
        let rawFrom = oldestKept(.raw)
        // A rollup is usable for old edges from the first bucket edge of the next coarser rollup after
        // its own cutoff: before that, the coarser bucket mixes time only it holds with time both hold.
        var usableFrom: [Granularity: Int64] = [:]
        var coarser: (size: Int64, from: Int64)? = nil
        for granularity in all {
            let kept = oldestKept(.rollup(granularity))
            guard kept < never else { usableFrom[granularity] = never; continue }
            let usable = coarser.map { plan.ceil(max(kept, $0.from), $0.size) } ?? kept
            usableFrom[granularity] = usable
            coarser = (granularity.milliseconds, usable)
        }
        func holding(_ x: Int64) -> Granularity? {
            [Granularity.minute, .hour, .day].first { usableFrom[$0]! <= plan.floorTo(x, $0.milliseconds) }
        }
        guard rawFrom > Int64.min / 2, from < rawFrom || holding(rawFrom - 1) != nil else {
            plan.cover(from, to, levels: all, oldestKept: oldestKept)
            plan.segments.sort { $0.from < $1.from }
            return plan
        }
        guard let mixed = holding(rawFrom - 1) else {
            // Nothing is kept from before the raw cutoff: the older part is left out.
            plan.rounded = true
            plan.coveredFrom = min(rawFrom, to)
            plan.cover(plan.coveredFrom, to, levels: all, oldestKept: oldestKept)
            plan.segments.sort { $0.from < $1.from }
            return plan
        }
        let switchAt = plan.ceil(rawFrom, mixed.milliseconds)
        guard from < switchAt else {
            plan.cover(from, to, levels: all, oldestKept: oldestKept)
            plan.segments.sort { $0.from < $1.from }
            return plan
        }
        /// The grid an old edge is rounded to (nil: nothing holds it).
        func grid(_ x: Int64) -> Int64? { x >= rawFrom ? mixed.milliseconds : holding(x)?.milliseconds }
        func round(_ x: Int64, outward: Bool, up: Bool) -> Int64? {
            guard let size = grid(x) else { return nil }
            return outward ? (up ? plan.ceil(x, size) : plan.floorTo(x, size)) : plan.floorTo(x + size / 2, size)
        }
        let earliest = all.map { plan.ceil(usableFrom[$0]!, $0.milliseconds) }.min() ?? never
        let start = round(from, outward: outwardFrom, up: false) ?? min(earliest, switchAt)
        let end = to < switchAt ? (round(to, outward: outwardTo, up: true) ?? start) : to
        plan.coveredFrom = start
        plan.coveredTo = max(start, end)
        plan.rounded = plan.coveredFrom != from || plan.coveredTo != to
        let oldEnd = min(end, switchAt)
        if start < oldEnd { plan.cover(start, oldEnd, levels: all.filter { $0.milliseconds >= mixed.milliseconds }, oldestKept: oldestKept) }
        if end > switchAt { plan.cover(max(start, switchAt), end, levels: all, oldestKept: oldestKept) }
        plan.segments.sort { $0.from < $1.from }
        return plan
    }

    private mutating func cover(_ from: Int64, _ to: Int64, levels: [Granularity], oldestKept: (Source) -> Int64) {
        guard from < to else { return }
        for (index, granularity) in levels.enumerated() {
            let size = granularity.milliseconds
            let available = ceil(oldestKept(.rollup(granularity)), size)
            let start = max(ceil(from, size), available)
            let end = floorTo(to, size)
            guard start < end else { continue }
            let finer = Array(levels[(index + 1)...])
            cover(from, start, levels: finer, oldestKept: oldestKept)
            segments.append(Segment(source: .rollup(granularity), from: start, to: end))
            cover(end, to, levels: finer, oldestKept: oldestKept)
            return
        }
        // Only reached within raw retention (`make` answers older parts from rollups).
        let rawFrom = oldestKept(.raw)
        if to > rawFrom {
            segments.append(Segment(source: .raw, from: max(from, rawFrom), to: to))
        }
    }

    func ceil(_ value: Int64, _ size: Int64) -> Int64 {
        value == Int64.min ? value : floorDiv(value + size - 1, size) * size
    }

    func floorTo(_ value: Int64, _ size: Int64) -> Int64 { floorDiv(value, size) * size }
}

extension QueryPlan {
    /// `levels`: the granularities the answer's tables are kept at (figures: all; user sets: hour and day).
    /// `completeFrom`: the rollups hold nothing exact before it (user sets of an upgraded store).
    public static func plan(for query: FigureQuery, retention: RetentionPolicy, now: Date,
                     levels: [Granularity] = Granularity.allCases, completeFrom: Int64 = Int64.min) -> QueryPlan {
        let from = query.from.unixMilliseconds
        let to = query.to.unixMilliseconds
        func oldest(_ source: QueryPlan.Source) -> Int64 {
            switch source {
            case .raw: retention.oldestKept(nil, now: now).unixMilliseconds
            case .rollup(let g) where !levels.contains(g): QueryPlan.never
            case .rollup(.day): completeFrom
            case .rollup(let g): max(retention.oldestKept(g, now: now).unixMilliseconds, completeFrom)
            }
        }
        if query.needsRaw {
            // Users and plans are only in raw records: exact within raw retention.
            let rawFrom = oldest(.raw)
            // The older part is left out; the plan says which part it covers.
            var plan = QueryPlan()
            if to > max(from, rawFrom) { plan.segments = [.init(source: .raw, from: max(from, rawFrom), to: to)] }
            plan.rounded = from < rawFrom
            plan.coveredFrom = min(max(from, rawFrom), to)
            plan.coveredTo = to
            return plan
        }
        return QueryPlan.make(from: from, to: to, outwardFrom: query.outwardEdges.from, outwardTo: query.outwardEdges.to,
                              oldestKept: oldest)
    }
}
