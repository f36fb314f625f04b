import Bitrix24
import Calls
import Foundation
import GRDB
import Hooks
import JSON
import Logging
import Store

/// Carries out one outbox operation: runs the hooks at their documented places and makes the CRM requests.
/// Hooks run at delivery, on the call's facts and what the CRM answered so far, so a call delivered late (the
/// portal was down) is shaped exactly like one delivered at once.
struct OperationRunner: Sendable {
    let database: CallhookDatabase
    let client: Bitrix24Client
    let hooks: HookEngine
    let users: UserDirectory
    let settings: Bitrix24Settings
    let format: CallTimeFormat
    let logger: Logger
    let observer: (@Sendable (DeliveryEvent) -> Void)?
    /// The newest operation in the outbox when this process began delivering. An operation after it that has no
    /// attempt recorded was never tried by anyone; any other may have reached the portal before a crash (or a
    /// lost answer), so what it would create is looked for first.
    let lastOperationAtStart: Int64
    /// Registrations' look-ups started by the rings themselves, before they are committed.
    let headStart = RingHeadStart(lanes: 4)
    /// Client searches started when incoming calls arrived, for their rings to use.
    let searchesAhead = SearchAhead()

    func observe(_ event: DeliveryEvent) { self.observer?(event) }

    /// Whether the operation may have been tried before (see `lastOperationAtStart`).
    func mayHaveBeenTried(_ op: OutboxOperation) -> Bool {
        op.attempts > 0 || op.id <= self.lastOperationAtStart
    }

    func execute(_ op: OutboxOperation, queue: [OutboxOperation], call: StoredCall) async -> Outcome {
        do {
            switch op.kind {
            case "register": return try await self.register(op, call)
            case "show", "hide": return try await self.showHide(queue, call)
            case "finish": return try await self.finish(op, call)
            case "record": return try await self.record(op, call)
            case "task": return try await self.task(op, call)
            case "activity": return try await self.updateActivity(op, call)
            case "entity": return try await self.updateEntity(op, call)
            case "delete": return try await self.deleteActivity(op, call)
            case "close": return try await self.close(op, call)
            default: return .cancelled(op.id, "unknown operation \(op.kind)")
            }
        } catch {
            return .failure(error)
        }
    }

    // MARK: - Helpers

    /// Runs a hook for a call and reports it.
    func hook(_ point: HookPoint, _ params: JSONValue, _ callID: String) async -> HookResult {
        let result = await self.hooks.run(point, params: params, callID: callID)
        if self.observer != nil {
            let decision: String =
                switch result.decision {
                case .proceed: "proceed"
                case .cancel: "cancel"
                case .ignore: "ignore"
                case .delete: "delete"
                case .skip: "skip"
                }
            let source: String =
                switch result.source {
                case .builtin: "built-in"
                case .script: "script"
                case .builtinAfterFailure: "built-in (the script failed)"
                }
            self.observe(.hook(callID: callID, hook: point, source: source, decision: decision))
        }
        return result
    }

    /// One CRM request for a call, reported.
    func crm(_ method: String, _ params: JSONValue, _ callID: String) async throws(Bitrix24Error) -> JSONValue {
        try await self.reporting(method, params, callID, result: { $0 }) { () async throws(Bitrix24Error) in
            try await self.client.call(method, params)
        }
    }

    /// A CRM request made only if the portal's limit has room now and nothing waits for it (nil otherwise).
    func crmIfIdle(_ method: String, _ params: JSONValue, _ callID: String) async throws(Bitrix24Error) -> JSONValue? {
        try await self.reporting(method, params, callID, result: { $0 }) { () async throws(Bitrix24Error) in
            try await self.client.callIfIdle(method, params)
        }
    }

    /// One CRM request for a call, its whole answer (`result`, `time`, `total`/`next`), reported.
    func crmResponse(_ method: String, _ params: JSONValue, _ callID: String) async throws(Bitrix24Error) -> JSONValue {
        try await self.reporting(method, params, callID, result: { $0["result"] ?? .null }) {
            () async throws(Bitrix24Error) in try await self.client.response(method, params)
        }
    }

