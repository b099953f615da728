// Public makers for stores outside this module (the memberwise initializers are internal).
extension PruneSummary {
    public static var none: Self { Self() }
}

extension PendingCount {
    public static func of(service: String, operation: String, model: String, count: Int64) -> Self {
        Self(service: service, operation: operation, model: model, count: count)
    }
}
