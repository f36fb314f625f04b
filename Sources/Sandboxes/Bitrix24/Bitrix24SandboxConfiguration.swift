import JSON

/// A portal user: who gets call cards, found by the inner phone number (`UF_PHONE_INNER`).
public struct SandboxUser: Sendable, Equatable {
    public var id: Int
    public var name: String
    public var lastName: String
    public var innerPhone: String?
    public var active: Bool

    public init(id: Int, name: String, lastName: String, innerPhone: String?, active: Bool = true) {
        self.id = id
        self.name = name
        self.lastName = lastName
        self.innerPhone = innerPhone
        self.active = active
    }

    var json: JSONValue {
        [
            "ID": .string(String(self.id)), "ACTIVE": .bool(self.active), "NAME": .string(self.name),
            "LAST_NAME": .string(self.lastName), "SECOND_NAME": "",
            "EMAIL": .string("user\(self.id)@callhook.test"),
            "UF_PHONE_INNER": self.innerPhone.map(JSONValue.string) ?? .null,
            "WORK_PHONE": "", "PERSONAL_MOBILE": "", "UF_DEPARTMENT": [1], "USER_TYPE": "employee",
        ]
    }
}

/// A CRM client the portal starts with.
public struct SandboxClient: Sendable, Equatable {
    public enum Kind: String, Sendable { case contact, company, lead }
    public var kind: Kind
    public var id: Int
    public var name: String
    public var phone: String
    public var assignedTo: Int

    public init(_ kind: Kind, id: Int, name: String, phone: String, assignedTo: Int) {
        self.kind = kind
        self.id = id
        self.name = name
        self.phone = phone
        self.assignedTo = assignedTo
    }
}

/// How the local Bitrix24 starts: its users and clients, its credentials, its request limit.
public struct Bitrix24SandboxConfiguration: Sendable {
    /// The inbound webhook `/rest/<webhookUserID>/<webhookCode>/`.
    public var webhookUserID: Int
    /// A secret, as on a real portal: never in the request log or `/_sandbox/state`.
    public var webhookCode: String
    /// The local application (OAuth): id and secret, and the token every event it receives carries.
    public var clientID: String
    public var clientSecret: String
    public var applicationToken: String
    /// Lifetime of an access token (Bitrix24: one hour).
    public var accessTokenLifetime: Double
    /// The leaky bucket: burst and drain rate per second (Bitrix24: 50 and 2; Enterprise 250 and 5).
    public var burst: Int
    public var rate: Double
    /// Whether the telephony methods refuse a webhook (`WRONG_AUTH_TYPE`), as on portals that require an
    /// application context for them.
    public var telephonyRequiresApplication: Bool
    public var users: [SandboxUser]
    public var clients: [SandboxClient]
    /// Requests kept in the log (`/_sandbox/state`); the oldest go first.
    public var requestLogLimit: Int

    public init(
        webhookUserID: Int = 1, webhookCode: String = "sandbox-webhook-code",
        clientID: String = "local.callhook.sandbox",
        clientSecret: String = "sandbox-client-secret", applicationToken: String = "sandbox-application-token",
        accessTokenLifetime: Double = 3600, burst: Int = 50, rate: Double = 2,
        telephonyRequiresApplication: Bool = false,
        users: [SandboxUser] = Self.defaultUsers, clients: [SandboxClient] = Self.defaultClients,
        requestLogLimit: Int = 100_000
    ) {
        self.webhookUserID = webhookUserID
        self.webhookCode = webhookCode
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.applicationToken = applicationToken
        self.accessTokenLifetime = accessTokenLifetime
        self.burst = burst
        self.rate = rate
        self.telephonyRequiresApplication = telephonyRequiresApplication
        self.users = users
        self.clients = clients
        self.requestLogLimit = requestLogLimit
    }

    /// An office of six: four with desk phones, one without (gets no call cards), one who left (inactive).
    /// The inner numbers cover the extensions of the shipped captures (777, 7002, 7004, 7006, 9170).
    public static let defaultUsers: [SandboxUser] = [
        SandboxUser(id: 1, name: "Анна", lastName: "Смирнова", innerPhone: "101"),
        SandboxUser(id: 2, name: "Сергей", lastName: "Кузнецов", innerPhone: "777"),
        SandboxUser(id: 3, name: "Ольга", lastName: "Иванова", innerPhone: "7006"),
        SandboxUser(id: 4, name: "Дмитрий", lastName: "Соколов", innerPhone: "9170"),
        SandboxUser(id: 5, name: "Елена", lastName: "Попова", innerPhone: nil),
        SandboxUser(id: 6, name: "Пётр", lastName: "Волков", innerPhone: "7002", active: false),
    ]

    public static let defaultClients: [SandboxClient] = [
        SandboxClient(.contact, id: 797, name: "Иван Петров", phone: "+79161234567", assignedTo: 2),
        SandboxClient(.contact, id: 798, name: "Мария Сидорова", phone: "+79035551234", assignedTo: 3),
        SandboxClient(.company, id: 12, name: "ООО «Ромашка»", phone: "+74957654321", assignedTo: 3),
        SandboxClient(.contact, id: 799, name: "Константин Орлов", phone: "9898", assignedTo: 4),
    ]
}
