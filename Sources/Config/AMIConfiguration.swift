import AMI

/// The `ami` section: how to reach Asterisk's manager interface (`manager.conf`).
public struct AMIConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    /// Never logged; kept out of `description`.
    public var secret: String
    public var authentication: AMIConnectionStateMachine.Authentication
    /// `Events:` of the login: `on` or a class mask such as `call,agent,dialplan` (dialplan brings VarSet,
    /// which names recordings).
    public var events: String
    /// How caller names that are not UTF-8 are read.
    public var encoding: AMITextEncoding
    public var pingInterval: Duration
    public var reconnectMaximum: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 5038, username: String = "callhook", secret: String = "",
        authentication: AMIConnectionStateMachine.Authentication = .md5, events: String = "on",
        encoding: AMITextEncoding = .cp1251, pingInterval: Duration = .seconds(20),
        reconnectMaximum: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.authentication = authentication
        self.events = events
        self.encoding = encoding
        self.pingInterval = pingInterval
        self.reconnectMaximum = reconnectMaximum
    }

    init(_ section: Section) throws(ConfigurationError) {
        self.init()
        try section.onlyKeys([
            "host", "port", "username", "secret", "auth", "events", "encoding", "ping_interval_s", "reconnect_max_s",
        ])
        if let host = try section.string("host") { self.host = host }
        if let port = try section.integer("port", in: 1...65535) { self.port = Int(port) }
        if let username = try section.string("username") { self.username = try Self.oneLine(username, "ami.username") }
        if let secret = try section.string("secret") { self.secret = try Self.oneLine(secret, "ami.secret") }
        if let auth = try section.string("auth") {
            guard let value = AMIConnectionStateMachine.Authentication(rawValue: auth) else {
                throw ConfigurationError(path: "ami.auth", message: "must be md5 or plain")
            }
            self.authentication = value
        }
        if let events = try section.string("events") { self.events = try Self.oneLine(events, "ami.events") }
        if let encoding = try section.string("encoding") {
            guard let value = AMITextEncoding(rawValue: encoding) else {
                let valid = AMITextEncoding.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError(path: "ami.encoding", message: "must be one of \(valid)")
            }
            self.encoding = value
        }
        if let s = try section.integer("ping_interval_s", in: 1...3600) { self.pingInterval = .seconds(s) }
        if let s = try section.integer("reconnect_max_s", in: 1...3600) { self.reconnectMaximum = .seconds(s) }
    }

    static func oneLine(_ value: String, _ path: String) throws(ConfigurationError) -> String {
        guard !value.contains(where: \.isNewline) else {
            throw ConfigurationError(path: path, message: "must be on one line")
        }
        return value
    }
}

extension AMIConfiguration: CustomStringConvertible {
    public var description: String {
        "ami \(self.username)@\(self.host):\(self.port) (\(self.authentication.rawValue), events \(self.events))"
    }
}
