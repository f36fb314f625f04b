import Bitrix24
import Pipeline

extension Bitrix24Settings {
    /// The `bitrix24` section (docs/operations.md).
    init(_ section: Section) throws(ConfigurationError) {
        self.init()
        try section.onlyKeys([
            "webhook", "oauth", "rate", "timeout_s", "combine_requests", "default_user_id", "create_entities",
            "entity_type", "crm_source", "add_to_chat", "card_to_responsible", "missed_call_responsible",
            "missed_call_tasks", "task_deadline_hours", "record_wait_s", "record_settle_s", "lines", "show_debounce_ms",
            "users_refresh_s", "application_token", "concurrency", "search_ahead",
        ])
        if let webhook = try section.string("webhook") {
            guard webhook.hasPrefix("https://") || webhook.hasPrefix("http://"), webhook.contains("/rest/") else {
                throw ConfigurationError(
                    path: "bitrix24.webhook", message: "must look like https://<portal>/rest/<user>/<code>/")
            }
            self.access = .webhook(webhook.hasSuffix("/") ? webhook : webhook + "/")
        }
        let oauth = section.section("oauth")
        if !oauth.members.isEmpty {
            guard self.access == nil else {
                throw ConfigurationError(path: "bitrix24.oauth", message: "give either webhook or oauth, not both")
            }
            try oauth.onlyKeys([
                "rest_endpoint", "client_id", "client_secret", "token_endpoint", "access_token", "refresh_token",
            ])
            guard let rest = try oauth.string("rest_endpoint"), let id = try oauth.string("client_id"),
                let secret = try oauth.string("client_secret")
            else {
                throw ConfigurationError(
                    path: "bitrix24.oauth", message: "needs rest_endpoint, client_id and client_secret")
            }
            let app = OAuthApplication(
                restEndpoint: rest, clientID: id, clientSecret: secret,
                tokenEndpoint: try oauth.string("token_endpoint") ?? "https://oauth.bitrix.info/oauth/token/")
            var initial: OAuthTokens?
            if let access = try oauth.string("access_token"), let refresh = try oauth.string("refresh_token") {
                // Lifetime unknown: treat the access token as fresh for a minute, then renew.
                initial = OAuthTokens(accessToken: access, refreshToken: refresh, expiresAt: 0)
            }
            self.access = .oauth(app, initial: initial)
        }
        let rate = section.section("rate")
        if !rate.members.isEmpty {
            try rate.onlyKeys(["burst", "per_second"])
            if let burst = try rate.integer("burst", in: 1...10_000) { self.burst = Int(burst) }
            if let perSecond = try rate.number("per_second", in: 0.01...1000) { self.rate = perSecond }
        }
        if let s = try section.integer("timeout_s", in: 1...600) { self.timeout = .seconds(s) }
        if let b = try section.bool("combine_requests") { self.combineRequests = b }
        if let id = try section.integer("default_user_id", in: 1...Int64(Int32.max)) { self.defaultUserID = Int(id) }
        if let b = try section.bool("create_entities") { self.createEntities = b }
        if let type = try section.string("entity_type") {
            guard ["lead", "contact"].contains(type) else {
                throw ConfigurationError(path: "bitrix24.entity_type", message: "must be lead or contact")
            }
            self.entityType = type
        }
        if let source = try section.string("crm_source") { self.crmSource = source }
        if let b = try section.bool("add_to_chat") { self.addToChat = b }
        if let b = try section.bool("card_to_responsible") { self.cardToResponsible = b }
        if let policy = try section.integer("missed_call_responsible", in: 0...2) {
            self.missedCallResponsible = MissedCallResponsible(rawValue: Int(policy))!
        }
        if let b = try section.bool("missed_call_tasks") { self.missedCallTasks = b }
        if let hours = try section.number("task_deadline_hours", in: 0...24 * 365) {
            self.taskDeadline = .seconds(hours * 3600)
        }
        if let s = try section.integer("record_wait_s", in: 0...86_400) { self.recordWait = .seconds(s) }
        if let s = try section.integer("record_settle_s", in: 0...600) { self.recordSettle = .seconds(s) }
        if let ms = try section.integer("show_debounce_ms", in: 0...10_000) { self.showDebounce = .milliseconds(ms) }
        if let s = try section.integer("users_refresh_s", in: 10...86_400) { self.usersRefresh = .seconds(s) }
        if let token = try section.string("application_token") { self.applicationToken = token }
        if let n = try section.integer("concurrency", in: 1...1024) { self.concurrency = Int(n) }
        if let b = try section.bool("search_ahead") { self.searchAhead = b }
        let lines = section.section("lines")
        guard lines.isMapping else { throw ConfigurationError(path: "bitrix24.lines", message: "must be a mapping") }
        for member in lines.members.members {
            let line = Section(member.value, path: "bitrix24.lines.\(member.key)")
            try line.onlyKeys(["line_number", "crm_source", "default_user_id"])
            self.lines[member.key] = Line(
                lineNumber: try line.string("line_number"), crmSource: try line.string("crm_source"),
                defaultUserID: try line.integer("default_user_id", in: 1...Int64(Int32.max)).map(Int.init))
        }
    }
}

/// The `store` section: where Callhook keeps its state.
public struct StoreConfiguration: Sendable {
    public var path: String
    /// `normal` survives a killed process; `full` also a power cut.
    public var durability: String

    public init(path: String = "callhook.sqlite", durability: String = "normal") {
        self.path = path
        self.durability = durability
    }

    init(_ section: Section, baseDirectory: String) throws(ConfigurationError) {
        self.init()
        try section.onlyKeys(["path", "durability"])
        if let path = try section.string("path") {
            self.path = CallhookConfiguration.resolve(path, against: baseDirectory)
        }
        if let durability = try section.string("durability") {
            guard ["normal", "full"].contains(durability) else {
                throw ConfigurationError(path: "store.durability", message: "must be normal or full")
            }
            self.durability = durability
        }
    }
}

/// The `server` section: where Bitrix24 events (click-to-call) and health checks arrive.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0: no server.
    public var port: Int

    public init(host: String = "0.0.0.0", port: Int = 0) {
        self.host = host
        self.port = port
    }

    init(_ section: Section) throws(ConfigurationError) {
        self.init()
        try section.onlyKeys(["host", "port"])
        if let host = try section.string("host") { self.host = host }
        if let port = try section.integer("port", in: 0...65535) { self.port = Int(port) }
    }
}

/// The `originate` section: how a click-to-call becomes an AMI Originate (before process_originate_params).
public struct OriginateConfiguration: Sendable {
    /// `{extension}` is replaced by the user's extension.
    public var channel: String
    public var context: String
    public var priority: String
    public var callerID: String
    public var timeout: Duration

    public init(
        channel: String = "PJSIP/{extension}", context: String = "from-internal", priority: String = "1",
        callerID: String = "{extension}", timeout: Duration = .seconds(30)
    ) {
        self.channel = channel
        self.context = context
        self.priority = priority
        self.callerID = callerID
        self.timeout = timeout
    }

    init(_ section: Section) throws(ConfigurationError) {
        self.init()
        try section.onlyKeys(["channel", "context", "priority", "caller_id", "timeout_s"])
        if let channel = try section.string("channel") { self.channel = channel }
        if let context = try section.string("context") { self.context = context }
        if let priority = try section.string("priority") { self.priority = priority }
        if let callerID = try section.string("caller_id") { self.callerID = callerID }
        if let s = try section.integer("timeout_s", in: 1...600) { self.timeout = .seconds(s) }
    }
}
