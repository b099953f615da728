/// The raw-record columns reports filter and group on: the same names and expressions in every SQL
/// store's schema (SQLite and PostgreSQL both read `||` and `CASE`).
extension ReportDimension {
    /// The raw-table column filtered on.
    package var rawColumn: String {
        switch self {
        case .user: "user_id"
        case .resource: Self.resourceExpression
        default: rawValue
        }
    }

    /// `TYPE/ID`: a type never contains '/', so the first '/' splits it.
    package static let resourceExpression = "(CASE WHEN resource_type IS NULL THEN '' ELSE resource_type || '/' || resource_id END)"

    /// The raw-table expression grouped on (no user, plan or resource reads as "").
    package var rawGroupExpression: String {
        switch self {
        case .user: "coalesce(user_id, '')"
        case .plan: "coalesce(plan, '')"
        case .resourceType: "coalesce(resource_type, '')"
        case .resource: Self.resourceExpression
        default: rawValue
        }
    }
}
