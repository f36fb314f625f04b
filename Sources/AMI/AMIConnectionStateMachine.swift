import Crypto

/// The life of one AMI client: connect, greet, log in (plain or MD5 challenge), keep the link alive with Ping,
/// and reconnect with backoff when it breaks. A value with no I/O, clock or logger: its owner feeds it what
/// happened and carries out the returned action.
public struct AMIConnectionStateMachine: Sendable {
    public enum Authentication: String, Sendable {
        /// `Login` with the secret in clear (AMI over loopback or a trusted network).
        case plain
        /// `Challenge`, then `Login` with `Key = md5(challenge + secret)`: the secret never crosses the wire.
        case md5
    }

    public struct Configuration: Sendable {
        public var username: String
        public var secret: String
        public var authentication: Authentication
        /// `Events:` of the login: `on`, `off`, or a mask such as `call,agent`.
        public var events: String
        public var backoff: AMIBackoff

        public init(
            username: String, secret: String, authentication: Authentication = .md5, events: String = "on",
            backoff: AMIBackoff = AMIBackoff()
        ) {
            self.username = username
            self.secret = secret
            self.authentication = authentication
            self.events = events
            self.backoff = backoff
        }
    }

    public enum State: Sendable, Equatable {
        /// Not connected; `attempt` reconnects have failed in a row.
        case disconnected(attempt: Int)
        case connecting(attempt: Int)
        case awaitingBanner(attempt: Int)
        case challenging(actionID: String, attempt: Int)
        case loggingIn(actionID: String, attempt: Int)
        /// Logged in; `pingOutstanding` is the ActionID of an unanswered Ping.
        case ready(version: String, pingOutstanding: String?)
        /// Stopped by the owner: no reconnect.
        case stopped
    }

    public enum Action: Sendable, Equatable {
        /// Open a TCP connection.
        case connect
        /// Write this action.
        case send(AMIAction)
        /// Logged in: the session is usable (reconcile calls in progress now).
        case loggedIn(version: String)
        /// Give this message to the owner (events, and responses to the owner's own actions).
        case deliver(AMIMessage)
        /// Close the connection because of `error`; `connectionClosed` follows.
        case close(AMIError)
        /// Wait, then call `reconnectTimerFired`.
        case scheduleReconnect(after: Duration, attempt: Int, error: AMIError)
        /// Nothing to do.
        case none

        public static func == (lhs: Action, rhs: Action) -> Bool {
            switch (lhs, rhs) {
            case (.connect, .connect), (.none, .none): return true
            case (.send(let a), .send(let b)): return a == b
            case (.loggedIn(let a), .loggedIn(let b)): return a == b
            case (.deliver(let a), .deliver(let b)): return a.pairs.elementsEqual(b.pairs, by: ==)
            case (.close(let a), .close(let b)): return a == b
            case (.scheduleReconnect(let a, let b, let c), .scheduleReconnect(let d, let e, let f)):
                return a == d && b == e && c == f
            default: return false
            }
        }
    }

    public private(set) var state: State = .disconnected(attempt: 0)
    public let configuration: Configuration
    private var nextActionID = 1
    private var version = ""

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// A fresh ActionID for this client's own actions.
    public mutating func makeActionID() -> String {
        defer { self.nextActionID += 1 }
        return "callhook-\(self.nextActionID)"
    }

    public var isReady: Bool {
        if case .ready = self.state { return true }
        return false
    }

    /// The owner starts the client.
    public mutating func start() -> Action {
        guard case .disconnected(let attempt) = self.state else { return .none }
        self.state = .connecting(attempt: attempt)
        return .connect
    }

    /// The owner stops the client for good.
    public mutating func stop() -> Action {
        let wasConnected: Bool
        switch self.state {
        case .disconnected, .stopped: wasConnected = false
        default: wasConnected = true
        }
        self.state = .stopped
        return wasConnected ? .close(AMIError(.connectionClosed, "stopped")) : .none
    }

    /// The TCP connection is open.
    public mutating func connected() -> Action {
        guard case .connecting(let attempt) = self.state else { return .none }
        self.state = .awaitingBanner(attempt: attempt)
        return .none
    }

