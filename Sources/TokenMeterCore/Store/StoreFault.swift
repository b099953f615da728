import Foundation

/// Why the store could not do a write, sorted by what a client should do about it.
public enum StoreFault: Error, CustomStringConvertible, Sendable, Equatable {
    /// May pass by itself (busy, disk full, out of file descriptors): retrying later can succeed.
    case transient(String)
    /// Will not pass without an operator (malformed file, read-only file system, the file deleted
    /// or replaced, an unknown schema): retrying is pointless until the server is repaired.
    case permanent(String)

    public var description: String {
        switch self {
        case .transient(let reason), .permanent(let reason): reason
        }
    }

    public var isPermanent: Bool {
        if case .permanent = self { return true }
        return false
    }

    /// The fault a store's error stands for. Stores throw `StoreFault` for their own failures;
    /// anything else reaching here is unexpected and treated as transient.
    public static func of(_ error: any Error) -> StoreFault {
        error as? StoreFault ?? .transient("\(error)")
    }
}

/// A store that cannot be opened or read as it is (the message says why and what to do).
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
