import Bitrix24
import Foundation
import HTTPClient
import HTTPTypes
import Hummingbird
import JSON
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// A local Bitrix24 portal over HTTP, for tests, the demo and integrators trying their hooks.
///
/// - `POST|GET /rest/<user>/<code>/<method>[.json]`: inbound webhook.
/// - `POST|GET /rest/<method>[.json]` with `auth=<access token>` (body or query) or `Authorization: Bearer`: OAuth.
/// - `GET|POST /oauth/token/?grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…`: renewal.
/// - `POST /rest/upload.json?token=…`: the second step of a two-step `attachRecord` (multipart, field `file`).
/// - `GET /_sandbox/state`, `POST /_sandbox/knobs`, `POST /_sandbox/install` (OAuth tokens of a fresh install),
///   `POST /_sandbox/click-to-call` (a user clicks a number: register + `ONEXTERNALCALLSTART` to bound handlers).
///
/// Parameters come as a JSON body, a form, or a query string (PHP-style nested keys), as on a real portal.
public final class Bitrix24Sandbox: Sendable {
    public let configuration: Bitrix24SandboxConfiguration
    let portal: Bitrix24Portal
    private let front: Mutex<Front>
    private let logger: Logger
    private let events: CurlHTTPClient
    private let boundPort = Mutex<Int?>(nil)
    /// In a struct: a closure held directly by the Mutex is re-wrapped in two reabstraction thunks on every
    /// `withLock` (the inout round trip through the generic value), so each request made the next one's call
    /// deeper. Perf showed it as 18 % of the bench process after a few thousand requests.
    private let arrivals = Mutex<ArrivalHook?>(nil)

    private struct ArrivalHook: Sendable {
        let observe: ArrivalObserver
    }

    /// Told of each REST request: its method, parameters, and when its head came off the socket (monotonic
    /// nanoseconds, `MonotonicClock`).
    ///
    /// `sent`: when the client sent it, if it says so (`CurlHTTPClient.sentStampField`, same clock).
    public typealias ArrivalObserver =
        @Sendable (_ method: String, _ params: JSONValue, _ received: UInt64, _ sent: UInt64?) -> Void

    struct Front: Sendable {
        var knobs: SandboxKnobs
        var bucket: ServerBucket
        var requests: [JSONValue] = []
        var requestCount = 0
        /// access token → (user, expires at)
        var accessTokens: [String: (user: Int, expiresAt: Double)] = [:]
        var refreshTokens: [String: Int] = [:]
    }

    public init(configuration: Bitrix24SandboxConfiguration = Bitrix24SandboxConfiguration(), logger: Logger) {
        self.configuration = configuration
        self.portal = Bitrix24Portal(configuration: configuration)
        self.front = Mutex(
            Front(
                knobs: SandboxKnobs(configuration: configuration),
                bucket: ServerBucket(burst: Double(configuration.burst), rate: configuration.rate)))
        self.logger = logger
        self.events = CurlHTTPClient(threads: 1)
    }

    /// Calls `observer` with each REST request as it arrives, before any limit or knob applies (`callhook bench`
    /// times requests leaving Callhook with it: the time given is when the request's head was read off the socket,
    /// on the event loop, before the server's own hop to a request task).
    public func observeArrivals(_ observer: ArrivalObserver?) {
        self.arrivals.withLock { $0 = observer.map(ArrivalHook.init(observe:)) }
    }

    /// The port it listens on, once running.
    public var port: Int? { self.boundPort.withLock { $0 } }

