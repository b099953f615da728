import Foundation

/// The process entry of both executables: runs an async command in a detached task and parks the
/// main thread on a semaphore.
///
/// Why not an async `@main`: Swift's async main parks the main thread in `sigsuspend`
/// (`dispatch_main`), and valgrind (3.19 and 3.24 alike) dies with an internal SIGSEGV at the next
/// thread start when the main thread waits there. A semaphore wait it follows, so
/// `valgrind --tool=callgrind` can count the instructions of `tokenmeter serve` and of the
/// benchmarks. Nothing in either executable runs on the main actor.
public enum SynchronousEntry {
    public static func run(_ command: @escaping @Sendable () async -> Void) -> Never {
        // Detached: a plain `Task` would inherit the main actor and wait for the parked main thread.
        Task.detached {
            await command()
            exit(EXIT_SUCCESS)
        }
        DispatchSemaphore(value: 0).wait()
        fatalError("the main thread is parked for the life of the process")
    }
}
