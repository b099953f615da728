/// A copy of a whole store into another one (`tokenmeter migrate`): what is copied, in which order,
/// and in which pieces. Each step is one table of the source; a step's pieces are committed one
/// transaction each on the target, together with the step's progress (the last key copied), so a
/// copy stopped anywhere resumes after the last committed piece and copies nothing twice.
public enum StoreCopy {
    public enum Step: String, Sendable, CaseIterable {
        // User ordinals first: records and user sets refer to them.
        case userOrdinals = "user_ordinals"
        case records = "usage_records"
        case rollupMinute = "rollup_minute"
        case rollupHour = "rollup_hour"
        case rollupDay = "rollup_day"
        case userSetsHour = "user_sets_hour"
        case userSetsDay = "user_sets_day"
        case lifetimeTotals = "lifetime_totals"
        case priceChanges = "price_changes"
        case operationCredits = "operation_credits"

        /// The short name the progress line shows.
        public var label: String {
            switch self {
            case .userOrdinals: "users"
            case .records: "records"
            case .rollupMinute: "minute"
            case .rollupHour: "hour"
            case .rollupDay: "day"
            case .userSetsHour: "sets/h"
            case .userSetsDay: "sets/d"
            case .lifetimeTotals: "lifetime"
            case .priceChanges: "prices"
            case .operationCredits: "credits"
            }
        }

        public var rollupGranularity: Granularity? {
            switch self {
            case .rollupMinute: .minute
            case .rollupHour: .hour
            case .rollupDay: .day
            default: nil
            }
        }

        public var userSetGranularity: Granularity? {
            switch self {
            case .userSetsHour: .hour
            case .userSetsDay: .day
            default: nil
            }
        }
    }

    /// The pieces of a bucketed table (rollups, user sets): whole buckets, in bucket order, each piece
    /// at least `rowsPerPiece` rows (but the last) and never splitting a bucket, so a piece's progress
    /// is one number (the last bucket it holds). `counts`: rows per bucket, in bucket order.
    public static func bucketPieces(_ counts: [(bucket: Int64, rows: Int)], rowsPerPiece: Int) -> [(through: Int64, rows: Int)] {
        var pieces: [(through: Int64, rows: Int)] = []
        var rows = 0
        for (bucket, count) in counts {
            rows += count
            if rows >= rowsPerPiece {
                pieces.append((bucket, rows))
                rows = 0
            }
        }
        if rows > 0, let last = counts.last { pieces.append((last.bucket, rows)) }
        return pieces
    }
}

/// What a source store holds, per step: its rows and a fingerprint of its content. The fingerprint is
/// kept on the target when a copy starts; a copy resumed from a source whose fingerprint changed
/// since (records added, pruned, prices changed) is refused, because its committed pieces were read
/// from other content.
public struct StoreCopySummary: Sendable, Equatable {
    public struct Table: Sendable, Equatable {
        public var rows: Int64
        /// Figures that change when the table's content changes (largest key, sums), in a fixed order.
        public var figures: [Int64]

        public init(rows: Int64, figures: [Int64] = []) {
            self.rows = rows
            self.figures = figures
        }
    }

    public var tables: [StoreCopy.Step: Table]
    /// `user_sets_complete_from` of a store upgraded from before user sets (nil: sets are complete).
    public var userSetsCompleteFrom: Int64?

    public init(tables: [StoreCopy.Step: Table], userSetsCompleteFrom: Int64? = nil) {
        self.tables = tables
        self.userSetsCompleteFrom = userSetsCompleteFrom
    }

    public func rows(_ step: StoreCopy.Step) -> Int64 { tables[step]?.rows ?? 0 }

    /// One line of text, the same for the same content: `table=rows/figure/figure;…` in step order.
    public var fingerprint: String {
        var parts = StoreCopy.Step.allCases.map { step in
            let table = tables[step] ?? Table(rows: 0)
            return "\(step.rawValue)=" + ([table.rows] + table.figures).map(String.init).joined(separator: "/")
        }
        if let userSetsCompleteFrom { parts.append("user_sets_complete_from=\(userSetsCompleteFrom)") }
        return parts.joined(separator: ";")
    }
}

/// Where a copy stands on the target: per step, the last key committed (nil: none yet), the rows
/// committed, and whether the step is finished.
public struct StoreCopyProgress: Sendable, Equatable {
    public struct StepState: Sendable, Equatable {
        public var position: Int64?
        public var rows: Int64
        public var done: Bool

        public init(position: Int64? = nil, rows: Int64 = 0, done: Bool = false) {
            self.position = position
            self.rows = rows
            self.done = done
        }
    }

    public var steps: [StoreCopy.Step: StepState]
    /// The copy was already complete when this run started.
    public var finishedBefore: Bool

    public init(steps: [StoreCopy.Step: StepState] = [:], finishedBefore: Bool = false) {
        self.steps = steps
        self.finishedBefore = finishedBefore
    }

    public subscript(step: StoreCopy.Step) -> StepState {
        get { steps[step] ?? StepState() }
        set { steps[step] = newValue }
    }

    public var isComplete: Bool { StoreCopy.Step.allCases.allSatisfy { self[$0].done } }

    /// The progress line: a bar over every row of every table, then `label copied/total` per table
    /// that has rows (`width` characters of bar).
    public func line(of summary: StoreCopySummary, width: Int = 30) -> String {
        let total = StoreCopy.Step.allCases.reduce(Int64(0)) { $0 + summary.rows($1) }
        let copied = StoreCopy.Step.allCases.reduce(Int64(0)) { $0 + min(self[$1].rows, summary.rows($1)) }
        let fraction = total > 0 ? Double(copied) / Double(total) : (isComplete ? 1 : 0)
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let tables = StoreCopy.Step.allCases.filter { summary.rows($0) > 0 }
            .map { "\($0.label) \(min(self[$0].rows, summary.rows($0)))/\(summary.rows($0))" }
        let percent = Int((fraction * 1000).rounded(.down))
        return "[\(bar)] \(percent / 10).\(percent % 10)%" + (tables.isEmpty ? "" : "  " + tables.joined(separator: "  "))
    }
}
