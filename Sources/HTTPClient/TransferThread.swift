import NIOPosix

/// A thread of its own for a chain of work whose latency matters: tasks that prefer it
/// (`Task(executorPreference:)`, `withTaskExecutorPreference`) run their jobs on it, and `CurlHTTPClient`'s
/// transfers made from it block it in place instead of going to the client's pool and coming back.
///
/// Every hand-over between threads costs a wake-up, and on a small machine a wake-up waits for a core: a chain
/// that hops from a cooperative thread to a transfer thread and back for each request pays that each time. On a
/// thread of its own, the chain runs from end to end with one hand-over (onto the thread), and blocking it in a
/// transfer holds up nothing but the chain itself. Swift's cooperative threads are never blocked.
///
/// Whoever uses one is expected to give it one chain at a time (see `RingHeadStart`): a second chain's jobs wait
/// while the first one's transfer blocks the thread.
public final class TransferThread: TaskExecutor, Sendable {
    private let thread: NIOThreadPool

    public init() {
        self.thread = NIOThreadPool(numberOfThreads: 1)
        self.thread.start()
    }

    deinit {
        // Not the blocking shutdown: the last reference may go from a job on this very thread.
        self.thread.shutdownGracefully { _ in }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = self.asUnownedTaskExecutor()
        self.thread.submit { _ in
            if Self.marker.currentValue == nil { Self.marker.currentValue = Marker(owner: ObjectIdentifier(self)) }
            job.runSynchronously(on: executor)
        }
    }

    /// Whether the calling code runs on a transfer thread (where a transfer may block in place).
    public static var isCurrent: Bool { Self.marker.currentValue != nil }

    /// Whether the calling code runs on this very thread.
    public var isCurrentThread: Bool { Self.marker.currentValue?.owner == ObjectIdentifier(self) }

    private final class Marker: Sendable {
        let owner: ObjectIdentifier
        init(owner: ObjectIdentifier) { self.owner = owner }
    }
    private static let marker = ThreadSpecificVariable<Marker>()
}
