import ArgumentParser
import Foundation
import Logging
import Synchronization
import TokenMeterCore
import TokenMeterPostgres
import TokenMeterServer
import TokenMeterSQLite

/// `tokenmeter migrate --from SQLITE --to POSTGRES_URL` (CONTRACT section 6): copies a SQLite store
/// into an empty PostgreSQL store, table by table, in pieces committed with their progress.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a SQLite store into a PostgreSQL store (resumable: run it again after an interruption).",
        discussion: """
            Copies every table as stored: records (pending ones too, with their prices, resources, tags and \
            metadata), minute/hour/day rollups and user sets (also for time whose raw records retention already \
            pruned), user ordinals, the price-change log, credits_per_operation changes and the lifetime totals. \
            The SQLite file is only read; stop the server that writes it first (its lock is taken). The target must \
            be an empty tokenmeter database, or one this same copy was written to: a run that was interrupted \
            (even by kill -9) resumes after the last committed piece and copies nothing twice; a run after the copy \
            is complete changes nothing and says so.

            The lifetime totals (what a server's counters resume from) belong to one instance name on PostgreSQL: \
            --instance NAME, by default the name `tokenmeter serve` derives (TOKENMETER_INSTANCE or the config \
            file's instance, else this host's name and the port, HOST:9477). Start the server that takes over with \
            that name, so its counters continue where the SQLite server's stopped.
            """
    )

    @Option(name: .long, help: "The SQLite store to copy (a file path or sqlite: URL); only read.")
    var from: String

    @Option(name: .long, help: "The PostgreSQL store: postgres://user:pass@host:port/db[?sslmode=disable|require|verify-full].")
    var to: String

    @Option(name: .long, help: "The instance name the lifetime totals go to (default: the name serve derives, host:port, or TOKENMETER_INSTANCE).")
    var instance: String?

    @Option(name: .long, help: "JSON config file (for the default instance name: its instance and port).")
    var config: String?

    @Option(name: .long, help: "The port the serve that takes over listens on (for the default instance name; default 9477, or TOKENMETER_PORT).")
    var port: Int?

    @Option(name: .long, help: .hidden)
    var rowsPerPiece = 5000

    /// A pause after each committed piece (tests stop the copy mid-way with it).
    @Option(name: .long, help: .hidden)
    var pauseAfterPieceMs = 0

    func run() async throws {
        do {
            try await copy()
        } catch let failure as MigrateFailure {
            // One line, without the usage text ArgumentParser adds to a ValidationError.
            FileHandle.standardError.write(Data("Error: \(failure.message)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func copy() async throws {
        guard rowsPerPiece > 0 else { throw MigrateFailure("--rows-per-piece must be at least 1") }
        guard case .postgres(let location) = try parse(to, "--to") else {
            throw MigrateFailure("--to: '\(StoreLocation.redacted(to))' is not a postgres:// URL (postgres://user:pass@host:port/db)")
        }
        guard case .sqlite(let path) = try parse(from, "--from") else {
            throw MigrateFailure("--from: '\(StoreLocation.redacted(from))' is not a SQLite store (a file path or sqlite: URL)")
        }
        let settings: ServerConfig
        do {
            settings = try ConfigLoader.load(file: config, overrides: ConfigOverrides(port: port))
        } catch {
            throw MigrateFailure("\(error)")
        }
        let instanceName = instance ?? PostgresServe.instanceName(settings)
        let source = try openSource(path)
        var logger = Logger(label: "tokenmeter.migrate")
        logger.logLevel = .error
        let copier = StoreCopier(source: source, sourceName: path, rowsPerPiece: rowsPerPiece,
                                 pause: .milliseconds(pauseAfterPieceMs), progressLine: ProgressLine())
        do {
            try await PostgresStore.checkReachable(location, logger: logger)
            try await PostgresStore.withStore(location, instance: instanceName, logger: logger) { target in
                guard let outcome = try await target.withCopyLock({ try await copier.copy(into: target) }) else {
                    throw StoreError("another tokenmeter migrate is writing to \(location) now: wait for it to finish")
                }
                print(outcome.message(from: path, to: "\(location)", instance: instanceName))
            }
        } catch let error as StoreError {
            throw MigrateFailure("migrate: \(error)")
        } catch let error as StoreFault {
            throw MigrateFailure("migrate: \(location): \(error)")
        } catch let error as MigrateFailure {
            throw error
        } catch {
            throw MigrateFailure("migrate: \(location): \(String(describing: error).split(separator: "\n").joined(separator: " "))")
        }
    }

    private func parse(_ text: String, _ option: String) throws -> StoreLocation {
        do {
            return try StoreLocation(text)
        } catch {
            throw MigrateFailure("\(option): \(error)")
        }
    }

    /// The source, read-only, after the store's own soundness checks; refused when missing, empty, or
    /// in use by a server (its lock is held for the whole copy, so none starts on it meanwhile).
    private func openSource(_ path: String) throws -> SQLiteStore {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size else { throw MigrateFailure("--from: there is no SQLite store at \(path)") }
        guard size > 0 else { throw MigrateFailure("--from: \(path) is empty: there is nothing to copy") }
        do {
            try DatabaseLock.acquire(for: path)
        } catch let error as ValidationError {
            throw MigrateFailure("--from: \(error.message) (migrate copies a store no server writes to)")
        }
        do {
            return try SQLiteStore(path: path, readonly: true)
        } catch let error as StoreError {
            throw MigrateFailure("--from: \(error)")
        } catch {
            throw MigrateFailure("--from: cannot open \(path): \(error)")
        }
    }
}

/// A refused or failed migrate: said on one line of stderr, exit status 1.
struct MigrateFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The progress line on stderr, like `ingest`'s: redrawn in place on a terminal, else one line at
/// most every 2 s (and the last one).
final class ProgressLine: Sendable {
    private let interactive = isatty(STDERR_FILENO) != 0
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    func show(_ text: String, final: Bool = false) {
        let now = ContinuousClock.now
        let due = last.withLock { last -> Bool in
            guard interactive || final || last.map({ now - $0 >= .seconds(2) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        let line = (interactive ? "\r\u{1B}[K" : "") + text + (interactive && !final ? "" : "\n")
        FileHandle.standardError.write(Data(line.utf8))
    }
}
