import Foundation
import Testing
@testable import TokenMeterCore
@testable import TokenMeterSQLite
@testable import TokenMeterServer

/// Bucket edges of the local calendar against a minute-by-minute scan with Foundation's own
/// calendar, in zones with a skipped midnight, a 30-minute DST change and a half-hour offset.
@Suite("Local calendar bucket edges")
struct ReportCalendarTests {
    static let zones = ["America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata", "America/New_York", "Asia/Kathmandu",
                        "America/Havana", "Europe/London", "UTC"]

    /// Edges by scanning every minute: a day/week/month starts where the local date/week/month
    /// first reaches a new value; an hour starts where the local hour or the UTC offset changes.
    static func scannedEdges(zone: TimeZone, from: Date, to: Date) -> [ReportCalendar.Unit: [Date]] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        calendar.firstWeekday = 2
        calendar.minimumDaysInFirstWeek = 4
        func keys(_ t: Date) -> [ReportCalendar.Unit: [Int]] {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .weekOfYear, .yearForWeekOfYear], from: t)
            return [.hour: [c.year!, c.month!, c.day!, c.hour!, zone.secondsFromGMT(for: t)], .day: [c.year!, c.month!, c.day!],
                    .week: [c.yearForWeekOfYear!, c.weekOfYear!], .month: [c.year!, c.month!]]
        }
        var edges: [ReportCalendar.Unit: [Date]] = [:]
        var last = keys(from)
        var highest = last
        var t = from.addingTimeInterval(60)
        while t < to {
            let k = keys(t)
            for unit in ReportCalendar.Unit.allCases {
                let changed = unit == .hour ? k[unit]! != last[unit]! : highest[unit]!.lexicographicallyPrecedes(k[unit]!)
                if changed {
                    edges[unit, default: []].append(t)
                    highest[unit] = k[unit]
                }
            }
            last = k
            t.addTimeInterval(60)
        }
        return edges
    }

    @Test(arguments: zones)
    func edgesEqualAMinuteScan(zoneName: String) throws {
        let zone = try #require(TimeZone(identifier: zoneName))
        let calendar = ReportCalendar(timeZone: zone)
        // Around the 2026 changes of both hemispheres, from an instant that is no bucket edge.
        for (fromText, days) in [("2026-03-05T07:13:00Z", 6.0), ("2026-03-25T07:13:00Z", 16.0), ("2026-08-30T05:47:00Z", 10.0),
                                 ("2026-09-28T11:31:00Z", 10.0), ("2026-10-24T11:31:00Z", 10.0)] {
            let from = RFC3339.parse(fromText)!
            let to = from.addingTimeInterval(days * 86400)
            let scanned = Self.scannedEdges(zone: zone, from: from, to: to)
            for unit in ReportCalendar.Unit.allCases {
                let edges = try #require(calendar.edges(unit, from: from, to: to))
                #expect(edges == scanned[unit] ?? [], "\(zoneName) \(unit) from \(fromText)")
            }
        }
    }

    @Test func aSkippedMidnightMovesOnlyItsOwnDay() throws {
        let calendar = ReportCalendar(timeZone: TimeZone(identifier: "America/Santiago")!)
        let from = RFC3339.parse("2026-09-04T04:00:00Z")!  // 2026-09-04 00:00 -04
        let edges = try #require(calendar.edges(.day, from: from, to: RFC3339.parse("2026-09-09T03:00:00Z")!))
        // 09-05 00:00 -04, 09-06 01:00 -03 (00:00 was skipped), then midnight -03 again.
        #expect(edges.map(RFC3339.format) == ["2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z", "2026-09-08T03:00:00Z"])
        #expect(calendar.startOfDay(RFC3339.parse("2026-09-06T12:00:00Z")!) == RFC3339.parse("2026-09-06T04:00:00Z")!)
        #expect(calendar.addingDays(2, to: from) == RFC3339.parse("2026-09-06T04:00:00Z")!)
        #expect(calendar.addingDays(3, to: from) == RFC3339.parse("2026-09-07T03:00:00Z")!)
        #expect(calendar.dateLabel(RFC3339.parse("2026-09-06T04:00:00Z")!) == "2026-09-06")
    }

    @Test func aHalfHourDSTChangeKeepsHoursOnTheLocalHour() throws {
        // Lord Howe: +10:30, then +11 from 2026-10-04 02:00 local (15:30Z on 10-03).
        let calendar = ReportCalendar(timeZone: TimeZone(identifier: "Australia/Lord_Howe")!)
        let from = RFC3339.parse("2026-10-03T13:30:00Z")!  // 00:00 +10:30
        let buckets = try #require(calendar.buckets(.hour, from: from, to: RFC3339.parse("2026-10-03T19:00:00Z")!))
        #expect(buckets.map { RFC3339.format($0.start) } == [
            "2026-10-03T13:30:00Z", "2026-10-03T14:30:00Z",  // 00:00, 01:00 +10:30
            "2026-10-03T15:30:00Z",  // 02:30 +11: the 30-minute hour 02
            "2026-10-03T16:00:00Z", "2026-10-03T17:00:00Z", "2026-10-03T18:00:00Z",  // 03:00.. +11
        ])
        #expect(buckets[2].end.timeIntervalSince(buckets[2].start) == 1800)
    }

    @Test func aRepeatedHourIsTwoBucketsAndTheMonthStartsOnTheFirst() throws {
        let newYork = ReportCalendar(timeZone: TimeZone(identifier: "America/New_York")!)
        let edges = try #require(newYork.edges(.hour, from: RFC3339.parse("2026-11-01T04:00:00Z")!, to: RFC3339.parse("2026-11-01T08:00:00Z")!))
        #expect(edges.map(RFC3339.format) == ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"])
        let kolkata = ReportCalendar(timeZone: TimeZone(identifier: "Asia/Kolkata")!)
        #expect(kolkata.startOfMonth(RFC3339.parse("2026-12-01T10:00:00Z")!) == RFC3339.parse("2026-11-30T18:30:00Z")!)
        #expect(kolkata.start(of: .week, containing: RFC3339.parse("2026-12-02T10:00:00Z")!) == RFC3339.parse("2026-11-29T18:30:00Z")!)
    }
}
