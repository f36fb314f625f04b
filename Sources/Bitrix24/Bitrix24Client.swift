import HTTPClient
import JSON
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Bitrix24 REST client: JSON over HTTPS (libcurl), inbound-webhook or OAuth auth with token renewal, the
/// portal's request limit respected on this side, and every documented error mapped to a `Bitrix24Error` that
/// says whether to retry, refresh or give up.
public final class Bitrix24Client: Sendable {
    public let auth: Bitrix24Auth
    public let limiter: LeakyBucket
    private let http: CurlHTTPClient
    private let tokens: TokenManager?
    private let logger: Logger
    private let timeout: Duration
    private let combiner: RequestCombiner?

    /// - Parameter combine: requests that queue behind the limiter leave together, as one `batch` of up to 50
    ///   commands: under load, many operations for one request of the portal's budget.
    public init(
        auth: Bitrix24Auth, http: CurlHTTPClient, limiter: LeakyBucket = LeakyBucket(),
        tokenStore: (any Bitrix24TokenStore)? = nil, timeout: Duration = .seconds(30), combine: Bool = false,
        logger: Logger
    ) {
        self.auth = auth
        self.http = http
        self.limiter = limiter
        self.logger = logger
        self.timeout = timeout
        if case .oauth(let app) = auth {
            self.tokens = TokenManager(
                app: app, store: tokenStore ?? InMemoryTokenStore(nil), http: http, logger: logger)
        } else {
            self.tokens = nil
        }
        self.combiner = combine ? RequestCombiner(limiter: limiter, logger: logger) : nil
    }

    /// Calls `method` with `params` and returns its `result`. An expired OAuth token is renewed once on the way.
    public func call(_ method: String, _ params: JSONValue = .object(JSONObject())) async throws(Bitrix24Error)
        -> JSONValue
    {
        try await self.response(method, params)["result"] ?? .null
    }

    /// The whole answer of a call: `result`, `time`, and `total`/`next` for lists.
    public func response(_ method: String, _ params: JSONValue) async throws(Bitrix24Error) -> JSONValue {
        if let combiner = self.combiner, RequestCombiner.combinable(method, params) {
            return try await combiner.submit(method, params, client: self)
        }
        await self.limiter.acquire()
        return try await self.send(method, params)
    }

    /// One request, the limiter already passed. An expired OAuth token is renewed and the request repeated.
    func send(_ method: String, _ params: JSONValue) async throws(Bitrix24Error) -> JSONValue {
        guard let tokens = self.tokens else { return try await self.attempt(method, params, token: nil) }
        let token = try await tokens.accessToken()
        do {
            return try await self.attempt(method, params, token: token)
        } catch  where error.disposition == .refreshToken {
            try await tokens.refresh(reason: "expired_token", failedToken: token)
            return try await self.attempt(method, params, token: try await tokens.accessToken())
        }
    }

    /// The outcome of a batch: each command's result or error, by its key.
    public struct BatchResult: Sendable {
        public var results: [String: JSONValue]
        public var errors: [String: Bitrix24Error]
    }

    /// Runs up to 50 commands in one request (`batch`). Each command succeeds or fails on its own; `halt` stops
    /// at the first error. A command can take an earlier one's result as `$result[key]`.
    public func batch(_ commands: [(key: String, method: String, params: JSONValue)], halt: Bool = false)
        async throws(Bitrix24Error) -> BatchResult
    {
        Self.batchResult(try await self.call("batch", Self.batchParams(commands, halt: halt)))
    }

    /// Runs `commands` as one `batch` now if the limiter has room and no request is waiting for it; otherwise sends
    /// nothing and returns nil. For commands that are worth joining only while the portal is idle: a batch of its
    /// own cannot be combined with the requests that queue for the limiter.
    public func batchIfIdle(_ commands: [(key: String, method: String, params: JSONValue)], halt: Bool = false)
        async throws(Bitrix24Error) -> BatchResult?
    {
        guard let result = try await self.callIfIdle("batch", Self.batchParams(commands, halt: halt)) else {
            return nil
        }
        return Self.batchResult(result)
    }

    /// Calls `method` now if the limiter has room and no request is waiting for it; otherwise sends nothing and
    /// returns nil. For requests that are worth making only while the portal is idle (work done ahead of need).
    public func callIfIdle(_ method: String, _ params: JSONValue) async throws(Bitrix24Error) -> JSONValue? {
        let idle = if let combiner = self.combiner { await combiner.takeIdleSlot() } else { self.limiter.tryAcquire() }
        guard idle else { return nil }
        return try await self.send(method, params)["result"] ?? .null
    }

    private static func batchParams(_ commands: [(key: String, method: String, params: JSONValue)], halt: Bool)
        -> JSONValue
    {
        precondition(commands.count <= 50, "batch takes at most 50 commands")
        var cmd = JSONObject()
        for command in commands {
            let query = PHPQuery.encode(command.params)
            cmd[command.key] = .string(query.isEmpty ? command.method : "\(command.method)?\(query)")
        }
        return ["halt": .integer(halt ? 1 : 0), "cmd": .object(cmd)]
    }

