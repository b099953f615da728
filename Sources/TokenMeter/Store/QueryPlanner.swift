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
    /// The range asked for: only its own edges may be rounded outward.
    private var outer: (from: Int64, to: Int64) = (0, 0)

    public static func == (a: QueryPlan, b: QueryPlan) -> Bool { a.segments == b.segments && a.rounded == b.rounded }

    /// `oldestKept` gives, per source, the oldest timestamp (ms) that source still holds exactly.
    public static func make(from: Int64, to: Int64, oldestKept: (Source) -> Int64) -> QueryPlan {
        var plan = QueryPlan()
        plan.outer = (from, to)
        plan.cover(from, to, levels: [.day, .hour, .minute], oldestKept: oldestKept)
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
        let rawFrom = oldestKept(.raw)
        if to > rawFrom {
            segments.append(Segment(source: .raw, from: max(from, rawFrom), to: to))
        }
        if from < rawFrom { roundEdge(from, min(to, rawFrom), oldestKept: oldestKept) }
    }

    /// [from, to) is older than raw retention: use the finest rollup kept there. The range's own
    /// edges are rounded to the nearest bucket; an edge shared with another segment is rounded
    /// inward, so no time is counted twice.
    private mutating func roundEdge(_ from: Int64, _ to: Int64, oldestKept: (Source) -> Int64) {
        rounded = true
        for granularity in [Granularity.minute, .hour, .day] where oldestKept(.rollup(granularity)) <= from {
            let size = granularity.milliseconds
            let start = from == outer.from ? floorTo(from + size / 2, size) : ceil(from, size)
            let end = to == outer.to ? floorTo(to + size / 2, size) : floorTo(to, size)
            if start < end { segments.append(Segment(source: .rollup(granularity), from: start, to: end)) }
            return
        }
    }

    private func ceil(_ value: Int64, _ size: Int64) -> Int64 {
        value == Int64.min ? value : floorDiv(value + size - 1, size) * size
    }

    private func floorTo(_ value: Int64, _ size: Int64) -> Int64 { floorDiv(value, size) * size }
}
