import Foundation

/// Hour, day, week (from Monday) and month buckets of a time zone's local calendar. Every edge is
/// computed from the local wall clock of the constant-offset stretch it falls in, never by adding
/// a step to the previous edge, so a skipped midnight (America/Santiago), a 30-minute DST change
/// (Australia/Lord_Howe) or a half-hour offset (Asia/Kolkata) moves no later edge:
/// - a day, week or month bucket starts at the first instant of its local date, week or month
///   (01:00 on a day whose 00:00 was skipped);
/// - an hour bucket starts at every local hh:00 and at every change of UTC offset, so an hour
///   that occurs twice (a fall-back) is two buckets and a half-hour jump leaves a 30-minute bucket.
/// Timeseries, monitoring `by_day`, `today`, `mtd` and daily limits all use this one helper.
public struct ReportCalendar: Sendable {
    public enum Unit: String, Sendable, CaseIterable { case hour, day, week, month }

    public let timeZone: TimeZone

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
    }

    /// The zone's IANA name as users write it (Foundation on Linux names UTC "GMT").
    public static func name(of zone: TimeZone) -> String {
        zone.identifier == "GMT" ? "UTC" : zone.identifier
    }

    static let hourMs: Int64 = 3_600_000
    static let dayMs: Int64 = 86_400_000

    func offsetMs(_ date: Date) -> Int64 { Int64(timeZone.secondsFromGMT(for: date)) * 1000 }

    /// The bucket number of a local wall-clock time (ms since 1970-01-01T00:00 local).
    static func id(_ unit: Unit, wall: Int64) -> Int64 {
        let day = floorDiv(wall, dayMs)
        switch unit {
        case .hour: return floorDiv(wall, hourMs)
        case .day: return day
        case .week: return floorDiv(day + 3, 7)  // 1970-01-01 was a Thursday; week 0 starts Monday 1969-12-29
        case .month:
            let (y, m, _) = RFC3339.civilFromDays(Int(day))
            return Int64(y) * 12 + Int64(m - 1)
        }
    }

    /// The local wall-clock time a bucket number starts at.
    static func startWall(_ unit: Unit, id: Int64) -> Int64 {
        switch unit {
        case .hour: return id * hourMs
        case .day: return id * dayMs
        case .week: return (id * 7 - 3) * dayMs
        case .month:
            let year = floorDiv(id, 12)
            return Int64(RFC3339.daysFromCivil(year: Int(year), month: Int(id - year * 12) + 1, day: 1)) * dayMs
        }
    }

    /// The bucket edges strictly inside (from, to), ascending; nil when there are more than `limit`.
    public func edges(_ unit: Unit, from: Date, to: Date, limit: Int = Int.max) -> [Date]? {
        var result: [Date] = []
        var start = from
        var offset = offsetMs(from)
        var lastID = Self.id(unit, wall: from.unixMilliseconds + offset)
        var previousOffset = offset
        while start < to {
            let transition = timeZone.nextDaylightSavingTimeTransition(after: start).flatMap { $0 > start ? $0 : nil }
            let end = min(transition ?? to, to)
            let startMs = start.unixMilliseconds
            if start != from {
                // A stretch begins at an offset change: a new bucket when the jump entered one.
                let id = Self.id(unit, wall: startMs + offset)
                if id > lastID || (unit == .hour && offset != previousOffset) {
                    result.append(start)
                    lastID = max(lastID, id)
                }
            }
            while true {
                let edge = Date(unixMilliseconds: Self.startWall(unit, id: lastID + 1) - offset)
                guard edge < end else { break }
                if edge > from { result.append(edge) }
                lastID += 1
                if result.count > limit { return nil }
            }
            if result.count > limit { return nil }
            previousOffset = offset
            start = end
            offset = offsetMs(end)
        }
        return result
    }

    /// The start of the bucket that holds `date`.
    public func start(of unit: Unit, containing date: Date) -> Date {
        let lookback: Double = switch unit {
        case .hour: 3 * 3600
        case .day: 2 * 86400
        case .week: 8 * 86400
        case .month: 32 * 86400
        }
        let from = date.addingTimeInterval(-lookback)
        let inside = edges(unit, from: from, to: date.addingTimeInterval(0.001)) ?? []
        return inside.last ?? from
    }

    /// The buckets covering [from, to): the first starts at `from`, the last ends at `to`.
    public func buckets(_ unit: Unit, from: Date, to: Date, limit: Int = Int.max) -> [(start: Date, end: Date)]? {
        guard from < to, let inner = edges(unit, from: from, to: to, limit: limit) else { return from < to ? nil : [] }
        let bounds = [from] + inner + [to]
        return Array(zip(bounds, bounds.dropFirst())).map { (start: $0.0, end: $0.1) }
    }

    public func startOfDay(_ date: Date) -> Date { start(of: .day, containing: date) }

    public func startOfMonth(_ date: Date) -> Date { start(of: .month, containing: date) }

    /// The start of the local day `days` days after the day that holds `date`.
    public func addingDays(_ days: Int, to date: Date) -> Date {
        let id = Self.id(.day, wall: date.unixMilliseconds + offsetMs(date)) + Int64(days)
        let noonWall = Self.startWall(.day, id: id) + 12 * Self.hourMs
        let noon = Date(unixMilliseconds: noonWall - offsetMs(Date(unixMilliseconds: noonWall)))
        return startOfDay(noon)
    }

    /// The local date (`yyyy-MM-dd`) of an instant.
    public func dateLabel(_ date: Date) -> String {
        let day = Self.id(.day, wall: date.unixMilliseconds + offsetMs(date))
        let (y, m, d) = RFC3339.civilFromDays(Int(day))
        return String(format: "%04d-%02d-%02d", y, m, d)
    }
}
