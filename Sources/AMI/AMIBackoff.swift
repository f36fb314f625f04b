/// How long to wait before reconnecting: capped exponential backoff with jitter.
///
/// | attempt | base delay |
/// | --- | --- |
/// | 1 | 0.5 s |
/// | 2 | 1 s |
/// | 3 | 2 s |
/// | 4 | 4 s |
/// | 5 | 8 s |
/// | 6 | 16 s |
/// | 7 and later | 30 s (the cap) |
///
/// The delay is then spread by ±20 % (`jitter` in 0..<1 maps to 0.8×…1.2×) so that many clients restarted
/// together do not reconnect in step.
public struct AMIBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30), multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The delay before reconnect `attempt` (1 for the first retry).
    public func delay(attempt: Int, jitter: Double) -> Duration {
        let exponent = Double(max(0, attempt - 1))
        let base = min(Self.seconds(self.initial) * pow(self.multiplier, exponent), Self.seconds(self.maximum))
        let spread = 0.8 + 0.4 * min(max(jitter, 0), 1)
        return .milliseconds(Int64((base * spread * 1000).rounded()))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
