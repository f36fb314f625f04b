import AMIClient
import Bitrix24
import Config
import Foundation
import HTTPTypes
import Hooks
import Hummingbird
import JSON
import Logging
import NIOCore
import Pipeline
import Store

/// The daemon's HTTP side (Hummingbird):
/// - `POST /bitrix24/events`: Bitrix24 events, form-encoded as the portal sends them. `ONEXTERNALCALLSTART` (a
///   user clicked a number in the CRM) becomes an AMI Originate, through process_phone_number and
///   process_originate_params; its `CALL_ID` is kept so the call the PBX places is not registered twice.
/// - `GET /health`: the AMI link, the outbox, calls in progress (JSON).
/// - `GET /metrics`: the same and the daemon's counters in Prometheus's text format (`DaemonMetrics`).
struct EventsServer: Sendable {
    let configuration: CallhookConfiguration
    let database: CallhookDatabase
    let hooks: HookEngine
    let users: UserDirectory
    let ami: AMIClient
    let intake: CallIntake
    let daemon: CallhookDaemon
    let metrics: DaemonMetrics
    let logger: Logger

    func run(onStarted: @escaping @Sendable (Int) -> Void) async throws {
        let router = Router()
        router.post("/bitrix24/events") { request, _ -> Response in
            var body = try await request.body.collect(upTo: 1 << 20)
            let text = body.readString(length: body.readableBytes) ?? ""
            let (status, message) = await self.event(PHPQuery.decode(Substring(text)))
            return Self.json(status, ["result": .string(message)])
        }
        router.get("/health") { _, _ -> Response in
            Self.json(200, await self.health())
        }
        router.get("/metrics") { _, _ -> Response in
            let now = await self.snapshot()
            let text = self.metrics.scrape(
                amiConnected: now.status.amiConnected, callsInProgress: now.callsInProgress, outbox: now.outbox)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        let app = Application(
            router: router,
            configuration: .init(
                address: .hostname(self.configuration.server.host, port: self.configuration.server.port),
                serverName: "callhook"),
            onServerRunning: { channel in onStarted(channel.localAddress?.port ?? 0) },
            logger: Self.quiet(self.logger))
        try await app.runService()
    }

    /// Hummingbird reports its own shutdown on cancellation as errors ("Waiting on child channel:
    /// CancellationError()"): the daemon's stop is not an error. What matters (the port cannot be bound) is thrown.
    static func quiet(_ logger: Logger) -> Logger {
        var quiet = logger
        quiet.logLevel = .critical
        return quiet
    }

    static func json(_ status: Int, _ body: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: .init(code: status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body.serialized(options: []))))
    }

    /// What `/health` and `/metrics` report: the outbox by status, the AMI link, calls in progress.
    func snapshot() async -> (
        outbox: [OutboxOperation.Status: Int], status: CallhookDaemon.Status, callsInProgress: Int
    ) {
        let counts = (try? await self.database.read { db in try db.outboxCounts() }) ?? [:]
        return (counts, self.daemon.status.withLock { $0 }, await self.intake.callsInProgress)
    }

    func health() async -> JSONValue {
        let (counts, status, callsInProgress) = await self.snapshot()
        return [
            "ami": .string(status.amiConnected ? "connected" : "disconnected"),
            "asterisk": status.amiVersion.map(JSONValue.string) ?? .null,
            "calls_in_progress": .integer(Int64(callsInProgress)),
            "outbox": [
                "pending": .integer(Int64(counts[.pending] ?? 0)), "failed": .integer(Int64(counts[.failed] ?? 0)),
                "done": .integer(Int64(counts[.done] ?? 0)),
            ],
        ]
    }

    /// One Bitrix24 event. Returns the HTTP status and a short answer.
    func event(_ form: JSONValue) async -> (Int, String) {
        guard let expected = self.configuration.bitrix24.applicationToken else {
            self.logger.warning("a Bitrix24 event arrived but bitrix24.application_token is not set; refused")
            return (403, "set bitrix24.application_token to accept events")
        }
        guard form["auth"]?["application_token"]?.stringValue == expected else {
            self.logger.warning(
                "a Bitrix24 event with a wrong application token was refused",
                metadata: ["event": "\(form["event"]?.stringValue ?? "?")"])
            return (403, "wrong application token")
        }
        guard let name = form["event"]?.stringValue?.uppercased() else { return (400, "no event") }
        guard name == "ONEXTERNALCALLSTART" else { return (200, "ignored \(name)") }
        let data = form["data"] ?? .null
        guard let userID = data["USER_ID"]?.scalarText.flatMap({ Int($0) }),
            let number = data["PHONE_NUMBER"]?.stringValue, !number.isEmpty,
            let portalCallID = data["CALL_ID"]?.stringValue
        else {
            return (400, "ONEXTERNALCALLSTART without USER_ID, PHONE_NUMBER or CALL_ID")
        }
        return await self.clickToCall(userID: userID, number: number, portalCallID: portalCallID, data: data)
    }

    private func clickToCall(userID: Int, number: String, portalCallID: String, data: JSONValue) async -> (Int, String)
    {
        var extensionNumber = await self.users.user(id: userID)?.innerPhone
        if extensionNumber == nil {
            await self.users.refresh()
            extensionNumber = await self.users.user(id: userID)?.innerPhone
        }
        guard let extensionNumber else {
            self.logger.warning(
                "click-to-call from a user without an inner phone number", metadata: ["crm.user_id": "\(userID)"])
            return (200, "user \(userID) has no UF_PHONE_INNER")
        }
        var phone = number
        if case .proceed(let normalised) = await self.hooks.run(.processPhoneNumber, params: ["phone": .string(number)])
            .decision, let text = normalised["phone"]?.scalarText, !text.isEmpty
        {
            phone = text
        }
        let originate = self.configuration.originate
        let params: JSONValue = [
            "caller_id": .string(originate.callerID.replacingOccurrences(of: "{extension}", with: extensionNumber)),
            "channel": .string(originate.channel.replacingOccurrences(of: "{extension}", with: extensionNumber)),
            "context": .string(originate.context), "extension": .string(phone), "priority": .string(originate.priority),
        ]
        guard case .proceed(let fields) = await self.hooks.run(.processOriginateParams, params: params).decision else {
            self.logger.info(
                "click-to-call cancelled by process_originate_params", metadata: ["crm.call_id": "\(portalCallID)"])
            return (200, "cancelled by process_originate_params")
        }
        let actionID = "callhook-c2c-\(UInt32.random(in: 0...UInt32.max))"
        let dialled = fields["extension"]?.scalarText ?? phone
        let pending = PendingOriginate(
            actionID: actionID, portalCallID: portalCallID, extensionNumber: extensionNumber, phone: dialled,
            userID: userID, callListID: data["CALL_LIST_ID"]?.stringValue, at: Date().timeIntervalSince1970)
        do {
            try await self.database.write { db in try db.saveOriginate(pending) }
            try await self.intake.originateSent(actionID: actionID, at: pending.at)
        } catch {
            self.logger.error("cannot store a click-to-call", metadata: ["error": "\(error)"])
            return (500, "cannot store the click-to-call")
        }
        var action: [(String, String)] = [
            ("ActionID", actionID), ("Channel", fields["channel"]?.scalarText ?? ""),
            ("Context", fields["context"]?.scalarText ?? ""), ("Exten", dialled),
            ("Priority", fields["priority"]?.scalarText ?? "1"), ("CallerID", fields["caller_id"]?.scalarText ?? ""),
            ("Timeout", String(Int(originate.timeout.components.seconds * 1000))), ("Async", "true"),
        ]
        if let codecs = fields["codecs"]?.scalarText { action.append(("Codecs", codecs)) }
        switch fields["variable"] {
        case .string(let variable)?: action.append(("Variable", variable))
        case .object(let variables)?:
            for member in variables.members {
                action.append(("Variable", "\(member.key)=\(member.value.scalarText ?? "")"))
            }
        default: break
        }
        do {
            _ = try await self.ami.send("Originate", action)
        } catch {
            self.logger.error(
                "the PBX refused the click-to-call Originate",
                metadata: ["crm.call_id": "\(portalCallID)", "error": "\(error)"])
            return (502, "the PBX refused the call: \(error)")
        }
        self.logger.info(
            "click-to-call placed",
            metadata: ["crm.call_id": "\(portalCallID)", "ami.channel": "\(fields["channel"]?.scalarText ?? "")"])
        return (200, "originated")
    }
}
