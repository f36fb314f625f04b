import Bitrix24

/// The `bitrix24` section: which portal, and how calls become CRM records there.
public struct Bitrix24Settings: Sendable {
    public enum Access: Sendable {
        /// An inbound webhook, `https://<portal>/rest/<user>/<code>/`.
        case webhook(String)
        /// A local application; tokens from the database, or these until the first renewal.
        case oauth(OAuthApplication, initial: OAuthTokens?)
    }

    /// What a trunk (external line) changes: the line number Bitrix24 shows, the lead source, who gets its
    /// missed calls.
    public struct Line: Sendable, Equatable {
        public var lineNumber: String?
        public var crmSource: String?
        public var defaultUserID: Int?

        public init(lineNumber: String? = nil, crmSource: String? = nil, defaultUserID: Int? = nil) {
            self.lineNumber = lineNumber
            self.crmSource = crmSource
            self.defaultUserID = defaultUserID
        }
    }

    /// Who is responsible for a missed call (Itgrix's setting): the client's responsible in the CRM, the user
    /// whose phone rang last, or the default user. Each falls back to the next.
    public enum MissedCallResponsible: Int, Sendable {
        case entityResponsible = 0
        case lastConversation = 1
        case defaultUser = 2
    }

    public var access: Access?
    /// The portal's request limit (Bitrix24: 50 and 2/s; Enterprise: 250 and 5/s).
    public var burst: Int
    public var rate: Double
    public var timeout: Duration
    /// Combine requests waiting for the limiter into batches.
    public var combineRequests: Bool
    public var defaultUserID: Int
    /// Create a CRM entity for an unknown number (`process_entity_creation_params` shapes it).
    public var createEntities: Bool
    /// `lead` or `contact`.
    public var entityType: String
    public var crmSource: String
    public var addToChat: Bool
    /// A known client's call card is also shown to the client's responsible.
    public var cardToResponsible: Bool
    public var missedCallResponsible: MissedCallResponsible
    /// A task for each missed incoming call.
    public var missedCallTasks: Bool
    public var taskDeadline: Duration
    /// How long to wait for a recording that is not written yet when the call ends.
    public var recordWait: Duration
    /// A recording whose file changed within this time is still being written.
    public var recordSettle: Duration
    public var lines: [String: Line]
    /// Show/hide requests of a ring group wait this long to leave together.
    public var showDebounce: Duration
    public var usersRefresh: Duration
    /// `auth[application_token]` that Bitrix24 events must carry (click-to-call).
    public var applicationToken: String?
    /// Start an incoming call's client search when it arrives, before a phone rings (`SearchAhead`).
    public var searchAhead: Bool
    /// Calls worked on at once (each call's operations still go in order).
    public var concurrency: Int

    public init(access: Access? = nil) {
        self.access = access
        self.burst = 50
        self.rate = 2
        self.timeout = .seconds(30)
        self.combineRequests = true
        self.defaultUserID = 1
        self.createEntities = true
        self.entityType = "lead"
        self.crmSource = "CALL"
        self.addToChat = true
        self.cardToResponsible = true
        self.missedCallResponsible = .entityResponsible
        self.missedCallTasks = true
        self.taskDeadline = .seconds(2 * 3600)
        self.recordWait = .seconds(120)
        self.recordSettle = .seconds(2)
        self.lines = [:]
        self.showDebounce = .milliseconds(150)
        self.usersRefresh = .seconds(600)
        self.applicationToken = nil
        self.concurrency = 16
        self.searchAhead = true
    }

    func line(_ trunk: String) -> Line { self.lines[trunk] ?? Line() }
}

extension Duration {
    var seconds: Double {
        let parts = self.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