    /// Makes a request and reports it: its `result` (nil: no request was made, nothing to report) or its error.
    private func reporting<Answer>(
        _ method: String, _ params: JSONValue, _ callID: String, result: (Answer) -> JSONValue?,
        _ request: () async throws(Bitrix24Error) -> Answer
    ) async throws(Bitrix24Error) -> Answer {
        do {
            let answer = try await request()
            if let result = result(answer) {
                self.observe(.request(callID: callID, method: method, params: params, outcome: .success(result)))
            }
            return answer
        } catch {
            self.observe(.request(callID: callID, method: method, params: params, outcome: .failure(error)))
            throw error
        }
    }

    /// Saves part of an operation's progress at once (before a request that must not be repeated blindly).
    func saveCRM(_ callID: String, _ change: @escaping @Sendable (inout JSONValue) -> Void) async throws(Bitrix24Error)
    {
        do {
            try await self.database.write { db in try db.updateCRM(callID: callID, change) }
        } catch {
            throw Bitrix24Error(code: "store", message: "cannot save progress: \(error)", status: 0)
        }
    }

    func markSent(_ id: Int64) async throws(Bitrix24Error) {
        do {
            try await self.database.write { db in try db.markSent(id) }
        } catch {
            throw Bitrix24Error(code: "store", message: "cannot save progress: \(error)", status: 0)
        }
    }

    static func userJSON(_ user: PortalUser?) -> JSONValue {
        guard let user else { return .object(JSONObject()) }
        let parts = user.name.split(separator: " ", maxSplits: 1)
        return [
            "ID": .integer(Int64(user.id)), "NAME": .string(String(parts.first ?? "")),
            "LAST_NAME": .string(parts.count > 1 ? String(parts[1]) : ""),
            "UF_PHONE_INNER": user.innerPhone.map(JSONValue.string) ?? .null, "ACTIVE": .bool(user.active),
        ]
    }

    /// The user whose phone a party's number is, for each local party from the last back.
    func lastUser(of parties: [JSONValue]) async -> PortalUser? {
        for party in parties.reversed() {
            if let user = await self.users.user(extension: party["number"]?.stringValue) { return user }
        }
        return nil
    }

    func defaultUser(trunk: String) -> Int {
        self.settings.line(trunk).defaultUserID ?? self.settings.defaultUserID
    }

    /// The missed-call responsible (Itgrix policy 0/1/2, each falling back to the next).
    func missedCallResponsible(_ call: StoredCall) async -> Int {
        let end = call.facts["end"] ?? .null
        let trunk = end["trunk"]?.stringValue ?? ""
        let policy = self.settings.missedCallResponsible
        if policy == .entityResponsible, let assigned = call.crm["entity"]?["assigned_by_id"]?.integerValue,
            let user = await self.users.user(id: Int(assigned)), user.active
        {
            return user.id
        }
        if policy != .defaultUser {
            let parties = (end["rang"]?.arrayValue ?? []) + (end["talked"]?.arrayValue ?? [])
            if let user = await self.lastUser(of: parties) { return user.id }
        }
        return self.defaultUser(trunk: trunk)
    }

    /// The portal's entity type code in `UF_CRM_TASK` and in hook inputs.
    static func taskBinding(_ entity: JSONValue) -> String? {
        guard let type = entity["type"]?.stringValue, let id = entity["id"]?.integerValue else { return nil }
        switch type {
        case "LEAD": return "L_\(id)"
        case "CONTACT": return "C_\(id)"
        case "COMPANY": return "CO_\(id)"
        case "DEAL": return "D_\(id)"
        default: return nil
        }
    }

    /// The call's activity: known from finish, or found by the ORIGIN_ID Bitrix24 gives telephony activities.
    func activityID(_ call: StoredCall) async throws(Bitrix24Error) -> Int64? {
        if let id = call.crm["activity_id"]?.integerValue { return id }
        guard let portalCall = call.crm["call_id"]?.stringValue else { return nil }
        let found = try await self.crm(
            "crm.activity.list", ["filter": ["ORIGIN_ID": .string("VI_\(portalCall)")]], call.id)
        return found[0]?["ID"]?.scalarText.flatMap { Int64($0) }
    }
}
