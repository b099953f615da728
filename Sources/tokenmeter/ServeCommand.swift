import ArgumentParser
import Foundation
import Hummingbird
import Logging
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (ingest, /metrics, reports) on the SQLite store, or on a shared PostgreSQL store (--db postgres://…)."
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Address to listen on (default 127.0.0.1, or TOKENMETER_HOST).")
    var host: String?

    @Option(name: .long, help: "Port to listen on (default 9477, or TOKENMETER_PORT).")
    var port: Int?

    @Option(name: .long, help: "This instance's name on a shared PostgreSQL store (default host:port, or TOKENMETER_INSTANCE).")
    var instance: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        var logger = Logger(label: "tokenmeter")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var config: ServerConfig
        do {
            config = try options.load(host: host, port: port)
        } catch {
            throw ValidationError("\(error)")
        }
        let problems = config.problems()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "\n")) }
        if let instance { config.instance = instance }
        if case .postgres(let location) = try StoreLocation(config.databasePath) {
            try await PostgresServe.run(config, location, logger: logger)
            return
        }
        try DatabaseLock.acquire(for: config.databasePath)
        if let raised = ConnectionLimit.raiseDescriptorLimit(), raised.from != raised.to {
            logger.info("file-descriptor soft limit raised from \(raised.from) to \(raised.to)")
        }
        if !FileManager.default.fileExists(atPath: config.databasePath) {
            // Said out loud: after a database file was deleted or moved, a restart starts empty.
            logger.notice("no database file at \(config.databasePath): creating a new, empty store there")
        }
        let components: AppComponents
        do {
            components = try await AppComponents.open(config: config, store: StoreOpening.open(config))
        } catch let error as StoreError {
            throw ValidationError("cannot open the store: \(error)")
        }
        let pragmas = (components.store as? SQLiteStore).map {
            "journal_mode=\($0.journalMode), synchronous=\($0.synchronousInEffect?.rawValue ?? "?") (read back from the writer connection), \($0.commitCheck)"
        } ?? ""
        logger.info("tokenmeter \(TokenMeterVersion.string) on \(config.host):\(config.port), store \(config.databasePath): \(pragmas), \(config.tokens.count) API tokens, at most \(config.maxConnections ?? ConnectionLimit.derivedFromDescriptorLimit()) connections")
        let app = try buildApplication(components, logger: logger)
        try await app.runService()
        // Every queued record is committed by now (the writer drains before the group ends).
        do {
            try await components.store.close()
            logger.info("store checkpointed into \(config.databasePath) and closed")
        } catch {
            logger.error("checkpointing the store at shutdown failed (the records are safe in \(config.databasePath)-wal): \(error)")
        }
    }
}

/// One `serve` per database file: a second server would resume counters from totals that include the
/// first one's records, so Prometheus sums over both instances would count them twice.
enum DatabaseLock {
    static func acquire(for databasePath: String) throws {
        let lockPath = databasePath + ".lock"
        let descriptor = open(lockPath, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else { throw ValidationError("cannot open the lock file \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ValidationError("another tokenmeter serve is already using the database \(databasePath) (its lock \(lockPath) is held); stop it or pass another --db")
        }
        // The descriptor stays open for the life of the process; the kernel releases the lock at exit, even after kill -9.
    }
}

struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration (file, environment, flags) and print the effective settings."
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long) var host: String?
    @Option(name: .long) var port: Int?

    func run() async throws {
        let config: ServerConfig
        do {
            config = try options.load(host: host, port: port)
        } catch {
            throw ValidationError("\(error)")
        }
        print("listen:          \(config.host):\(config.port)")
        print("database:        \(StoreLocation.redacted(config.databasePath)) (synchronous=\(config.synchronous.rawValue))")
        print("api tokens:      \(config.tokens.map(\.role.rawValue).joined(separator: ", ").isEmpty ? "none (loopback only)" : config.tokens.map(\.role.rawValue).joined(separator: ", "))")
        print("metrics token:   \(config.metricsToken == nil ? "none" : "set")")
        print("time zone:       \(ReportCalendar.name(of: config.timeZone))")
        print("retention:       raw \(config.retention.rawDays)d, minute rollups \(config.retention.minuteRollupDays)d, hour rollups \(config.retention.hourRollupDays)d, day rollups forever")
        print("budgets:         \(config.budgets.map { "\($0.name) \($0.usd) USD/\($0.window.rawValue)" }.joined(separator: "; "))")
        print("currency rates:  \(config.currencyRates.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))")
        do {
            let entries = try DefaultCatalog.entries()
            print("default catalog: \(entries.count) entries")
            if let file = config.catalogFile {
                let extra = try DefaultCatalog.decode(Data(contentsOf: URL(fileURLWithPath: file)), source: file)
                print("catalog file:    \(file), \(extra.count) entries")
            }
        } catch {
            throw ValidationError("catalog: \(error)")
        }
        let problems = config.problems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
        print("configuration OK")
    }
}
