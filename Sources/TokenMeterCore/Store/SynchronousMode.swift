/// How SQLite syncs a commit to disk (the `synchronous` setting).
public enum SynchronousMode: String, Sendable, CaseIterable {
    /// fsync on every commit: a committed record survives power loss.
    case full = "FULL"
    /// fsync at checkpoints only: a committed record survives a process crash, but the last
    /// commits may be lost on power loss or an OS crash. Faster.
    case normal = "NORMAL"

    public init?(level: Int) {
        switch level {
        case 2: self = .full
        case 1: self = .normal
        default: return nil
        }
    }
}
