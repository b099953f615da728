import Foundation

/// A store that can say why calls were unpriced (from the raw records it still keeps): the
/// reports' `unpriced.reasons`. Both stores implement it.
public protocol UnpricedReasonSource: Sendable {
    func unpricedReasons(from: Date, to: Date, limit: Int) async throws -> [UnpricedReason]
}

// Public makers for stores outside this module (the memberwise initializers are internal).
extension UnpricedReason {
    public static func row(model: String, reason: String, requests: Int64) -> Self {
        Self(model: model, reason: reason, requests: requests)
    }
}

extension UnrecognizedUsage {
    public static func answer(requests: Int64, fields: [Field]) -> Self { Self(requests: requests, fields: fields) }
}

extension UnrecognizedUsage.Field {
    public static func row(provider: String, model: String, field: String, requests: Int64, count: Int64) -> Self {
        Self(provider: provider, model: model, field: field, requests: requests, count: count)
    }
}
