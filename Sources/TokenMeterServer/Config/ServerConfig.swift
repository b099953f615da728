import TokenMeterCore
import Foundation

public enum Role: String, Sendable, CaseIterable, Codable {
    case ingest, read, admin

    /// Admin implies the others.
    public func allows(_ required: Role) -> Bool { self == .admin || self == required }
}

public struct Budget: Sendable, Equatable, Codable {
    public enum Window: String, Sendable, Codable { case day, month }
    public var name: String
    public var window: Window
    public var usd: Double
    /// Optional filters (`service`, `operation`, `category`, `provider`, `model`): only matching spend counts.
    public var filters: [String: String]?

    public init(name: String, window: Window, usd: Double, filters: [String: String]? = nil) {
        self.name = name
        self.window = window
        self.usd = usd
        self.filters = filters
    }
}

/// One API token and the role it grants.
public struct APIToken: Sendable, Equatable {
    public var role: Role
    public var token: String

    public init(role: Role, token: String) {
        self.role = role
        self.token = token
    }
}

/// Everything `tokenmeter serve` runs with. Precedence: flags, environment, config file, defaults.
public struct ServerConfig: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 9477
    /// A file path (SQLite) or a `postgres://` URL (see `StoreLocation`).
    public var databasePath = "./tokenmeter.sqlite"
    /// This instance's name on a shared PostgreSQL store (nil: derived from host and port).
    public var instance: String?
    public var tokens: [APIToken] = []
    public var metricsToken: String?
    public var timeZone = TimeZone(identifier: "UTC")!
    public var bodyLimitBytes = 8 * 1024 * 1024
    public var synchronous = SynchronousMode.full
    public var queueCapacity = 200_000
    public var batchMaxRecords = 5_000
    public var batchMaxDelay = Duration.zero
    public var retention = RetentionPolicy()
    public var pruneInterval = Duration.seconds(3600)
    public var statsInterval = Duration.seconds(15)
    public var metricsLimits = MetricsLimits()
    public var catalogFile: String?
    public var budgets: [Budget] = []
    /// Units of each currency per USD (e.g. `RUB: 95.5`).
    public var currencyRates: [String: Double] = [:]
    /// What one internal credit is worth in USD, for margins (`credit_value_usd`); nil: margins in credits per USD only.
    public var creditValueUSD: Double?
    /// Credits per record of an operation when the record carries none (`credits_per_operation`).
    public var creditsPerOperation: [String: Double] = [:]
    public var idleTimeout = Duration.seconds(30)
    /// Time a client has to send a whole request body.
    public var bodyTimeout = Duration.seconds(30)
    /// Below this many free bytes on the database's file system, /readyz answers 503.
    public var minFreeDiskBytes: Int64 = 100 * 1024 * 1024
    /// Open connections accepted at once (nil: derived from the file-descriptor limit at start).
    public var maxConnections: Int?
    /// Groups one report answer holds at most; the rest are summed into `other`.
    public var maxReportGroups = 1000
    /// Report queries running at once; more are answered 503 with Retry-After.
    public var maxConcurrentReports = 4

    public init() {}

    public var isLoopback: Bool {
        if ["localhost", "::1", "[::1]"].contains(host) { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Problems that make the configuration unusable, each one sentence a person can act on.
    public func problems() -> [String] {
        var problems: [String] = []
        if tokens.isEmpty && metricsToken == nil && !isLoopback {
            problems.append("refusing to listen on \(host) with no tokens configured: set TOKENMETER_TOKENS (e.g. ingest:abc,read:def,admin:ghi) or listen on 127.0.0.1")
        } else if tokens.isEmpty && !isLoopback {
            problems.append("refusing to listen on \(host) with no API tokens configured: set TOKENMETER_TOKENS")
        }
        if !(0...65535).contains(port) { problems.append("port \(port) is not between 0 (any free port) and 65535") }
        for token in tokens where token.token.count < 8 {
            problems.append("the \(token.role.rawValue) token is shorter than 8 characters")
        }
        if let metricsToken, metricsToken.count < 8 { problems.append("the metrics token is shorter than 8 characters") }
        if retention.rawDays < 1 || retention.minuteRollupDays < 1 || retention.hourRollupDays < 1 {
            problems.append("retention periods must be at least 1 day")
        }
        if retention.pendingTimeoutHours < 1 { problems.append("retention.pending_timeout_hours must be at least 1") }
        if minFreeDiskBytes < 0 { problems.append("min_free_disk_mb must not be negative") }
        if let maxConnections, maxConnections < 1 { problems.append("max_connections must be positive") }
        if maxReportGroups < 1 || maxConcurrentReports < 1 { problems.append("max_report_groups and max_concurrent_reports must be positive") }
        if queueCapacity < 1 || batchMaxRecords < 1 { problems.append("queue_capacity and batch_max_records must be positive") }
        for budget in budgets where !(budget.usd > 0) { problems.append("budget \(budget.name): usd must be positive") }
        for (currency, rate) in currencyRates where !(rate > 0) { problems.append("currency rate \(currency) must be positive") }
        for (operation, credits) in creditsPerOperation.sorted(by: { $0.key < $1.key }) {
            if let problem = OperationCredits.problem(operation: operation, credits: credits) {
                problems.append("credits_per_operation.\(operation.prefix(64)): \(problem)")
            }
        }
        return problems
    }

    /// Parses `role:token,role:token`.
    public static func parseTokens(_ text: String) throws -> [APIToken] {
        // Errors name an item by position, never by content: a malformed item may be a bare secret.
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.enumerated().map { index, item in
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let role = Role(rawValue: parts[0]), !parts[1].isEmpty else {
                throw ConfigError("TOKENMETER_TOKENS: item \(index + 1) is not role:token with role ingest, read or admin")
            }
            return APIToken(role: role, token: parts[1])
        }
    }
}

/// Logged (e.g. by the service group at debug level) without the secrets.
extension ServerConfig: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "ServerConfig(host: \(host), port: \(port), db: \(StoreLocation.redacted(databasePath)), tokens: \(tokens.map { "\($0.role.rawValue):<redacted>" }), "
            + "metricsToken: \(metricsToken == nil ? "none" : "<redacted>"), tz: \(ReportCalendar.name(of: timeZone)))"
    }

    public var debugDescription: String { description }
}
