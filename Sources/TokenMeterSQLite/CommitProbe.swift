import CFileSystemCalls
import Foundation
import Synchronization
import TokenMeterCore

/// Asks the database's file system, right after a commit and before it is acknowledged, whether its
/// journal still works.
///
/// On Linux ext4 (seen on 6.18, `errors=remount-ro`), an fdatasync that is waiting for its data
/// when the journal aborts can return 0 although the journal never wrote the transaction holding
/// the WAL's new size and blocks: jbd2 answers a wait for a transaction that is no longer running
/// or committing with 0, and the abort tears the running one down without writing it. After the
/// repair that commit is gone. The e2e test
/// `test_full_keeps_every_acknowledged_record_through_a_file_system_fault` lost an acknowledged
/// commit that way in 8 runs of 9 with the writer's I/O throttled (strace: the commit's fdatasync
/// began before the abort and returned 0 after it). An aborted journal stays aborted and refuses
/// every new handle, so a call that must start one, made after the sync returned, tells:
/// `fallocate(FALLOC_FL_KEEP_SIZE)` over the database file's first byte. That byte is always
/// allocated, so nothing is allocated and the size does not change (the inode's times are updated,
/// in the journal). ext4 starts a handle for it all the same, which fails with EROFS (or EIO) once
/// the journal has aborted; the commit is then reported as a permanent fault, not acknowledged.
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

    /// Why a store has no fallocate probe.
    enum Absence: Error, Equatable, CustomStringConvertible {
        case cannotOpen(String)
        case unsupported(String)

        var description: String {
            switch self {
            case .cannotOpen(let reason): "the database file cannot be opened for the probe (\(reason))"
            case .unsupported(let reason): "the file system does not support fallocate (\(reason))"
            }
        }
    }

    /// The fallocate probe on the database file at `path`, tried once here: a file system without
    /// fallocate (EOPNOTSUPP: ext4 files without extents, some network and FUSE file systems) gets
    /// none, and says why.
    static func fallocate(path: String) -> Result<CommitProbe, Absence> {
        let descriptor: Int32
        switch ProbeDescriptors.descriptor(path: path) {
        case .success(let opened): descriptor = opened
        case .failure(let absence): return .failure(absence)
        }
        let first = tokenmeter_fallocate_keep_size(descriptor, 0, 1)
        if first != 0, refusal(first) == nil {
            return .failure(.unsupported(String(cString: strerror(-first))))
        }
        return .success(CommitProbe { refusal(tokenmeter_fallocate_keep_size(descriptor, 0, 1)) })
    }

    /// What a fallocate result says about the file system: EROFS or EIO, a failed one. Any other
    /// answer (success, ENOSPC…) says nothing about a commit that its sync already confirmed.
    private static func refusal(_ result: Int32) -> String? {
        guard result == -EROFS || result == -EIO else { return nil }
        return String(cString: strerror(-result))
    }
}

/// One descriptor per database file (device and inode) per process, open for writing (fallocate
/// needs it), never written through, and never closed: closing any descriptor of a file drops every
/// POSIX lock the process holds on it, and SQLite's connections hold theirs (an idle WAL connection
/// too) for as long as they are open, which can outlive a store (sqlite.org/howtocorrupt.html, 2.2).
/// The kernel closes them at exit, like `serve`'s lock file.
enum ProbeDescriptors {
    private static let byFile = Mutex<[FileIdentity: Int32]>([:])

    static func descriptor(path: String) -> Result<Int32, CommitProbe.Absence> {
        if let identity = FileIdentity(path: path), let known = byFile.withLock({ $0[identity] }) { return .success(known) }
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        let code = errno
        guard descriptor >= 0 else { return .failure(.cannotOpen(String(cString: strerror(code)))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return .success(descriptor) }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        // Two stores opening the same file at once may both get here: the second descriptor stays
        // open too (it cannot be closed safely either), and the first one is kept.
        return .success(byFile.withLock { descriptors in
            if let known = descriptors[identity] { return known }
            descriptors[identity] = descriptor
            return descriptor
        })
    }
}

extension StoreFault {
    /// The commit returned, but the file system failed around it: it may not be on disk.
    static func commitNotConfirmed(_ failure: String) -> StoreFault {
        .permanent("the database's file system stopped taking writes while a commit was being synced (\(failure)), so the commit may not be on disk and was not acknowledged; the file system is read-only or failing: repair it (e2fsck) and restart tokenmeter")
    }
}
