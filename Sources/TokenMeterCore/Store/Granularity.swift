import Foundation

/// Rollup bucket sizes.
public enum Granularity: String, Sendable, CaseIterable, Comparable {
    case minute, hour, day

    public var milliseconds: Int64 {
        switch self {
        case .minute: 60_000
        case .hour: 3_600_000
        case .day: 86_400_000
        }
    }

    public func bucket(_ ms: Int64) -> Int64 { floorDiv(ms, milliseconds) * milliseconds }

    public static func < (a: Granularity, b: Granularity) -> Bool { a.milliseconds < b.milliseconds }
}
