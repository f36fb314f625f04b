/// How Callhook signs in to a portal.
public enum Bitrix24Auth: Sendable {
    /// An inbound webhook: `https://<portal>/rest/<user_id>/<code>/`. The code is a password: never logged.
    case webhook(String)
    /// A local application: the portal's REST address, the application's id and secret, and the OAuth server
    /// that renews its tokens (access 1 hour, refresh 180 days). Tokens live in a `Bitrix24TokenStore`.
    case oauth(OAuthApplication)

    /// The address methods are called at, with no secret in it.
    public var displayAddress: String {
        switch self {
        case .webhook(let url):
            // https://portal/rest/1/code/ → https://portal/rest/1/***/
            var parts = url.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count >= 6 { parts[5] = "***" }
            return parts.joined(separator: "/")
        case .oauth(let app):
            return app.restEndpoint
        }
    }
}

public struct OAuthApplication: Sendable, Equatable {
    /// `client_endpoint`: `https://<portal>/rest/`.
    public var restEndpoint: String
    public var clientID: String
    /// Never logged.
    public var clientSecret: String
    /// Where tokens are renewed: `https://oauth.bitrix.info/oauth/token/` for cloud portals.
    public var tokenEndpoint: String

    public init(
        restEndpoint: String, clientID: String, clientSecret: String,
        tokenEndpoint: String = "https://oauth.bitrix.info/oauth/token/"
    ) {
        self.restEndpoint = restEndpoint.hasSuffix("/") ? restEndpoint : restEndpoint + "/"
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.tokenEndpoint = tokenEndpoint
    }
}

/// An OAuth token pair.
public struct OAuthTokens: Sendable, Equatable {
    public var accessToken: String
    public var refreshToken: String
    /// Unix time the access token stops working.
    public var expiresAt: Double

    public init(accessToken: String, refreshToken: String, expiresAt: Double) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
    }
}

/// Where OAuth tokens are kept between runs (SQLite in the daemon).
public protocol Bitrix24TokenStore: Sendable {
    func loadTokens() async throws -> OAuthTokens?
    func saveTokens(_ tokens: OAuthTokens) async throws
}

/// Tokens in memory only (tests, the demo).
public actor InMemoryTokenStore: Bitrix24TokenStore {
    private var tokens: OAuthTokens?

    public init(_ tokens: OAuthTokens?) {
        self.tokens = tokens
    }

    public func loadTokens() -> OAuthTokens? { self.tokens }
    public func saveTokens(_ tokens: OAuthTokens) { self.tokens = tokens }
}
