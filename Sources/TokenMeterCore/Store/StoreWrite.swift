import Foundation

/// One write for the store's group commit: a new record, or the completion of a pending one. Both
/// go through the write queue and the batch writer, so one transaction holds whatever arrived
/// together, in arrival order, and one component turns what was committed into counter updates.
public enum StoreWrite: Sendable {
    indirect case insert(PricedRecord)
    /// `reprice` turns the completed record into its priced form (inside the transaction, after
    /// the stored pending row has been read); its `NormalizationError` rejects this write alone.
    case complete(id: String, completion: RecordCompletion, reprice: @Sendable (UsageRecord) throws -> PricedRecord)
}

public enum StoreWriteResult: Sendable, Equatable {
    case accepted
    case duplicate
    /// The completed record, and the model its pending row was counted under.
    case completed(PricedRecord, pendingModel: String)
    case notFound
    case alreadyCompleted(RecordStatus)
    /// The completion does not fit the stored record; nothing was written for it.
    case rejected(NormalizationError)

    package var writeOutcome: WriteOutcome? {
        switch self {
        case .accepted: .accepted
        case .duplicate: .duplicate
        default: nil
        }
    }

    var completionResult: CompletionResult? {
        switch self {
        case .completed(let priced, let model): .completed(priced, pendingModel: model)
        case .notFound: .notFound
        case .alreadyCompleted(let status): .alreadyCompleted(status)
        default: nil
        }
    }
}

extension RecordWriter {
    /// Inserts records (a batch of `.insert` writes).
    public func commit(_ records: [PricedRecord]) async throws -> [WriteOutcome] {
        try await write(records.map(StoreWrite.insert)).map { $0.writeOutcome ?? .duplicate }
    }

    /// Completes one pending record. Throws `NormalizationError` (nothing written) when the
    /// completion does not fit the record.
    public func complete(id: String, with completion: RecordCompletion,
                         reprice: @escaping @Sendable (UsageRecord) throws -> PricedRecord) async throws -> CompletionResult {
        let result = try await write([.complete(id: id, completion: completion, reprice: reprice)])[0]
        if case .rejected(let error) = result { throw error }
        return result.completionResult!
    }
}
