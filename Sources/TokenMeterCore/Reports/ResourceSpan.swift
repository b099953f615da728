import Foundation

/// When one unit of work's completed calls ran, and who made them (raw records).
public struct ResourceSpan: Sendable, Equatable {
    /// Start of the first call, start of the last call, and the latest end (start + duration).
    public var firstCall: Date?
    public var lastCall: Date?
    public var lastEnd: Date?
    /// Distinct user ids, sorted, at most `ResourceSpan.maxUsers`; `userCount` counts them all.
    public var users: [String]
    public var userCount: Int

    public static let maxUsers = 100

    public init(firstCall: Date? = nil, lastCall: Date? = nil, lastEnd: Date? = nil, users: [String] = [], userCount: Int = 0) {
        self.firstCall = firstCall
        self.lastCall = lastCall
        self.lastEnd = lastEnd
        self.users = users
        self.userCount = userCount
    }
}
