import TokenMeterCore
import Foundation
import Hummingbird

extension IngestPipeline {
    /// Runs a write through the queue and answers its refusals for every ingest route (records,
    /// completions, OTLP spans): a full queue or a shutdown 503 with Retry-After, a store fault 503
    /// or 500 as `APIError.store` decides. Nothing of `what` was stored when it throws.
    func throughTheQueue<T>(_ what: String, _ write: () async throws -> T) async throws -> T {
        do {
            return try await write()
        } catch WriteQueue.SubmitError.full {
            metrics.refused(.queueFull)
            throw APIError.overloaded("the write queue is full; nothing from this request was stored, retry later")
        } catch WriteQueue.SubmitError.closed {
            metrics.refused(.shuttingDown)
            throw APIError.overloaded("the server is shutting down; retry against another instance or later")
        } catch let error as StoreUnavailable {
            metrics.refused(.storeError)
            throw APIError.store(error.fault, what)
        }
    }
}
