import ArgumentParser
import Foundation
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Backfill an NDJSON file of usage records straight into the store.",
        discussion: """
            Records are idempotent by id, as over HTTP: running the same file twice stores nothing twice. \
            A running server's counters include these records after its next restart. On PostgreSQL the records \
            are counted in the lifetime totals of the instance --instance names (required there): a `tokenmeter serve` \
            under that name includes them in its counters when it starts; the name of a live instance is refused.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Argument(help: "NDJSON file, one usage record per line.")
    var file: String

    @Option(name: .long, help: "Records per transaction.")
    var batchSize = 1000

    @Option(name: .long, help: "On PostgreSQL: the instance whose lifetime totals count these records (required there; or TOKENMETER_INSTANCE, or the config file's instance).")
    var instance: String?

    func run() async throws {
        var loaded = try options.load()
        if let instance { loaded.instance = instance }
        let config = loaded
        let (file, batchSize) = (self.file, max(1, self.batchSize))
        let summary = try await StoreOpening.withRecordStore(config, for: "ingest") { store in
            try await Self.backfill(file, into: store, config: config, batchSize: batchSize)
        }
        print("accepted \(summary.accepted), duplicates \(summary.duplicates), rejected \(summary.rejected)")
        for (line, message) in summary.errors { print("  line \(line): \(message)") }
        if summary.rejected > summary.errors.count { print("  … and \(summary.rejected - summary.errors.count) more rejected lines") }
        if case .postgres = try StoreLocation(config.databasePath), let name = config.instance, summary.accepted > 0 {
            print("counted under instance '\(name)': its counters include them from the next start of `tokenmeter serve --instance \(name)`")
        }
        if summary.accepted + summary.duplicates == 0 && summary.rejected > 0 { throw ExitCode(1) }
    }

    /// Normalizes, prices and commits the file through the store's one write path, with a progress bar on stderr.
    static func backfill(_ file: String, into store: any UsageStore, config: ServerConfig, batchSize: Int) async throws -> Backfill.Summary {
        // credits_per_operation as the server charges it: the config file's map under the run-time changes.
        let credits = OperationCredits(configured: config.creditsPerOperation, changedMicro: try await store.loadOperationCredits())
        let pricing = try await PricingService.load(catalogFile: config.catalogFile, repository: store, credits: credits)
        var backfill = Backfill(store: store, pricing: pricing,
                                normalizer: RecordNormalizer(maxAge: Double(config.retention.rawDays) * 86400))
        backfill.batchSize = batchSize
        let interactive = isatty(STDERR_FILENO) != 0
        let summary = try await backfill.run(file: file) { progress in
            let percent = progress.totalBytes > 0 ? 100 * Double(progress.bytesRead) / Double(progress.totalBytes) : 100
            let filled = Int(percent / 100 * 30)
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: 30 - filled)
            let eta = progress.etaSeconds.map { String(format: "%.0fs", $0) } ?? "?"
            let line = String(format: "[%@] %5.1f%%  %d lines  %.0f records/s  ETA %@", bar, percent, progress.lines, progress.recordsPerSecond, eta)
            FileHandle.standardError.write(Data(((interactive ? "\r" : "") + line + (interactive ? "" : "\n")).utf8))
        }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        return summary
    }
}
