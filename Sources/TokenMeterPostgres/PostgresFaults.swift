import PostgresNIO
import TokenMeterCore

/// Sorts PostgreSQL errors (by SQLSTATE, or the client's own connection errors) into the store's
/// faults: transient ones are answered 503 with Retry-After, permanent ones stop writes until an
/// operator acts.
enum PostgresFaults {
    static func classify(_ error: any Error) -> StoreFault {
        if let fault = error as? StoreFault { return fault }
        if let error = error as? StoreError { return .permanent(error.description) }
        guard let error = error as? PSQLError else { return .transient("PostgreSQL: \(error)") }
        if error.code == .server, let state = error.serverInfo?[.sqlState] {
            let message = "PostgreSQL error \(state): \(error.serverInfo?[.message] ?? "")"
            return classify(sqlState: state, message: message)
        }
        let message = "PostgreSQL connection: \(error.code)\(error.underlying.map { " (\($0))" } ?? "")"
        switch error.code {
        case .sslUnsupported, .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError:
            return .permanent(message)
        default:
            // Refused, lost, closed or timed out connections: the server may come back.
            return .transient(message)
        }
    }

    /// By SQLSTATE class (PostgreSQL manual, appendix A).
    static func classify(sqlState state: String, message: String) -> StoreFault {
        switch state {
        case "25006": return .permanent("the PostgreSQL database is read-only (\(message))")
        case "42501": return .permanent("the PostgreSQL user lacks a permission the store needs (\(message))")
        case "3D000": return .permanent("the PostgreSQL database does not exist (\(message))")
        case "42P01", "42703", "42883": return .permanent("the PostgreSQL schema is not the one this tokenmeter knows (\(message))")
        case "53300": return .transient("PostgreSQL has too many connections (\(message))")
        case "40001": return .transient("serialization failure, retry (\(message))")
        case "40P01": return .transient("deadlock detected, retry (\(message))")
        default: break
        }
        switch state.prefix(2) {
        case "08", "53", "57", "58", "40", "55": return .transient(message)  // connection, resources, operator intervention, system, rollback, lock
        case "28": return .permanent("PostgreSQL refused the credentials (\(message))")
        default: return .transient(message)
        }
    }
}
