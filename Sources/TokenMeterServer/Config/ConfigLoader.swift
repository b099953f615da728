import TokenMeterCore
import Foundation

/// The config file (JSON). Every key is optional; see README "Configuration".
struct ConfigFile: Codable {
    struct Retention: Codable {
        var raw_days: Int?
        var minute_rollup_days: Int?
        var hour_rollup_days: Int?
        var pending_timeout_hours: Int?
    }

    var host: String?
    var port: Int?
    var db: String?
    /// This instance's name on a shared PostgreSQL store.
    var instance: String?
    var tokens: String?
    var metrics_token: String?
    var tz: String?
    var body_limit_bytes: Int?
    var synchronous: String?
    var queue_capacity: Int?
    var batch_max_records: Int?
    var batch_max_delay_ms: Int?
    var retention: Retention?
    var prune_interval_seconds: Int?
    var stats_interval_seconds: Int?
    var max_label_values: Int?
    var max_series_per_metric: Int?
    var catalog_file: String?
    var budgets: [Budget]?
    var currency_rates: [String: Double]?
    var idle_timeout_seconds: Int?
    var credit_value_usd: Double?
    var credits_per_operation: [String: Double]?
    var body_timeout_seconds: Int?
    var min_free_disk_mb: Int?
    var max_connections: Int?
    var max_report_groups: Int?
    var max_concurrent_reports: Int?
}

/// Values given on the command line (nil: not given).
public struct ConfigOverrides: Sendable {
    public var host: String?
    public var port: Int?
    public var databasePath: String?

    public init(host: String? = nil, port: Int? = nil, databasePath: String? = nil) {
        self.host = host
        self.port = port
        self.databasePath = databasePath
    }
}

public enum ConfigLoader {
    /// Defaults, then the config file, then the environment, then flags.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: ConfigOverrides = ConfigOverrides()) throws -> ServerConfig {
        var config = ServerConfig()
        if let file {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw ConfigError("cannot read config file \(file): \(error.localizedDescription)")
            }
            let parsed: ConfigFile
            do { parsed = try JSONDecoder().decode(ConfigFile.self, from: data) } catch let error as DecodingError {
                throw ConfigError("config file \(file): \(error.readableDescription)")
            }
            try apply(parsed, to: &config)
        }
        if let host = environment["TOKENMETER_HOST"] { config.host = host }
        if let port = environment["TOKENMETER_PORT"] {
            guard let value = Int(port) else { throw ConfigError("TOKENMETER_PORT: '\(port)' is not a number") }
            config.port = value
        }
        if let db = environment["TOKENMETER_DB"] { config.databasePath = db }
        if let tokens = environment["TOKENMETER_TOKENS"] { config.tokens = try ServerConfig.parseTokens(tokens) }
        if let token = environment["TOKENMETER_METRICS_TOKEN"], !token.isEmpty { config.metricsToken = token }
        if let tz = environment["TOKENMETER_TZ"] { config.timeZone = try timeZone(tz, source: "TOKENMETER_TZ") }
        if let host = overrides.host { config.host = host }
        if let port = overrides.port { config.port = port }
        if let db = overrides.databasePath { config.databasePath = db }
        if let name = environment["TOKENMETER_INSTANCE"], !name.isEmpty { config.instance = name }
        // A `sqlite:` URL is a path; a postgres:// URL is checked here, so a bad one fails at start.
        if case .sqlite(let path) = try StoreLocation(config.databasePath) { config.databasePath = path }
        return config
    }

    static func timeZone(_ name: String, source: String) throws -> TimeZone {
        guard let zone = TimeZone(identifier: name) else {
            throw ConfigError("\(source): '\(name)' is not an IANA time zone (e.g. UTC, Europe/Moscow)")
        }
        return zone
    }

    private static func apply(_ file: ConfigFile, to config: inout ServerConfig) throws {
        if let v = file.host { config.host = v }
        if let v = file.port { config.port = v }
        if let v = file.db { config.databasePath = v }
        if let v = file.instance { config.instance = v }
        if let v = file.tokens { config.tokens = try ServerConfig.parseTokens(v) }
        if let v = file.metrics_token { config.metricsToken = v }
        if let v = file.tz { config.timeZone = try timeZone(v, source: "tz") }
        if let v = file.body_limit_bytes { config.bodyLimitBytes = v }
        if let v = file.synchronous {
            guard let mode = SynchronousMode(rawValue: v.uppercased()) else {
                throw ConfigError("synchronous: '\(v)' must be FULL or NORMAL")
            }
            config.synchronous = mode
        }
        if let v = file.queue_capacity { config.queueCapacity = v }
        if let v = file.batch_max_records { config.batchMaxRecords = v }
        if let v = file.batch_max_delay_ms { config.batchMaxDelay = .milliseconds(v) }
        if let r = file.retention {
            if let v = r.raw_days { config.retention.rawDays = v }
            if let v = r.minute_rollup_days { config.retention.minuteRollupDays = v }
            if let v = r.hour_rollup_days { config.retention.hourRollupDays = v }
            if let v = r.pending_timeout_hours { config.retention.pendingTimeoutHours = v }
        }
        if let v = file.prune_interval_seconds { config.pruneInterval = .seconds(v) }
        if let v = file.stats_interval_seconds { config.statsInterval = .seconds(v) }
        if let v = file.max_label_values { config.metricsLimits.maxValuesPerLabel = v }
        if let v = file.max_series_per_metric { config.metricsLimits.maxSeriesPerMetric = v }
        if let v = file.catalog_file { config.catalogFile = v }
        if let v = file.budgets { config.budgets = v }
        if let v = file.currency_rates { config.currencyRates = v }
        if let v = file.idle_timeout_seconds { config.idleTimeout = .seconds(v) }
        if let v = file.credit_value_usd { config.creditValueUSD = v }
        if let v = file.credits_per_operation { config.creditsPerOperation = v }
        if let v = file.body_timeout_seconds { config.bodyTimeout = .seconds(v) }
        if let v = file.min_free_disk_mb { config.minFreeDiskBytes = Int64(v) * 1024 * 1024 }
        if let v = file.max_connections { config.maxConnections = v }
        if let v = file.max_report_groups { config.maxReportGroups = v }
        if let v = file.max_concurrent_reports { config.maxConcurrentReports = v }
    }
}