    /// Serves until cancelled. `port` 0 takes a free one; `onStarted` gets the port in use.
    public func run(
        host: String = "127.0.0.1", port: Int = 0, onStarted: @escaping @Sendable (Int) async -> Void = { _ in }
    )
        async throws
    {
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in await self.respond(request) },
            server: .http1(configuration: .init(additionalChannelHandlers: [ReceiveStamp()])),
            configuration: .init(address: .hostname(host, port: port), serverName: "callhook-bitrix24-sandbox"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                self.boundPort.withLock { $0 = port }
                await onStarted(port)
            },
            logger: self.logger)
        try await app.runService()
    }

    // MARK: - Requests

    func respond(_ request: Request) async -> Response {
        let path = request.uri.path
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: 64 << 20)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            return Self.response(.error(413, "INVALID_REQUEST", "Request body too large"))
        }
        if path.hasPrefix("/_sandbox/") { return await self.control(path, request, body) }
        if path.hasPrefix("/oauth/token") { return Self.response(self.renew(Self.parameters(request, body))) }
        if path == "/rest/upload.json" || path == "/rest/upload" {
            return Self.response(await self.upload(request, body))
        }
        guard path.hasPrefix("/rest/") else {
            return Self.response(.error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!"))
        }
        let segments = path.dropFirst("/rest/".count).split(separator: "/", omittingEmptySubsequences: true)
        var params = Self.parameters(request, body)
        let caller: PortalCaller
        let rawMethod: Substring
        switch segments.count {
        case 3:
            rawMethod = segments[2]
            guard Int(segments[0]) == self.configuration.webhookUserID, segments[1] == self.configuration.webhookCode
            else {
                return self.finish(
                    method(rawMethod), params, .error(401, "NO_AUTH_FOUND", "Wrong authorization data"), auth: "webhook"
                )
            }
            caller = .webhook(userID: self.configuration.webhookUserID)
        case 1:
            rawMethod = segments[0]
            var token = PortalValue.string(params["auth"])
            if token == nil, let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
                token = String(header.dropFirst("Bearer ".count))
            }
            switch self.check(token: token) {
            case .success(let user): caller = .application(userID: user)
            case .failure(let answer): return self.finish(method(rawMethod), params, answer, auth: "oauth")
            }
        default:
            return Self.response(.error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!"))
        }
        params["auth"] = nil
        let name = method(rawMethod)
        if let observer = self.arrivals.withLock({ $0 })?.observe {
            let received = request.headers[ReceiveStamp.field].flatMap { UInt64($0) } ?? MonotonicClock.nanoseconds()
            let sent = request.headers[ReceiveStamp.sentField].flatMap { UInt64($0) }
            observer(name, params, received, sent)
        }
        let auth = caller.isApplication ? "oauth" : "webhook"
        return await self.serve(name, params, caller: caller, auth: auth)
    }

    private func method(_ raw: Substring) -> String {
        var name = raw.lowercased()
        for suffix in [".json", ".xml"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        return name
    }

    private enum Gate {
        case pass(lose: Bool)
        case answer(PortalAnswer)
        case outage(until: Double)
    }

    private func serve(_ method: String, _ params: JSONValue, caller: PortalCaller, auth: String) async -> Response {
        let started = PortalValue.now()
        let (latency, gate, blocked) = self.front.withLock { front -> (Duration, Gate, (String, Double)?) in
            let (latency, gate) = self.gate(method, caller: caller, started: started, front: &front)
            return (latency, gate, front.knobs.blockedMethod)
        }
        if latency > .zero { try? await Task.sleep(for: latency) }
        var answer: PortalAnswer
        switch gate {
        case .outage(let until):
            // Nothing answers: the request hangs until the outage is over, then the front gives up.
            let wait = until - Self.monotonic()
            if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
            answer = PortalAnswer(
                status: 503, body: .null, raw: Array("<html><body>503 Service Unavailable</body></html>".utf8))
        case .answer(let refused):
            answer = refused
        case .pass(let lose):
            answer = await self.portal.call(method, params, caller: caller, blocked: blocked)
            if !answer.isError { answer.body["time"] = Bitrix24Portal.timeBlock(start: started) }
            if lose {
                answer = PortalAnswer(
                    status: 504, body: .null, raw: Array("<html><body>504 Gateway Time-out</body></html>".utf8))
            }
        }
        return self.finish(method, params, answer, auth: auth, at: started)
    }

    /// What the front does with a request before the portal sees it: the outage, the bucket, the knobs' failures.
    private func gate(_ method: String, caller: PortalCaller, started: Double, front: inout Front) -> (Duration, Gate) {
        let monotonic = Self.monotonic()
        if let until = front.knobs.outageUntil {
            if until > monotonic { return (front.knobs.latency, .outage(until: until)) }
            front.knobs.outageUntil = nil
        }
        guard front.bucket.admit(now: monotonic) else {
            return (front.knobs.latency, .answer(.error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")))
        }
        if var failure = front.knobs.failNext {
            failure.count -= 1
            front.knobs.failNext = failure.count > 0 ? failure : nil
            return (front.knobs.latency, .answer(.error(failure.status, failure.error, failure.description)))
        }
        if let blocked = front.knobs.blockedMethod, blocked.method == method, blocked.until > started {
            var answer = PortalAnswer.error(
                429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit")
            answer.body["time"] = Bitrix24Portal.timeBlock(start: started, resetAt: blocked.until)
            return (front.knobs.latency, .answer(answer))
        }
        if method.hasPrefix("telephony."), front.knobs.telephonyRequiresApplication, !caller.isApplication {
            return (
                front.knobs.latency,
                .answer(.error(401, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method"))
            )
        }
        let lose = front.knobs.loseAnswers > 0
        if lose { front.knobs.loseAnswers -= 1 }
        return (front.knobs.latency, .pass(lose: lose))
    }

    /// Logs the request (secrets masked) and makes the HTTP response.
    private func finish(
        _ method: String, _ params: JSONValue, _ answer: PortalAnswer, auth: String, at time: Double = PortalValue.now()
    )
        -> Response
    {
        var entry: JSONObject = [
            "method": .string(method), "params": Self.masked(params), "status": .integer(Int64(answer.status)),
            "time": .double(time), "auth": .string(auth),
        ]
        if let code = answer.body["error"] { entry["error"] = code }
        if answer.raw != nil { entry["error"] = .string("http_\(answer.status)") }
        if method == "batch", let failed = answer.body["result"]?["result_error"] {
            // The commands a batch refused, by their error codes (the batch itself answers 200).
            let codes: [JSONValue]
            switch failed {
            case .object(let members): codes = members.values.compactMap { $0["error"] }
            case .array(let items): codes = items.compactMap { $0["error"] }
            default: codes = []
            }
            if !codes.isEmpty { entry["command_errors"] = .array(codes) }
        }
        self.front.withLock { front in
            front.requestCount += 1
            front.requests.append(.object(entry))
            if front.requests.count > self.configuration.requestLogLimit {
                front.requests.removeFirst(front.requests.count - self.configuration.requestLogLimit)
            }
        }
        return Self.response(answer)
    }

    static func masked(_ params: JSONValue) -> JSONValue {
        guard case .object(var members) = params else { return params }
        for key in ["auth", "client_secret", "refresh_token", "access_token", "password"] where members[key] != nil {
            members[key] = "***"
        }
        if let content = members["FILE_CONTENT"]?.stringValue {
            members["FILE_CONTENT"] = .string("<\(content.utf8.count) bytes of base64>")
        }
        return .object(members)
    }

    static func response(_ answer: PortalAnswer) -> Response {
        var headers = HTTPFields()
        if let raw = answer.raw {
            headers[.contentType] = "text/html"
            return Response(
                status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: raw)))
        }
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: .init(code: answer.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body.serialized(options: []))))
    }

    /// The query string and the body (JSON, or a form), merged as PHP's `$_REQUEST` would be.
    static func parameters(_ request: Request, _ body: [UInt8]) -> JSONValue {
        var params = PHPQuery.decode(Substring(request.uri.query ?? ""))
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        var fromBody: JSONValue = .object(JSONObject())
        if contentType.hasPrefix("application/json") || (contentType.isEmpty && body.first == UInt8(ascii: "{")) {
            fromBody = (try? JSONParser.parse(body)) ?? .object(JSONObject())
        } else if contentType.hasPrefix("application/x-www-form-urlencoded") || (contentType.isEmpty && !body.isEmpty) {
            fromBody = PHPQuery.decode(Substring(decoding: body, as: UTF8.self))
        }
        if case .object(let members) = fromBody {
            for member in members.members { params[member.key] = member.value }
        }
        return params
    }

    // MARK: - OAuth

    private func check(token: String?) -> Result<Int, PortalAnswer> {
        guard let token, !token.isEmpty else {
            return .failure(.error(401, "NO_AUTH_FOUND", "Wrong authorization data"))
        }
        return self.front.withLock { front in
            guard let grant = front.accessTokens[token] else {
                return .failure(.error(401, "NO_AUTH_FOUND", "Wrong authorization data"))
            }
            guard grant.expiresAt > PortalValue.now() else {
                return .failure(.error(401, "expired_token", "The access token provided has expired."))
            }
            return .success(grant.user)
        }
    }

    /// Tokens of a fresh installation of the local application, for `userID`.
    public func install(userID: Int = 1) -> (accessToken: String, refreshToken: String, expiresIn: Int) {
        self.front.withLock { front in
            let tokens = Self.issue(for: userID, lifetime: self.configuration.accessTokenLifetime, in: &front)
            return (tokens.access, tokens.refresh, Int(self.configuration.accessTokenLifetime))
        }
    }

    private static func issue(for user: Int, lifetime: Double, in front: inout Front) -> (
        access: String, refresh: String
    ) {
        let access = Bitrix24Portal.hex(32)
        let refresh = Bitrix24Portal.hex(32)
        front.accessTokens[access] = (user, PortalValue.now() + lifetime)
        front.refreshTokens[refresh] = user
        return (access, refresh)
    }

    private func renew(_ params: JSONValue) -> PortalAnswer {
        let answer: PortalAnswer = self.front.withLock { front in
            guard PortalValue.string(params["grant_type"]) == "refresh_token" else {
                return .error(400, "invalid_request", "grant_type must be refresh_token")
            }
            guard PortalValue.string(params["client_id"]) == self.configuration.clientID,
                PortalValue.string(params["client_secret"]) == self.configuration.clientSecret
            else {
                return .error(401, "invalid_client", "Invalid client credentials")
            }
            guard let refresh = PortalValue.string(params["refresh_token"]),
                let user = front.refreshTokens.removeValue(forKey: refresh)
            else {
                return .error(400, "invalid_grant", "Invalid refresh token")
            }
            let tokens = Self.issue(for: user, lifetime: self.configuration.accessTokenLifetime, in: &front)
            return PortalAnswer(body: [
                "access_token": .string(tokens.access), "refresh_token": .string(tokens.refresh),
                "expires_in": .integer(Int64(self.configuration.accessTokenLifetime)), "scope": "app",
                "domain": "callhook.sandbox", "server_endpoint": "/oauth/", "status": "L",
                "client_endpoint": "/rest/", "member_id": "callhook-sandbox", "user_id": .integer(Int64(user)),
            ])
        }
        _ = self.finish("oauth/token", params, answer, auth: "oauth")
        return answer
    }

    // MARK: - Upload (two-step attachRecord)

    private func upload(_ request: Request, _ body: [UInt8]) async -> PortalAnswer {
        let query = PHPQuery.decode(Substring(request.uri.query ?? ""))
        guard let token = PortalValue.string(query["token"]) else {
            return .error(401, "NO_AUTH_FOUND", "Wrong authorization data")
        }
        let contentType = request.headers[.contentType] ?? ""
        guard let file = Multipart.file(named: "file", contentType: contentType, body: body) else {
            return .core("File content is empty.")
        }
        var answer = await self.portal.upload(token: token, fileName: file.fileName, bytes: file.bytes)
        if !answer.isError { answer.body["time"] = Bitrix24Portal.timeBlock(start: PortalValue.now()) }
        _ = self.finish("upload", ["token": "***", "size": .integer(Int64(file.bytes.count))], answer, auth: "upload")
        return answer
    }

    // MARK: - Control

    private func control(_ path: String, _ request: Request, _ body: [UInt8]) async -> Response {
        switch (request.method, path) {
        case (.get, "/_sandbox/state"):
            return Self.response(PortalAnswer(body: await self.state()))
        case (.post, "/_sandbox/knobs"):
            guard let json = try? JSONParser.parse(body) else {
                return Self.response(.error(400, "INVALID_KNOBS", "the knobs must be a JSON object"))
            }
            let problems = self.setKnobs(json)
            guard problems.isEmpty else {
                return Self.response(.error(400, "INVALID_KNOBS", problems.joined(separator: "; ")))
            }
            return Self.response(PortalAnswer(body: ["knobs": self.front.withLock { $0.knobs.json }]))
        case (.post, "/_sandbox/install"):
            let user = PortalValue.int(Self.parameters(request, body)["user_id"]) ?? 1
            let tokens = self.install(userID: user)
            return Self.response(
                PortalAnswer(body: [
                    "access_token": .string(tokens.accessToken), "refresh_token": .string(tokens.refreshToken),
                    "expires_in": .integer(Int64(tokens.expiresIn)), "client_id": .string(self.configuration.clientID),
                    "client_endpoint": "/rest/", "application_token": .string(self.configuration.applicationToken),
                ]))
        case (.post, "/_sandbox/click-to-call"):
            return Self.response(await self.clickToCall(Self.parameters(request, body)))
        default:
            return Self.response(
                .error(404, "NOT_FOUND", "GET /_sandbox/state, POST /_sandbox/knobs|install|click-to-call"))
        }
    }

    /// Applies knobs (see `SandboxKnobs`); returns what could not be read.
    @discardableResult
    public func setKnobs(_ json: JSONValue) -> [String] {
        self.front.withLock { front in
            var bucket = front.bucket
            var expire = false
            let problems = front.knobs.apply(
                json, now: PortalValue.now(), monotonic: Self.monotonic(), bucket: &bucket,
                expireTokens: { expire = true })
            front.bucket = bucket
            if expire {
                for token in front.accessTokens.keys { front.accessTokens[token]!.expiresAt = 0 }
            }
            return problems
        }
    }

    /// What the portal holds: `{"calls", "leads", "contacts", "companies", "deals", "activities", "tasks",
    /// "workflows", "events", "requests", "limits"}`.
    public func state() async -> JSONValue {
        let (requests, refused, count) = self.front.withLock { ($0.requests, $0.bucket.refused, $0.requestCount) }
        var state = await self.portal.state(requests: requests)
        state["limits"] = [
            "query_limit_exceeded": .integer(Int64(refused)), "requests": .integer(Int64(count)),
        ]
        return state
    }

    /// Binds an event handler, as an application's `event.bind` would.
    @discardableResult
    public func bind(event: String, handler: String) async -> PortalAnswer {
        await self.portal.call(
            "event.bind", ["event": .string(event), "handler": .string(handler)], caller: .application(userID: 1))
    }

    public func clickToCall(_ params: JSONValue) async -> PortalAnswer {
        let (answer, deliveries) = await self.portal.clickToCall(params)
        guard !answer.isError else { return answer }
        var delivered: [JSONValue] = []
        for delivery in deliveries {
            let status: Int
            do {
                let reply = try await self.events.send(
                    WebRequest(
                        method: "POST", url: delivery.handler,
                        headers: [("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array(delivery.form.utf8),
                        timeout: .seconds(10)))
                status = reply.status
            } catch {
                status = 0
            }
            delivered.append(["handler": .string(delivery.handler), "status": .integer(Int64(status))])
        }
        var result = answer.body["result"] ?? .null
        result["delivered"] = .array(delivered)
        return PortalAnswer(body: ["result": result])
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Just enough of multipart/form-data to read one file field.
enum Multipart {
    static func file(named field: String, contentType: String, body: [UInt8]) -> (fileName: String?, bytes: [UInt8])? {
        guard let range = contentType.range(of: "boundary=") else { return nil }
        var boundary = String(contentType[range.upperBound...])
        if let semicolon = boundary.firstIndex(of: ";") { boundary = String(boundary[..<semicolon]) }
        boundary = boundary.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [ArraySlice<UInt8>] = []
        var start: Int? = nil
        var index = 0
        while index + delimiter.count <= body.count {
            if body[index] == delimiter[0], body[index..<index + delimiter.count].elementsEqual(delimiter) {
                if let s = start { parts.append(body[s..<max(s, index - 2)]) }
                index += delimiter.count
                // Skip the CRLF after the delimiter.
                if index + 1 < body.count, body[index] == 13, body[index + 1] == 10 { index += 2 }
                start = index
                continue
            }
            index += 1
        }
        for part in parts {
            let separator: [UInt8] = [13, 10, 13, 10]
            guard let headerEnd = part.firstRange(of: separator) else { continue }
            let headers = String(decoding: part[part.startIndex..<headerEnd.lowerBound], as: UTF8.self)
            guard headers.contains("name=\"\(field)\"") else { continue }
            var fileName: String?
            if let r = headers.range(of: "filename=\"") {
                fileName = String(headers[r.upperBound...].prefix { $0 != "\"" })
            }
            return (fileName, Array(part[headerEnd.upperBound...]))
        }
        return nil
    }
}

/// Writes into each request's head the moment it was read off the socket (replacing any such field a client
/// sent), so that arrivals are timed at the socket rather than after the server's hop to a request task.
final class ReceiveStamp: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    static let field = HTTPField.Name("X-Sandbox-Received-Ns")!
    /// Where a client (Callhook, with `CALLHOOK_STAMP_SENT=1`) says when it sent the request.
    static let sentField = HTTPField.Name(CurlHTTPClient.sentStampField)!

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = self.unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        head.headerFields[Self.field] = String(MonotonicClock.nanoseconds())
        context.fireChannelRead(self.wrapInboundOut(.head(head)))
    }
}
