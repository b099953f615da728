import Foundation
import TokenMeterCore

/// The time partitions of `usage_records` (pg-v2): one per UTC day of the record's timestamp `ts`,
/// named `usage_records_pYYYYMMDD`, plus `usage_records_default` for any timestamp no partition
/// covers (a backfill older than raw retention, a clock far ahead, a day whose partition upkeep
/// has not created yet), so an insert never fails for want of a partition.
///
/// Why daily: with the default raw retention of 90 days there are about 92 partitions (the
/// planner prunes them by the `ts` bounds every report query has), and since a partition is only
/// dropped once its whole day is past the cutoff, raw records are kept at most one day (about 1%)
/// longer than the retention says; weekly partitions would mean 13 partitions but up to 7 extra
/// days, which is as long as the default pending timeout (168 h). A retention of a few days still
/// drops a partition every day, never a slice of one.
enum RecordPartitions {
    static let widthMilliseconds: Int64 = 86_400_000
    static let prefix = "usage_records_p"
    static let defaultPartition = "usage_records_default"
    /// How far ahead of the clock upkeep creates partitions: records may carry timestamps up to 5
    /// minutes in the future, and upkeep runs hourly, so the next day always exists before it starts.
    static let ahead: TimeInterval = 86_400 + 300

    /// The partition (day number since 1970-01-01 UTC) a timestamp falls in.
    static func day(ofMilliseconds ms: Int64) -> Int64 {
        ms >= 0 ? ms / widthMilliseconds : -((-ms + widthMilliseconds - 1) / widthMilliseconds)
    }

    static func bounds(day: Int64) -> (from: Int64, to: Int64) {
        (day * widthMilliseconds, (day + 1) * widthMilliseconds)
    }

    static func name(day: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(day) * 86_400))
        func pad(_ n: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(n).count)) + String(n) }
        return prefix + pad(c.year!, 4) + pad(c.month!, 2) + pad(c.day!, 2)
    }

    /// The day a partition's name stands for; nil for any other table.
    static func day(fromName name: String) -> Int64? {
        guard name.hasPrefix(prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard digits.count == 8, digits.allSatisfy(\.isASCIIDigit),
              let year = Int(digits.prefix(4)), let month = Int(digits.dropFirst(4).prefix(2)), let dayOfMonth = Int(digits.suffix(2)) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: dayOfMonth)) else { return nil }
        let day = Int64((date.timeIntervalSince1970 / 86_400).rounded(.down))
        return self.name(day: day) == name ? day : nil
    }

    /// The days upkeep keeps a partition for: from the one holding the raw-retention cutoff (a
    /// backfill within retention lands in a partition) to the one holding `now + ahead`.
    static func wanted(retention: RetentionPolicy, now: Date) -> ClosedRange<Int64> {
        day(ofMilliseconds: retention.oldestKept(nil, now: now).unixMilliseconds)...day(ofMilliseconds: now.addingTimeInterval(ahead).unixMilliseconds)
    }

    /// True when every timestamp the partition holds is older than the raw-retention cutoff.
    static func isExpired(day: Int64, rawCutoff: Int64) -> Bool {
        bounds(day: day).to <= rawCutoff
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
