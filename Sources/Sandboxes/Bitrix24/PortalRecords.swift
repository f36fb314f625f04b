import JSON

/// CRM entity types as the REST API names them.
enum EntityKind: String, CaseIterable, Sendable {
    case lead = "LEAD"
    case contact = "CONTACT"
    case company = "COMPANY"
    case deal = "DEAL"

    /// `OWNER_TYPE_ID` of activities, `crm.enum.ownertype`.
    var ownerTypeID: Int {
        switch self {
        case .lead: return 1
        case .deal: return 2
        case .contact: return 3
        case .company: return 4
        }
    }

    init?(ownerTypeID: Int) {
        guard let kind = Self.allCases.first(where: { $0.ownerTypeID == ownerTypeID }) else { return nil }
        self = kind
    }

    /// `crm.lead.add` → `.lead`.
    init?(methodNoun: Substring) {
        guard let kind = Self.allCases.first(where: { $0.rawValue.lowercased() == methodNoun }) else { return nil }
        self = kind
    }

    /// The name a person reads: `NAME LAST_NAME` for contacts, `TITLE` otherwise.
    func displayName(_ fields: JSONObject) -> String {
        if self == .contact {
            let parts = [fields["NAME"]?.scalarText, fields["LAST_NAME"]?.scalarText].compactMap { $0 }.filter {
                !$0.isEmpty
            }
            if !parts.isEmpty { return parts.joined(separator: " ") }
        }
        return fields["TITLE"]?.scalarText ?? ""
    }
}

/// A call the portal knows: registered through `telephony.externalcall.register`, maybe finished.
struct ExternalCallRecord: Sendable {
    var callID: String
    /// The register parameters as received (without `auth`).
    var params: JSONObject
    var userID: Int
    var phone: String
    var type: Int
    var line: String
    var externalID: String
    var registeredAt: Double
    var startedAt: Double
    var shownTo: [Int] = []
    var hiddenFrom: [Int] = []
    var finish: JSONObject? = nil
    var finishResult: JSONObject? = nil
    var record: JSONValue? = nil
    var entity: (kind: EntityKind, id: Int)? = nil
    var createdLead: Int? = nil

    var json: JSONValue {
        var object = JSONObject()
        object["CALL_ID"] = .string(self.callID)
        for member in self.params.members where member.key != "CALL_ID" { object[member.key] = member.value }
        object["CRM_ENTITY_TYPE"] = self.entity.map { .string($0.kind.rawValue) } ?? .null
        object["CRM_ENTITY_ID"] = self.entity.map { .integer(Int64($0.id)) } ?? .null
        object["CRM_CREATED_LEAD"] = self.createdLead.map { .integer(Int64($0)) } ?? .null
        object["shown_to"] = .array(self.shownTo.map { .integer(Int64($0)) })
        object["hidden_from"] = .array(self.hiddenFrom.map { .integer(Int64($0)) })
        object["finish"] = self.finish.map(JSONValue.object) ?? .null
        object["record"] = self.record ?? .null
        object["activity_id"] = self.finishResult?["CRM_ACTIVITY_ID"] ?? .null
        return .object(object)
    }
}

/// A portal answer: the HTTP status and the JSON body.
public struct PortalAnswer: Error, Sendable {
    public var status: Int
    public var body: JSONValue
    /// Raw bytes instead of JSON (a proxy's HTML error page).
    public var raw: [UInt8]?

    init(status: Int = 200, body: JSONValue, raw: [UInt8]? = nil) {
        self.status = status
        self.body = body
        self.raw = raw
    }

    static func error(_ status: Int, _ code: String, _ description: String) -> PortalAnswer {
        PortalAnswer(status: status, body: ["error": .string(code), "error_description": .string(description)])
    }

    static func core(_ description: String) -> PortalAnswer {
        self.error(400, "ERROR_CORE", description)
    }

    static func notFound() -> PortalAnswer {
        self.error(400, "", "Not found")
    }

    var isError: Bool { self.body["error"] != nil || self.raw != nil }
}

/// Who is calling: the webhook's user or an OAuth application acting for a user.
enum PortalCaller: Sendable, Equatable {
    case webhook(userID: Int)
    case application(userID: Int)

    var userID: Int {
        switch self {
        case .webhook(let id), .application(let id): return id
        }
    }

    var isApplication: Bool {
        if case .application = self { return true }
        return false
    }
}
