import JSON

/// What a test or an integrator can make the local portal do (`POST /_sandbox/knobs`, JSON; members left out keep
/// their value):
///
/// ```json
/// {"latency_ms": 200,
///  "fail_next": {"count": 5, "status": 503, "error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
///  "lose_answers": 1, "outage_seconds": 30, "expire_tokens": true,
///  "rate": {"burst": 50, "per_second": 2},
///  "operation_time_limit": {"method": "crm.lead.add", "seconds": 600},
///  "telephony_requires_application": true}
/// ```
struct SandboxKnobs: Sendable {
    struct Failure: Sendable {
        var count: Int
        var status: Int
        var error: String
        var description: String
    }

    /// Added to every REST answer.
    var latency: Duration = .zero
    /// The next requests answer this error without reaching the portal.
    var failNext: Failure?
    /// The next requests are carried out, but the answer is lost on the way (a proxy's 504).
    var loseAnswers = 0
    /// Until this time (monotonic seconds) the portal answers nothing.
    var outageUntil: Double?
    /// A method blocked by the operating-time limit, until a time (Unix).
    var blockedMethod: (method: String, until: Double)?
    var telephonyRequiresApplication: Bool

    init(configuration: Bitrix24SandboxConfiguration) {
        self.telephonyRequiresApplication = configuration.telephonyRequiresApplication
    }

    /// Applies a knobs document. Returns what it could not read.
    mutating func apply(
        _ json: JSONValue, now: Double, monotonic: Double, bucket: inout ServerBucket, expireTokens: () -> Void
    )
        -> [String]
    {
        var problems: [String] = []
        guard case .object(let members) = json else { return ["the knobs must be a JSON object"] }
        for member in members.members {
            switch member.key {
            case "latency_ms":
                guard let ms = PortalValue.int(member.value), ms >= 0 else {
                    problems.append("latency_ms: a number of milliseconds")
                    continue
                }
                self.latency = .milliseconds(ms)
            case "fail_next":
                if member.value.isNull {
                    self.failNext = nil
                    continue
                }
                let count = PortalValue.int(member.value["count"]) ?? 1
                self.failNext = Failure(
                    count: count, status: PortalValue.int(member.value["status"]) ?? 503,
                    error: PortalValue.string(member.value["error"]) ?? "QUERY_LIMIT_EXCEEDED",
                    description: PortalValue.string(member.value["error_description"]) ?? "Too many requests")
            case "lose_answers":
                self.loseAnswers = max(0, PortalValue.int(member.value) ?? 0)
            case "outage_seconds":
                let seconds = member.value.doubleValue ?? Double(member.value.scalarText ?? "") ?? 0
                self.outageUntil = seconds > 0 ? monotonic + seconds : nil
            case "expire_tokens":
                if PortalValue.flag(member.value, default: false) { expireTokens() }
            case "rate":
                let burst = PortalValue.int(member.value["burst"]) ?? Int(bucket.burst)
                let rate = member.value["per_second"]?.doubleValue ?? bucket.rate
                guard burst > 0, rate > 0 else {
                    problems.append("rate: burst and per_second must be positive")
                    continue
                }
                bucket.burst = Double(burst)
                bucket.rate = rate
            case "operation_time_limit":
                if member.value.isNull {
                    self.blockedMethod = nil
                    continue
                }
                guard let method = PortalValue.string(member.value["method"]) else {
                    problems.append("operation_time_limit: needs a method")
                    continue
                }
                let seconds = member.value["seconds"]?.doubleValue ?? 600
                self.blockedMethod = (method.lowercased(), now + seconds)
            case "telephony_requires_application":
                self.telephonyRequiresApplication = PortalValue.flag(member.value, default: false)
            default:
                problems.append("unknown knob \(member.key)")
            }
        }
        return problems
    }

    var json: JSONValue {
        [
            "latency_ms": .integer(
                Int64(
                    self.latency.components.seconds * 1000 + self.latency.components.attoseconds / 1_000_000_000_000_000
                )),
            "fail_next": self.failNext.map {
                ["count": .integer(Int64($0.count)), "status": .integer(Int64($0.status)), "error": .string($0.error)]
            } ?? .null,
            "lose_answers": .integer(Int64(self.loseAnswers)),
            "outage": .bool(self.outageUntil != nil),
            "telephony_requires_application": .bool(self.telephonyRequiresApplication),
        ]
    }
}

/// The portal's own leaky bucket: every request fills it by one, it drains at `rate` per second, and a request
/// that finds it full is refused with 503 `QUERY_LIMIT_EXCEEDED` (b24-docs `limits.md`).
struct ServerBucket: Sendable {
    var burst: Double
    var rate: Double
    var level: Double = 0
    var at: Double = 0
    /// Requests refused so far.
    var refused = 0

    mutating func admit(now: Double) -> Bool {
        self.level = max(0, self.level - (now - self.at) * self.rate)
        self.at = now
        guard self.level + 1 <= self.burst + 1e-9 else {
            self.refused += 1
            return false
        }
        self.level += 1
        return true
    }
}
