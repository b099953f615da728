import TokenMeterCore
import Foundation

/// What the file system says about the database file right now: cheap system calls (stat, statvfs),
/// never a database access, so readiness can ask at any time without waiting behind the writer.
public struct StoreFileStatus: Sendable, Equatable {
    /// Device and inode of the path now; nil when the path no longer exists.
    public var identity: FileIdentity?
    /// Bytes available to the process on the database's file system; nil when statvfs failed.
    public var freeBytes: Int64?
    /// The file system is mounted read-only (an ext4 `errors=remount-ro` fault does this).
    public var readOnlyFileSystem: Bool

    public static func read(path: String) -> StoreFileStatus {
        let directory = (path as NSString).deletingLastPathComponent
        var fs = statvfs()
        let fsOK = statvfs(directory.isEmpty ? "." : directory, &fs) == 0
        return StoreFileStatus(
            identity: FileIdentity(path: path),
            freeBytes: fsOK ? Int64(fs.f_bavail) * Int64(fs.f_frsize) : nil,
            readOnlyFileSystem: fsOK && (fs.f_flag & UInt(ST_RDONLY)) != 0)
    }
}

extension StoreFileStatus {
    /// Whether creating a file next to the database fails with EROFS. An ext4 `errors=remount-ro`
    /// fault leaves the mount flagged read-write for statvfs (emergency_ro) while every write fails,
    /// so after a failed write this tells a read-only file system from a passing I/O error.
    static func directoryRefusesWrites(databasePath path: String) -> Bool {
        let directory = (path as NSString).deletingLastPathComponent
        let probe = (directory.isEmpty ? "." : directory) + "/.tokenmeter-write-probe"
        let descriptor = open(probe, O_CREAT | O_WRONLY, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            unlink(probe)
            return false
        }
        return errno == EROFS
    }
}

/// A file's (device, inode): changes when the file is replaced by another (`mv`, a restore), and
/// the path stops resolving when it is deleted, while SQLite keeps writing to the old inode.
public struct FileIdentity: Sendable, Hashable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    public var description: String { "device \(device), inode \(inode)" }
}

/// The database file's identity as opened, checked against the path before each write.
struct StoreFileGuard: Sendable {
    let path: String
    let opened: FileIdentity?

    /// nil while the path still names the file that was opened.
    func changeSinceOpen(_ now: FileIdentity?) -> String? {
        guard let opened else { return nil }
        guard let now else {
            return "the database file was deleted or moved while the server was running (writes now would be lost with the unlinked file); move it back or restore it, then restart tokenmeter"
        }
        guard now == opened else {
            return "the database file was replaced while the server was running (opened as \(opened), now \(now)); restart tokenmeter to open the new file"
        }
        return nil
    }
}
