import ArgumentParser
import TokenMeterCore
import TokenMeterSQLite
import TokenMeterServer

/// The process entry: see `SynchronousEntry` (a synchronous main, so valgrind can run `serve`).
@main
enum TokenMeterEntry {
    static func main() {
        SynchronousEntry.run { await TokenMeterCommand.main() }
    }
}

struct TokenMeterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenmeter",
        abstract: "Meters AI usage: ingests usage records, prices them, serves Prometheus metrics and reports.",
        version: TokenMeterVersion.string,
        subcommands: [ServeCommand.self, ReportCommand.self, PricesCommand.self, IngestCommand.self, MigrateCommand.self, CheckConfigCommand.self, OTLPDecodeCommand.self]
    )
}

/// Where the configuration and the database come from (flags win over environment over file).
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "JSON config file.")
    var config: String?

    @Option(name: .long, help: "SQLite database file or sqlite: URL (default ./tokenmeter.sqlite), or postgres://user:pass@host:port/db[?sslmode=disable|require|verify-full]; or TOKENMETER_DB.")
    var db: String?

    func load(host: String? = nil, port: Int? = nil) throws -> ServerConfig {
        try ConfigLoader.load(file: config, overrides: ConfigOverrides(host: host, port: port, databasePath: db))
    }
}
