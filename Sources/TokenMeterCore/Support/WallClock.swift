import Foundation

/// The time of day, injected: the server reads it from one clock (`AppComponents.now`), so tests
/// can run every time-dependent path at a time of their choosing. Durations use `ContinuousClock`.
public typealias WallClock = @Sendable () -> Date
