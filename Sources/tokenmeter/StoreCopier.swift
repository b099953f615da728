import Foundation
import TokenMeterCore
import TokenMeterPostgres
import TokenMeterSQLite

/// The copy of `migrate`: reads the SQLite store table by table (`StoreCopy.Step` order) and writes
/// each piece to the PostgreSQL store with its progress, starting where the target's progress says.
struct StoreCopier: Sendable {
    let source: SQLiteStore
    let sourceName: String
    let rowsPerPiece: Int
    let pause: Duration
    let progressLine: ProgressLine

    struct Outcome {
        var summary: StoreCopySummary
        var alreadyComplete: Bool
        var resumed: Bool

        func message(from source: String, to target: String, instance: String) -> String {
            let counts = StoreCopy.Step.allCases.filter { summary.rows($0) > 0 }.map { "\(summary.rows($0)) \($0.rawValue)" }
            let what = counts.isEmpty ? "an empty store" : counts.joined(separator: ", ")
            if alreadyComplete {
                return "nothing to do: \(source) was already copied to \(target) as instance '\(instance)' (\(what))"
            }
            return "copied \(source) to \(target)\(resumed ? " (resumed)" : "") as instance '\(instance)': \(what). "
                + "Start the server that takes over with: tokenmeter serve --db <the --to URL> --instance '\(instance)'"
        }
    }

    func copy(into target: PostgresStore) async throws -> Outcome {
        let summary = try await source.exportSummary()
        var progress = try await target.beginCopy(fingerprint: summary.fingerprint, source: sourceName)
        let resumed = StoreCopy.Step.allCases.contains { progress[$0].rows > 0 || progress[$0].done }
        if progress.finishedBefore {
            return Outcome(summary: summary, alreadyComplete: true, resumed: false)
        }
        progressLine.show(progress.line(of: summary))
        for step in StoreCopy.Step.allCases where !progress[step].done {
            try await copy(step, into: target, &progress, summary)
        }
        try await target.finishCopy(userSetsCompleteFrom: summary.userSetsCompleteFrom)
        progressLine.show(progress.line(of: summary), final: true)
        return Outcome(summary: summary, alreadyComplete: false, resumed: resumed)
    }

    private func copy(_ step: StoreCopy.Step, into target: PostgresStore, _ progress: inout StoreCopyProgress,
                      _ summary: StoreCopySummary) async throws {
        func committed(_ rows: Int, through position: Int64?, done: Bool) async throws {
            progress[step].rows += Int64(rows)
            progress[step].position = position
            progress[step].done = done
            progressLine.show(progress.line(of: summary))
            if pause > .zero { try await Task.sleep(for: pause) }
        }
        switch step {
        case .userOrdinals:
            while !progress[step].done {
                let after = progress[step].position
                let users = try await source.exportUserOrdinals(after: after, limit: rowsPerPiece)
                let done = users.count < rowsPerPiece
                try await target.importUserOrdinals(users, after: after, done: done)
                try await committed(users.count, through: users.last?.ordinal ?? after, done: done)
            }
        case .records:
            while !progress[step].done {
                let after = progress[step].position
                let records = try await source.exportRecords(after: after, limit: rowsPerPiece)
                let done = records.count < rowsPerPiece
                try await target.importRecords(records, after: after, done: done)
                try await committed(records.count, through: records.last?.seq ?? after, done: done)
            }
        case .rollupMinute, .rollupHour, .rollupDay, .userSetsHour, .userSetsDay:
            let start = progress[step].position
            let counts = try await source.exportBucketCounts(step).filter { start == nil || $0.bucket > start! }
            let pieces = StoreCopy.bucketPieces(counts, rowsPerPiece: rowsPerPiece)
            if pieces.isEmpty {
                try await target.finishStep(step, after: start)
                try await committed(0, through: start, done: true)
            }
            var after = start
            for (index, piece) in pieces.enumerated() {
                let done = index == pieces.count - 1
                if let granularity = step.rollupGranularity {
                    let rows = try await source.exportRollupRows(granularity, after: after, through: piece.through)
                    try await target.importRollupRows(rows, step: step, after: after, through: piece.through, done: done)
                    try await committed(rows.count, through: piece.through, done: done)
                } else if let granularity = step.userSetGranularity {
                    let rows = try await source.exportUserSetRows(granularity, after: after, through: piece.through)
                    try await target.importUserSetRows(rows, step: step, after: after, through: piece.through, done: done)
                    try await committed(rows.count, through: piece.through, done: done)
                }
                after = piece.through
            }
        case .lifetimeTotals:
            let totals = try await source.lifetimeTotals()
            try await target.importLifetimeTotals(totals)
            try await committed(totals.count, through: nil, done: true)
        case .priceChanges:
            let changes = try await source.exportPriceChanges()
            try await target.importPriceChanges(changes)
            try await committed(changes.count, through: nil, done: true)
        case .operationCredits:
            let credits = try await source.loadOperationCredits()
            try await target.importOperationCredits(credits)
            try await committed(credits.count, through: nil, done: true)
        }
    }
}
