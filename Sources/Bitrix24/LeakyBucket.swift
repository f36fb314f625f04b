import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Bitrix24's request limit, modelled on the client side so that requests wait instead of being refused: every
/// request adds one to a counter that drains at `rate` per second; a request that would take it past `burst`
/// waits until it would not. With the portal's own numbers (50 and 2/s, Enterprise 250 and 5/s) the portal
/// never answers QUERY_LIMIT_EXCEEDED, and sustained traffic runs at the full rate.
///
/// The portal's bucket counts a request when it arrives, this one when it leaves: a burst that leaves at once
/// and arrives spread out (queued in the HTTP pool, the network) drains later on the portal than here. So the
/// burst kept is a little smaller than the portal's (`headroom`): by default what the portal drains in two seconds
/// of such jitter, at most a tenth of the burst (4 of 50 at 2/s; 10 of Enterprise's 250 at 5/s). The rate is the
/// same, so the sustained throughput is not smaller.
public final class LeakyBucket: Sendable {
    /// The burst used: the portal's minus the headroom.
    public let burst: Double
    public let rate: Double
    private let state: Mutex<(level: Double, at: Double)>

    public init(burst: Int = 50, rate: Double = 2, headroom: Int? = nil) {
        let reserve = headroom ?? max(1, min(burst / 10, Int((rate * 2).rounded(.up))))
        self.burst = Double(max(1, burst - reserve))
        self.rate = rate
        self.state = Mutex((0, Self.now()))
    }

    /// Waits until one more request fits, then counts it.
    public func acquire() async {
        while true {
            let wait: Double = self.state.withLock { state in
                let now = Self.now()
                let level = max(0, state.level - (now - state.at) * self.rate)
                if level + 1 <= self.burst {
                    state = (level + 1, now)
                    return 0
                }
                state = (level, now)
                return (level + 1 - self.burst) / self.rate
            }
            if wait <= 0 { return }
            try? await Task.sleep(for: .milliseconds(Int64((wait * 1000).rounded(.up))))
            if Task.isCancelled { return }
        }
    }

    /// Counts one request if it fits now; false (and nothing counted) if it would have to wait.
    public func tryAcquire() -> Bool {
        self.state.withLock { state in
            let now = Self.now()
            let level = max(0, state.level - (now - state.at) * self.rate)
            guard level + 1 <= self.burst else { return false }
            state = (level + 1, now)
            return true
        }
    }

    /// How full the bucket is now.
    public var level: Double {
        self.state.withLock { state in max(0, state.level - (Self.now() - state.at) * self.rate) }
    }

    /// The portal said the limit was hit: believe it, and wait as if the bucket were full.
    public func saturate() {
        self.state.withLock { $0 = (self.burst, Self.now()) }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
