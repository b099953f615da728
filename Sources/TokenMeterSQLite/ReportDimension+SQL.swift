import TokenMeterCore

extension ReportDimension {
    /// The raw-table column filtered on.
    var rawColumn: String {
        switch self {
        case .user: "user_id"
        default: rawValue
        }
    }

    /// The raw-table expression grouped on (no user or plan reads as "").
    var rawGroupExpression: String {
        switch self {
        case .user: "coalesce(user_id, '')"
        case .plan: "coalesce(plan, '')"
        default: rawValue
        }
    }
}
