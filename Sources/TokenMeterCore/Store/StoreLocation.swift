import Foundation

/// Where the store lives, from `--db` / `TOKENMETER_DB` / the config file's `db`: a file path or a
/// `sqlite:` URL selects the SQLite store (the default); `postgres://` or `postgresql://` a
/// PostgreSQL server (CONTRACT section 7).
public enum StoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    public init(_ text: String) throws {
        let lower = text.lowercased()
        if lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(url: text))
        } else if lower.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }  // sqlite:///abs/path → /abs/path
            guard !path.isEmpty else { throw ConfigError("db: '\(text)' names no file (e.g. sqlite:./tokenmeter.sqlite)") }
            self = .sqlite(path: path)
        } else if lower.contains("://") {
            throw ConfigError("db: '\(Self.redacted(text))' is neither a file path, a sqlite: URL nor a postgres:// URL")
        } else {
            self = .sqlite(path: text)
        }
    }

    /// The text with any password replaced, for logs and errors.
    public static func redacted(_ text: String) -> String {
        guard let at = text.firstIndex(of: "@"), let scheme = text.range(of: "://"), scheme.upperBound < at else { return text }
        let credentials = text[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":<redacted>" + String(text[at...])
    }
}

/// A PostgreSQL server and database, parsed from `postgres://user:pass@host:port/db?sslmode=…`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP (loopback, or a network the operator trusts).
        case disable
        /// TLS required, the server's certificate not checked.
        case require
        /// TLS required, the certificate checked against the system's trust roots and the host name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, sslMode: SSLMode = .disable) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
    }

    public init(url text: String) throws {
        let shown = StoreLocation.redacted(text)
        guard let components = URLComponents(string: text) else {
            throw ConfigError("db: '\(shown)' is not a valid URL (postgres://user:password@host:port/database)")
        }
        guard let host = components.host, !host.isEmpty else { throw ConfigError("db: '\(shown)' has no host") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw ConfigError("db: '\(shown)' must name one database after the host (…@\(host):5432/tokenmeter)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ConfigError("db: '\(shown)' has no user name (postgres://user:password@\(host)/\(database))")
        }
        var sslMode = SSLMode.disable
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw ConfigError("db: sslmode '\(item.value ?? "")' must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            default:
                throw ConfigError("db: unknown option '\(item.name)' in the PostgreSQL URL (only sslmode is understood)")
            }
        }
        if let port = components.port, !(1...65535).contains(port) { throw ConfigError("db: port \(port) is out of range") }
        // URLComponents gives user, password and path percent-decoded.
        self.init(host: host, port: components.port ?? 5432, user: user, password: components.password,
                  database: database, sslMode: sslMode)
    }

    /// The URL without the password.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)" }
}
