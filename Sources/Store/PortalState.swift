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
        try self.execute(sql: "DELETE FROM users")
        for user in users {
            try self.execute(
                sql: "INSERT INTO users (id, inner_phone, name, active) VALUES (?, ?, ?, ?)",
                arguments: [user.id, user.innerPhone, user.name, user.active])
        }
        try self.setMeta("users_fetched_at", String(time))
    }

    public func users() throws -> [PortalUser] {
        try Row.fetchAll(self, sql: "SELECT * FROM users ORDER BY id").map { row in
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
