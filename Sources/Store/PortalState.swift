import Bitrix24
import Foundation
import GRDB
import JSON

/// A portal user as Callhook needs one: who they are and the extension their calls ring (`UF_PHONE_INNER`).
public struct PortalUser: Sendable, Equatable {
    public var id: Int
    public var innerPhone: String?
    public var name: String
    public var active: Bool

    public init(id: Int, innerPhone: String?, name: String, active: Bool) {
        self.id = id
        self.innerPhone = innerPhone
        self.name = name
        self.active = active
    }
}

extension Database {
    /// Replaces the cached users with a fresh list from `user.get`.
    public func replaceUsers(_ users: [PortalUser], at time: Double) throws {
        try self.cachedExecute(sql: "DELETE FROM users")
        for user in users {
            try self.cachedExecute(
                sql: "INSERT INTO users (id, inner_phone, name, active) VALUES (?, ?, ?, ?)",
                arguments: [user.id, user.innerPhone, user.name, user.active])
        }
        try self.setMeta("users_fetched_at", String(time))
    }

    public func users() throws -> [PortalUser] {
        try Row.cachedAll(self, sql: "SELECT * FROM users ORDER BY id").map { row in
            PortalUser(id: row["id"], innerPhone: row["inner_phone"], name: row["name"], active: row["active"])
        }
    }
}

/// OAuth tokens kept in the database, so a restart does not need a new installation.
public struct DatabaseTokenStore: Bitrix24TokenStore {
    let database: CallhookDatabase
    /// Tokens from the configuration, used when the database has none yet.
    let initial: OAuthTokens?

    public init(database: CallhookDatabase, initial: OAuthTokens?) {
        self.database = database
        self.initial = initial
    }

    public func loadTokens() async throws -> OAuthTokens? {
        let stored = try await self.database.read { db -> OAuthTokens? in
            guard let text = try db.meta("oauth_tokens") else { return nil }
            let json = JSONValue.column(text)
            guard let access = json["access_token"]?.stringValue, let refresh = json["refresh_token"]?.stringValue
            else {
                return nil
            }
            return OAuthTokens(
                accessToken: access, refreshToken: refresh, expiresAt: json["expires_at"]?.doubleValue ?? 0)
        }
        return stored ?? self.initial
    }

    public func saveTokens(_ tokens: OAuthTokens) async throws {
        let json: JSONValue = [
            "access_token": .string(tokens.accessToken), "refresh_token": .string(tokens.refreshToken),
            "expires_at": .double(tokens.expiresAt),
        ]
        try await self.database.write { db in try db.setMeta("oauth_tokens", json.column) }
    }
}

/// A click-to-call from the CRM: the portal registered the call (`CALL_ID`) and asked for it to be placed.
public struct PendingOriginate: Sendable, Equatable {
    public var actionID: String
    public var portalCallID: String
    public var extensionNumber: String
    public var phone: String
    public var userID: Int
    public var callListID: String?
    public var at: Double

    public init(
        actionID: String, portalCallID: String, extensionNumber: String, phone: String, userID: Int,
        callListID: String?, at: Double
    ) {
        self.actionID = actionID
        self.portalCallID = portalCallID
        self.extensionNumber = extensionNumber
        self.phone = phone
        self.userID = userID
        self.callListID = callListID
        self.at = at
    }
}

extension Database {
    public func saveOriginate(_ originate: PendingOriginate) throws {
        try self.cachedExecute(
            sql: """
                INSERT OR REPLACE INTO originates (action_id, portal_call_id, extension, phone, user_id, call_list_id, at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                originate.actionID, originate.portalCallID, originate.extensionNumber, originate.phone,
                originate.userID, originate.callListID, originate.at,
            ])
    }

    /// The click-to-call a PBX call answers to: placed from `extension` to a number ending like `digits`, asked for
    /// since `since`, not yet matched. It is matched to `callID` from now on.
    public func claimOriginate(extension number: String, phoneDigits: String, since: Double, callID: String) throws
        -> PendingOriginate?
    {
        let rows = try Row.cachedAll(
            self,
            sql: """
                SELECT * FROM originates WHERE extension = ? AND at >= ? AND (call_id IS NULL OR call_id = ?)
                ORDER BY at
                """, arguments: [number, since, callID])
        for row in rows {
            let phone: String = row["phone"]
            let digits = phone.filter(\.isNumber)
            let tail = min(10, digits.count, phoneDigits.count)
            guard tail > 0, digits.suffix(tail) == phoneDigits.suffix(tail) else { continue }
            let originate = PendingOriginate(
                actionID: row["action_id"], portalCallID: row["portal_call_id"], extensionNumber: row["extension"],
                phone: phone, userID: row["user_id"], callListID: row["call_list_id"], at: row["at"])
            try self.cachedExecute(
                sql: "UPDATE originates SET call_id = ? WHERE action_id = ?", arguments: [callID, originate.actionID])
            return originate
        }
        return nil
    }
}