    /// The connection attempt failed or the connection closed.
    public mutating func connectionClosed(_ error: AMIError) -> Action {
        let attempt: Int
        switch self.state {
        case .stopped: return .none
        case .ready: attempt = 0
        case .disconnected: return .none
        case .connecting(let a), .awaitingBanner(let a), .challenging(_, let a), .loggingIn(_, let a): attempt = a
        }
        let next = error.code == .loginRejected ? max(attempt + 1, 7) : attempt + 1
        self.state = .disconnected(attempt: next)
        return .scheduleReconnect(
            after: self.configuration.backoff.delay(attempt: next, jitter: 0.5), attempt: next, error: error)
    }

    /// The delay of a scheduled reconnect has passed.
    public mutating func reconnectTimerFired() -> Action {
        guard case .disconnected(let attempt) = self.state else { return .none }
        self.state = .connecting(attempt: attempt)
        return .connect
    }

    /// The greeting line arrived.
    public mutating func bannerReceived(_ version: String) -> Action {
        guard case .awaitingBanner(let attempt) = self.state else { return .none }
        self.version = version
        let id = self.makeActionID()
        switch self.configuration.authentication {
        case .md5:
            self.state = .challenging(actionID: id, attempt: attempt)
            return .send(try! AMIAction("Challenge", actionID: id, [("AuthType", "MD5")]))
        case .plain:
            self.state = .loggingIn(actionID: id, attempt: attempt)
            return self.login(actionID: id, extra: [("Secret", self.configuration.secret)])
        }
    }

    /// A block arrived. Responses to the login and keepalive are handled here; everything else is delivered.
    public mutating func messageReceived(_ message: AMIMessage) -> Action {
        switch self.state {
        case .challenging(let id, let attempt) where message.kind == .response && message.has("ActionID", equalTo: id):
            guard message.has("Response", equalTo: "Success"), let challenge = message["Challenge"] else {
                return .close(AMIError(.loginRejected, message["Message"] ?? "Challenge refused"))
            }
            let next = self.makeActionID()
            self.state = .loggingIn(actionID: next, attempt: attempt)
            let key = Self.md5Hex(challenge + self.configuration.secret)
            return self.login(actionID: next, extra: [("AuthType", "MD5"), ("Key", key)])
        case .loggingIn(let id, _) where message.kind == .response && message.has("ActionID", equalTo: id):
            guard message.has("Response", equalTo: "Success") else {
                return .close(AMIError(.loginRejected, message["Message"] ?? "Authentication failed"))
            }
            self.state = .ready(version: self.version, pingOutstanding: nil)
            return .loggedIn(version: self.version)
        case .ready(let version, let ping?) where message.kind == .response && message.has("ActionID", equalTo: ping):
            self.state = .ready(version: version, pingOutstanding: nil)
            return .none
        default:
            return .deliver(message)
        }
    }

    /// The keepalive interval has passed. Sends Ping; if the previous Ping is still unanswered, the link is dead.
    public mutating func pingTimerFired() -> Action {
        guard case .ready(let version, let outstanding) = self.state else { return .none }
        if outstanding != nil {
            return .close(AMIError(.keepaliveTimeout, "no answer to Ping"))
        }
        let id = self.makeActionID()
        self.state = .ready(version: version, pingOutstanding: id)
        return .send(try! AMIAction("Ping", actionID: id))
    }

    /// Lowercase hex MD5, as AMI's challenge login wants it.
    public static func md5Hex(_ text: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in Insecure.MD5.hash(data: Array(text.utf8)) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func login(actionID: String, extra: [(String, String)]) -> Action {
        // The username and secret cannot carry line breaks: they come from the configuration, validated there.
        let action = try? AMIAction(
            "Login", actionID: actionID,
            [("Username", self.configuration.username)] + extra + [("Events", self.configuration.events)])
        guard let action else { return .close(AMIError(.invalidAction, "the username or secret has a line break")) }
        return .send(action)
    }
}
