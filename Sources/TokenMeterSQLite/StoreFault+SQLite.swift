import Foundation
import GRDB
import TokenMeterCore

extension StoreFault {
    /// Sorts an error thrown by SQLite (through GRDB) or by the store itself.
    /// `fileSystemReadOnly` tells whether the database's file system is mounted read-only now:
    /// SQLite reports a write refused with EROFS as a plain I/O error.
    public static func classify(_ error: any Error, fileSystemReadOnly: Bool = false) -> StoreFault {
        if let fault = error as? StoreFault { return fault }
        if fileSystemReadOnly { return .permanent("the database's file system is read-only (\(Self.message(of: error)))") }
        guard let error = error as? DatabaseError else { return .transient("\(error)") }
        let text = Self.message(of: error)
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return .permanent("the database file is malformed (\(text))")
        case .SQLITE_READONLY:
            return .permanent("the database file cannot be written (\(text))")
        case .SQLITE_FULL:
            return .transient("the disk is full (\(text))")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return .transient("the database is busy (\(text))")
        case .SQLITE_CANTOPEN:
            return .transient("SQLite cannot open a file; the process may be out of file descriptors (\(text))")
        default:
            return .transient(text)
        }
    }

    /// SQLite's own words (GRDB's description also carries the SQL text, which clients never see).
    static func message(of error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(error)" }
        return "SQLite error \(error.extendedResultCode.rawValue): \(error.message ?? "\(error.resultCode)")"
    }
}
