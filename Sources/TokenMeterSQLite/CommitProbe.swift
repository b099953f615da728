import CFileSystemCalls
import Foundation
import TokenMeterCore

/// Asks the database's file system, right after a commit and before it is acknowledged, whether its
/// journal still works.
///
/// On Linux ext4 (seen on 6.18, `errors=remount-ro`), an fdatasync that is waiting for its data
/// when the journal aborts can return 0 although the journal never wrote the transaction holding
/// the WAL's new size and blocks: after the repair that commit is gone. The e2e test
/// `test_full_keeps_every_acknowledged_record_through_a_file_system_fault` lost an acknowledged
/// commit that way in most runs with the writer's I/O throttled (strace: the commit's fdatasync
/// began before the abort and returned 0 after it). An aborted journal stays aborted and refuses
/// every new handle, so a call that must start one, made after the sync returned, tells:
/// `fallocate(FALLOC_FL_KEEP_SIZE)` over the database file's first byte, which is always allocated,
/// so nothing is allocated and the size does not change. It fails with EROFS (or EIO) once the
/// journal has aborted, and then the commit is reported as a permanent fault, not acknowledged.
///
/// The main file, not the WAL: fallocate marks a file's data as changed for fdatasync, and SQLite
/// syncs the main file only at checkpoints, while it syncs the WAL on every commit (which would
/// then wait for a journal commit each time).
public struct CommitProbe: Sendable {
    /// nil while the file system takes changes; else what it said.
    let fileSystemFailure: @Sendable () -> String?

    /// A probe that answers with `failure` (tests).
    init(failure: @escaping @Sendable () -> String?) {
        fileSystemFailure = failure
    }

    /// The fallocate probe on the database file at `path`; nil when it cannot be opened for writing.
    static func fallocate(path: String) -> CommitProbe? {
        guard let file = ProbeDescriptor(path: path) else { return nil }
        return CommitProbe { file.journalRefusal() }
    }
}

/// A descriptor of the database file, open for writing (fallocate needs it), never written through.
///
/// Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
/// included (sqlite.org/howtocorrupt.html, 2.2), so it is closed only in deinit, when the store that
/// owns it and its own connection pool is going away: no write can be running then, since every
/// write holds the store.
private final class ProbeDescriptor: Sendable {
    let descriptor: Int32

    init?(path: String) {
        descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
    }

    deinit { close(descriptor) }

    func journalRefusal() -> String? {
        guard tokenmeter_fallocate_keep_size(descriptor, 0, 1) != 0 else { return nil }
        let code = errno
        // Any other answer (EOPNOTSUPP on a file system without fallocate, ENOSPC…) says nothing
        // about a commit that its sync already confirmed.
        guard code == EROFS || code == EIO else { return nil }
        return String(cString: strerror(code))
    }
}

extension StoreFault {
    /// The commit returned, but the file system failed around it: it may not be on disk.
    static func commitNotConfirmed(_ failure: String) -> StoreFault {
        .permanent("the database's file system stopped taking writes while a commit was being synced (\(failure)), so the commit may not be on disk and was not acknowledged; the file system is read-only or failing: repair it (e2fsck) and restart tokenmeter")
    }
}