    private static func batchResult(_ result: JSONValue) -> BatchResult {
        var results: [String: JSONValue] = [:]
        var errors: [String: Bitrix24Error] = [:]
        if case .object(let ok) = result["result"] ?? .null {
            for member in ok.members { results[member.key] = member.value }
        }
        if case .object(let failed) = result["result_error"] ?? .null {
            for member in failed.members {
                errors[member.key] =
                    Bitrix24Error.from(body: member.value, status: 200)
                    ?? Bitrix24Error(code: "ERROR_CORE", message: "\(member.value)", status: 200)
            }
        }
        return BatchResult(results: results, errors: errors)
    }

    private func attempt(_ method: String, _ params: JSONValue, token: String?) async throws(Bitrix24Error) -> JSONValue
    {
        var body = params.objectValue ?? JSONObject()
        let url: String
        switch self.auth {
        case .webhook(let base):
            url = (base.hasSuffix("/") ? base : base + "/") + method + ".json"
        case .oauth(let app):
            body["auth"] = .string(token ?? "")
            url = app.restEndpoint + method + ".json"
        }
        let started = Self.now()
        let reply: WebResponse
        do {
            reply = try await self.http.send(
                WebRequest(
                    method: "POST", url: url,
                    headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                    body: JSONValue.object(body).serialized(options: []), timeout: self.timeout))
        } catch {
            let detail = (error as? HTTPClientError)?.description ?? "\(error)"
            self.logger.info(
                "Bitrix24 unreachable",
                metadata: ["crm.method": "\(method)", "crm.error": "network", "error": "\(detail)"])
            throw Bitrix24Error(code: "network", message: detail, status: 0)
        }
        let parsed = try? JSONParser.parse(reply.body)
        self.logger.debug(
            "Bitrix24 call",
            metadata: [
                "crm.method": "\(method)", "http.status": "\(reply.status)",
                "crm.ms": "\(Int((Self.now() - started) * 1000))",
            ])
        if let parsed, let error = Bitrix24Error.from(body: parsed, status: reply.status) {
            if error.code == "QUERY_LIMIT_EXCEEDED" { self.limiter.saturate() }
            self.logger.info(
                "Bitrix24 error",
                metadata: ["crm.method": "\(method)", "crm.error": "\(error.code)", "error": "\(error.message)"])
            throw error
        }
        guard (200..<300).contains(reply.status), let parsed, parsed["result"] != nil else {
            let code = reply.status == 0 || reply.status >= 500 ? "http_\(reply.status)" : "http_\(reply.status)"
            throw Bitrix24Error(
                code: code, message: "unexpected answer: \(String(decoding: reply.body.prefix(200), as: UTF8.self))",
                status: reply.status)
        }
        return parsed
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Keeps the OAuth access token fresh: renews it shortly before it expires, or when the portal says it has, one
/// renewal at a time.
actor TokenManager {
    let app: OAuthApplication
    let store: any Bitrix24TokenStore
    let http: CurlHTTPClient
    let logger: Logger
    private var cached: OAuthTokens?
    private var renewal: Task<OAuthTokens, any Error>?

    init(app: OAuthApplication, store: any Bitrix24TokenStore, http: CurlHTTPClient, logger: Logger) {
        self.app = app
        self.store = store
        self.http = http
        self.logger = logger
    }

    func accessToken() async throws(Bitrix24Error) -> String {
        let tokens = try await self.current()
        if tokens.expiresAt - 60 < Bitrix24Client.now() {
            try await self.refresh(reason: "about to expire", failedToken: tokens.accessToken)
            return try await self.current().accessToken
        }
        return tokens.accessToken
    }

    private func current() async throws(Bitrix24Error) -> OAuthTokens {
        if let cached { return cached }
        let loaded: OAuthTokens?
        do {
            loaded = try await self.store.loadTokens()
        } catch {
            throw Bitrix24Error(code: "token_store", message: "cannot read the stored tokens: \(error)", status: 0)
        }
        guard let loaded else {
            throw Bitrix24Error(
                code: "NO_AUTH_FOUND", message: "no OAuth tokens: install the application or set bitrix24.oauth tokens",
                status: 0)
        }
        self.cached = loaded
        return loaded
    }

    /// Renews the tokens because `failedToken` stopped working; nothing to do if they were renewed since.
    func refresh(reason: String, failedToken: String) async throws(Bitrix24Error) {
        if let cached, cached.accessToken != failedToken { return }
        if let renewal {
            do {
                self.cached = try await renewal.value
                return
            } catch {
                throw (error as? Bitrix24Error) ?? Bitrix24Error(code: "network", message: "\(error)", status: 0)
            }
        }
        let refreshToken = try await self.current().refreshToken
        let app = self.app
        let http = self.http
        let task = Task<OAuthTokens, any Error> {
            let query = [
                ("grant_type", "refresh_token"), ("client_id", app.clientID), ("client_secret", app.clientSecret),
                ("refresh_token", refreshToken),
            ].map { "\($0.0)=\(PHPQuery.escape($0.1))" }.joined(separator: "&")
            let separator = app.tokenEndpoint.contains("?") ? "&" : "?"
            let reply: WebResponse
            do {
                reply = try await http.send(
                    WebRequest(url: app.tokenEndpoint + separator + query, timeout: .seconds(30)))
            } catch {
                throw Bitrix24Error(code: "network", message: "\(error)", status: 0)
            }
            let body = (try? JSONParser.parse(reply.body)) ?? .null
            if let error = Bitrix24Error.from(body: body, status: reply.status) { throw error }
            guard let access = body["access_token"]?.stringValue, let refresh = body["refresh_token"]?.stringValue
            else {
                throw Bitrix24Error(
                    code: "invalid_grant", message: "the OAuth server gave no tokens", status: reply.status)
            }
            let lifetime = body["expires_in"]?.doubleValue ?? 3600
            return OAuthTokens(accessToken: access, refreshToken: refresh, expiresAt: Bitrix24Client.now() + lifetime)
        }
        self.renewal = task
        defer { self.renewal = nil }
        do {
            let tokens = try await task.value
            self.cached = tokens
            try? await self.store.saveTokens(tokens)
            self.logger.info("Bitrix24 OAuth token renewed", metadata: ["crm.reason": "\(reason)"])
        } catch {
            let failure = (error as? Bitrix24Error) ?? Bitrix24Error(code: "network", message: "\(error)", status: 0)
            self.logger.error(
                "Bitrix24 OAuth token renewal failed",
                metadata: ["crm.error": "\(failure.code)", "error": "\(failure.message)"])
            throw failure
        }
    }
}

extension Bitrix24Client {
    /// Files up to this size go inline as base64 (`FILE_CONTENT`); larger ones through the two-step upload.
    public static let inlineRecordLimit = 2 << 20

    /// Attaches a call recording (after `finish`): inline as base64 when small, otherwise by asking for an upload
    /// URL and POSTing the file to it as multipart form data (field `fieldName`). Returns the portal's `FILE_ID`.
    @discardableResult
    public func attachRecord(callID: String, fileName: String, contents: [UInt8]) async throws(Bitrix24Error)
        -> JSONValue
    {
        if contents.count <= Self.inlineRecordLimit {
            let result = try await self.call(
                "telephony.externalcall.attachRecord",
                [
                    "CALL_ID": .string(callID), "FILENAME": .string(fileName),
                    "FILE_CONTENT": .string(Base64.encode(contents)),
                ])
            return result["FILE_ID"] ?? .null
        }
        let step = try await self.call(
            "telephony.externalcall.attachRecord", ["CALL_ID": .string(callID), "FILENAME": .string(fileName)])
        guard let uploadURL = step["uploadUrl"]?.stringValue else {
            throw Bitrix24Error(code: "ERROR_UNEXPECTED_ANSWER", message: "attachRecord gave no uploadUrl", status: 200)
        }
        let field = step["fieldName"]?.stringValue ?? "file"
        let boundary = "callhook-\(UInt64.random(in: 0...UInt64.max))"
        var body = Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(field)\"; filename=\"\(fileName)\"\r\n".utf8)
        body += Array("Content-Type: application/octet-stream\r\n\r\n".utf8)
        body += contents
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        let url = self.absolute(uploadURL)
        await self.limiter.acquire()
        let reply: WebResponse
        do {
            reply = try await self.http.send(
                WebRequest(
                    method: "POST", url: url, headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")],
                    body: body, timeout: .seconds(300)))
        } catch {
            throw Bitrix24Error(
                code: "network", message: (error as? HTTPClientError)?.description ?? "\(error)", status: 0)
        }
        let parsed = (try? JSONParser.parse(reply.body)) ?? .null
        if let error = Bitrix24Error.from(body: parsed, status: reply.status) { throw error }
        guard (200..<300).contains(reply.status) else {
            throw Bitrix24Error(code: "http_\(reply.status)", message: "the upload failed", status: reply.status)
        }
        return parsed["result"]?["FILE_ID"] ?? .null
    }

    /// An upload URL may be relative to the portal (the local sandbox gives `/rest/upload.json?…`).
    private func absolute(_ url: String) -> String {
        guard url.hasPrefix("/") else { return url }
        let base: String
        switch self.auth {
        case .webhook(let address): base = address
        case .oauth(let app): base = app.restEndpoint
        }
        // scheme://host[:port] of the base, then the path given.
        let chars = Array(base)
        var slashes = 0
        for (offset, char) in chars.enumerated() where char == "/" {
            slashes += 1
            if slashes == 3 { return String(chars[..<offset]) + url }
        }
        return base + url
    }
}

/// Base64 without Foundation's Data round trip.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [
                alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)],
                alphabet[Int(n & 63)],
            ]
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            var n = UInt32(bytes[index]) << 16
            if rest == 2 { n |= UInt32(bytes[index + 1]) << 8 }
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
            out +=
                rest == 2 ? [alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")] : [UInt8(ascii: "="), UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
