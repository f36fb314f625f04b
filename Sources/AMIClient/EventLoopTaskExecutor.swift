import NIOCore

/// A task executor on one NIO event loop: tasks that prefer it run their jobs on the loop's thread, between its
/// reads.
///
/// The AMI client's loop and whoever reads its events on the same executor (the daemon's intake) take a burst of
/// events from the socket to the call tracker without a hand-over between threads: the frames decoded in a read
/// are yielded into the client's input stream, whose reader resumes on the same thread right after the read, and
/// so does the reader of the client's events. On a small machine each hand-over is a wake-up that waits for a core.
///
/// What runs here holds up the loop's reads and writes: it should not block for long (a SQLite transaction is
/// fine; an HTTP request is not).
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop this executor runs on (for its timers, say).
    public let loop: any EventLoop

    public init(_ loop: any EventLoop) {
        self.loop = loop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
