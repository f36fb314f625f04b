import CThreads
import NIOPosix
import Synchronization

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
    /// The thread's kernel id, once it ran its first job, and the CPU it was last kept off (`keepOffCurrentCPU`).
    private let placement = Mutex<(thread: Int32?, off: Int32?)>((nil, nil))

    public init() {
        self.thread = NIOThreadPool(numberOfThreads: 1)
        self.thread.start()
        self.thread.submit { [self] _ in self.placement.withLock { $0.thread = callhook_thread_id() } }
    }

    /// Keeps the thread off the CPU the caller runs on, until called again: work handed to it then runs beside
    /// the caller's instead of after it.
    ///
    /// On a small virtual machine the kernel may place a woken thread on the CPU of the thread that woke it
    /// rather than wake an idle virtual CPU (`sched_vcpu_pack`), where it either preempts the waker or waits for
    /// it: the ring's look-up and the ring's commit then run one after the other. Nothing changes where the
    /// process may run on one CPU only.
    ///
    /// Returns the CPU the thread is kept off, if any.
    @discardableResult
    public func keepOffCurrentCPU() -> Int32? {
        guard Self.cpus > 1 else { return nil }
        let cpu = callhook_current_cpu()
        guard cpu >= 0 else { return nil }
        let (thread, moved) = self.placement.withLock { placement -> (Int32?, Bool) in
            defer { if placement.thread != nil { placement.off = cpu } }
            return (placement.thread, placement.off != cpu)
        }
        guard let thread else { return nil }
        // One system call when the caller's CPU changed; none while it stays where it was.
        if moved, callhook_keep_thread_off_cpu(thread, cpu) != 0 { return nil }
        return cpu
    }

    /// How many CPUs this process may run on, as it started.
    private static let cpus = callhook_allowed_cpu_count()

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
