import TokenMeterCore
/// Bounds the distinct values a label may take. The first `maxValues` values seen are kept;
/// every later one becomes `__other__` (and the caller counts the overflow).
struct LabelGuard {
    static let overflowValue = "__other__"

    let maxValues: Int
    private(set) var admitted: Set<String> = []

    init(maxValues: Int) { self.maxValues = maxValues }

    /// The value to use as the label, and whether it overflowed.
    mutating func admit(_ value: String) -> (value: String, overflowed: Bool) {
        if admitted.contains(value) { return (value, false) }
        guard admitted.count < maxValues else { return (Self.overflowValue, true) }
        admitted.insert(value)
        return (value, false)
    }
}

/// Limits for the cardinality guard (CONTRACT section 5).
public struct MetricsLimits: Sendable, Equatable {
    public var maxValuesPerLabel: Int
    public var maxSeriesPerMetric: Int

    public init(maxValuesPerLabel: Int = 200, maxSeriesPerMetric: Int = 10_000) {
        self.maxValuesPerLabel = maxValuesPerLabel
        self.maxSeriesPerMetric = maxSeriesPerMetric
    }
}
