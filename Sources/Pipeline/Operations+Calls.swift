import Bitrix24
import Foundation
import GRDB
import Hooks
import JSON
import Store

extension OperationRunner {
    /// Show and hide: the run of show/hide operations at the head of the call's queue is merged into at most one
    /// `show` and one `hide` (each with a list of users), after a short wait so a ring group's phones go
    /// together. A card is shown once and hidden only from who saw it.
    func showHide(_ queue: [OutboxOperation], _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        var run: [OutboxOperation] = []
        for op in queue {
            guard op.kind == "show" || op.kind == "hide", op.status == .pending else { break }
            run.append(op)
        }
        let ids = run.map(\.id)
        let newest = run.map(\.createdAt).max() ?? 0
        let debounce = self.settings.showDebounce.seconds
        if unixNow() - newest < debounce, !run.contains(where: { $0.attempts > 0 }) {
            return .postpone(until: newest + debounce, note: "gathering the ring group's cards")
        }
        guard let portalCallID = call.crm["call_id"]?.stringValue else {
            return .cancelled(ids: ids, reason: "the call was not registered", effects: { _ in })
        }
        if call.crm["finished"]?.boolValue == true
            || queue.contains(where: { $0.kind == "finish" }) && call.state == "ended"
        {
            // The call is over: finish closes every card.
            return .cancelled(ids: ids, reason: "the call ended; finish closes the cards", effects: { _ in })
        }
        var shown = (call.crm["shown"]?.arrayValue ?? []).compactMap(\.integerValue)
        var toShow: [Int64] = []
        var toHide: [Int64] = []
        for op in run {
            let user: Int64?
            if let id = op.payload["user_id"]?.integerValue {
                user = id
            } else {
                user = await self.users.user(extension: op.payload["number"]?.stringValue).map { Int64($0.id) }
            }
            guard let user else { continue }  // no portal user with this extension: no card
            if op.kind == "show" {
                toHide.removeAll { $0 == user }
                if !shown.contains(user), !toShow.contains(user) { toShow.append(user) }
            } else {
                toShow.removeAll { $0 == user }
                if shown.contains(user), !toHide.contains(user) { toHide.append(user) }
            }
        }
        let showUsers = toShow
        let hideUsers = toHide
        async let showing: Void = {
            guard !showUsers.isEmpty else { return }
            _ = try await self.crm(
                "telephony.externalcall.show",
                ["CALL_ID": .string(portalCallID), "USER_ID": .array(showUsers.map(JSONValue.integer))], call.id)
        }()
        async let hiding: Void = {
            guard !hideUsers.isEmpty else { return }
            _ = try await self.crm(
                "telephony.externalcall.hide",
                ["CALL_ID": .string(portalCallID), "USER_ID": .array(hideUsers.map(JSONValue.integer))], call.id)
        }()
        do {
            try await showing
            try await hiding
        } catch {
            throw error as? Bitrix24Error ?? Bitrix24Error(code: "network", message: "\(error)", status: 0)
        }
        shown.append(contentsOf: toShow)
        shown.removeAll { toHide.contains($0) }
        let final = shown
        return .done(ids: ids, note: nil) { db in
            try db.updateCRM(callID: call.id) { $0["shown"] = .array(final.map(JSONValue.integer)) }
        }
    }

    /// End: the record first if it is not written yet (hide the cards and wait), then process_final_params →
    /// finish, and what follows: the record, a missed-call task, the activity's and the entity's updates.
    func finish(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        if let reason = call.crm["skipped"]?.stringValue { return .cancelled(op.id, reason) }
        guard let portalCallID = call.crm["call_id"]?.stringValue else {
            return .cancelled(op.id, "the call was never registered")
        }
        if call.crm["finished"]?.boolValue == true { return .done(op.id, note: "already finished") }
        let end = call.facts["end"] ?? .null
        let conversation = CallEventRecorder.conversation(end)
        let answered = end["was_answered"]?.boolValue ?? false

        // The recording: wait (a while) for a file still being written, with the cards hidden meanwhile.
        var recordPath: String?
        if let original = (end["records"]?.arrayValue ?? call.facts["records"]?.arrayValue ?? []).first?.stringValue {
            let customised = await self.hook(
                .processRecordFilePath,
                [
                    "call_id": .string(call.id), "from": end["from"] ?? "", "to": end["to"] ?? "",
                    "path": .string(original),
                ], call.id)
            var path = original
            if case .proceed(let data) = customised.decision, let changed = data["path"]?.stringValue, !changed.isEmpty
            {
                path = changed
            }
            let endedAt = call.updatedAt
            switch RecordFile.readiness(path, settle: self.settings.recordSettle.seconds) {
            case .ready:
                recordPath = path
            case .notYet where unixNow() - max(endedAt, op.createdAt) < self.settings.recordWait.seconds:
                let shown = (call.crm["shown"]?.arrayValue ?? []).compactMap(\.integerValue)
                if !shown.isEmpty, call.crm["hidden_for_record"] == nil {
                    _ = try await self.crm(
                        "telephony.externalcall.hide",
                        ["CALL_ID": .string(portalCallID), "USER_ID": .array(shown.map(JSONValue.integer))], call.id)
                    try await self.saveCRM(call.id) { crm in
                        crm["hidden_for_record"] = true
                        crm["shown"] = []
                    }
                }
                return .postpone(until: unixNow() + 2, note: "the recording \(path) is not written yet")
            case .notYet:
                self.logger.warning(
                    "the call's recording never appeared; finishing without it",
                    metadata: ["call.id": "\(call.id)", "record.path": "\(path)"])
            }
        }

        // Who the call belongs to in the end.
        var userID: Int
        if answered, let talker = await self.lastUser(of: end["talked"]?.arrayValue ?? []) {
            userID = talker.id
        } else if answered, let registered = call.crm["user_id"]?.integerValue {
            userID = Int(registered)
        } else {
            userID = await self.missedCallResponsible(call)
        }
        if answered, let answeredBy = call.facts["answered_by"]?.stringValue,
            end["talked"]?.arrayValue?.isEmpty ?? true, let user = await self.users.user(extension: answeredBy)
        {
            userID = user.id
        }
        let status = end["status_code"]?.stringValue ?? (answered ? "200" : "304")
        let entity = call.crm["entity"] ?? .null
        var params: JSONObject = [
            "ADD_TO_CHAT": .integer(self.settings.addToChat ? 1 : 0), "CALL_ID": .string(portalCallID),
            "DURATION": .integer(answered ? end["billsec"]?.integerValue ?? 0 : 0), "STATUS_CODE": .string(status),
            "USER_ID": .integer(Int64(userID)),
        ]
        var input = params
        input["conversation"] = conversation
        input["entity_data"] = [
            "entity_id": entity["id"] ?? .null,
            "entity_type": .string((entity["type"]?.stringValue ?? "").lowercased()),
            "was_created": .bool(entity["created"]?.boolValue ?? false),
        ]
        let decision = await self.hook(.processFinalParams, .object(input), call.id).decision
        var deleteWanted = false
        switch decision {
        case .cancel:
            // The script does not want this call finished in the CRM: the card is closed, nothing else.
            let shown = (call.crm["shown"]?.arrayValue ?? []).compactMap(\.integerValue)
            if !shown.isEmpty {
                _ = try await self.crm(
                    "telephony.externalcall.hide",
                    ["CALL_ID": .string(portalCallID), "USER_ID": .array(shown.map(JSONValue.integer))], call.id)
            }
            return .cancelled(op.id, "process_final_params cancelled the finish")
        case .delete:
            deleteWanted = true
        case .proceed(let data):
            if case .object(let changed) = data { params = changed }
        case .ignore, .skip:
            break
        }
        params["CALL_ID"] = .string(portalCallID)

        var result: JSONValue = .null
        var note: String?
        if op.sent {
            // A finish went out before and its answer was lost: a repeat is refused, which means it was done.
            do {
                result = try await self.crm("telephony.externalcall.finish", .object(params), call.id)
            } catch  where error.message.hasPrefix("Call is not found") {
                note = "finished by an earlier attempt whose answer was lost"
            }
        } else {
            try await self.markSent(op.id)
            result = try await self.crm("telephony.externalcall.finish", .object(params), call.id)
        }
        let activityID = result["CRM_ACTIVITY_ID"]?.scalarText.flatMap { Int64($0) }
        let missedIncoming = !answered && !(conversation["from_local"]?.boolValue ?? false)
        let createdEntity = entity["created"]?.boolValue == true
        let final = params
        let record = recordPath
        let tasks = self.settings.missedCallTasks
        let delete = deleteWanted
        return .done(op.id, note: note) { db in
            try db.updateCRM(callID: call.id) { crm in
                crm["finished"] = true
                crm["shown"] = []
                crm["final_params"] = .object(final)
                if let activityID { crm["activity_id"] = .integer(activityID) }
                if let record { crm["record_path"] = .string(record) }
            }
            if let record { try db.enqueue(callID: call.id, kind: "record", payload: ["path": .string(record)]) }
            if delete {
                try db.enqueue(callID: call.id, kind: "delete")
                return
            }
            if missedIncoming, tasks { try db.enqueue(callID: call.id, kind: "task") }
            try db.enqueue(callID: call.id, kind: "activity")
            if createdEntity { try db.enqueue(callID: call.id, kind: "entity") }
        }
    }

    /// The recording, attached after finish: inline for small files, through the upload URL for large ones.
    func record(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        guard let portalCallID = call.crm["call_id"]?.stringValue, let path = op.payload["path"]?.stringValue else {
            return .cancelled(op.id, "nothing to attach")
        }
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw Bitrix24Error(code: "record_missing", message: "the recording \(path) cannot be read", status: 0)
        }
        let name = (path as NSString).lastPathComponent
        let fileID = try await self.client.attachRecord(
            callID: portalCallID, fileName: name, contents: [UInt8](contents))
        self.observe(
            .request(
                callID: call.id, method: "telephony.externalcall.attachRecord",
                params: [
                    "CALL_ID": .string(portalCallID), "FILENAME": .string(name),
                    "size": .integer(Int64(contents.count)),
                ],
                outcome: .success(["FILE_ID": fileID])))
        return .done(op.id, note: "\(name), \(contents.count) bytes")
    }

    /// A task for a missed incoming call (process_task_creation_params), bound to the client in the CRM. Carries
    /// the call's id in XML_ID, so a retry after a lost answer finds it instead of making a second one.
    func task(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        let end = call.facts["end"] ?? .null
        let responsible = await self.missedCallResponsible(call)
        let phone = call.crm["phone"]?.stringValue ?? end["from"]?.stringValue ?? ""
        let deadline = Date(timeIntervalSinceNow: self.settings.taskDeadline.seconds)
        var binding: [JSONValue] = []
        if let entity = call.crm["entity"], let code = Self.taskBinding(entity) { binding.append(.string(code)) }
        let data: JSONValue = [
            "DEADLINE": .string(self.format.string(deadline.timeIntervalSince1970)),
            "CREATED_BY": .integer(Int64(responsible)),
            "RESPONSIBLE_ID": .integer(Int64(responsible)), "TITLE": .string("Пропущенный звонок: \(phone)"),
            "UF_CRM_TASK": .array(binding),
        ]
        let hooked = await self.hook(
            .processTaskCreationParams,
            ["arNewTaskData": data, "conversation": CallEventRecorder.conversation(end)], call.id)
        guard case .proceed(let output) = hooked.decision, case .object(var fields) = output["arNewTaskData"] ?? output
        else {
            return .cancelled(op.id, "process_task_creation_params cancelled the task")
        }
        fields["XML_ID"] = .string("callhook:\(call.id)")
        if op.sent {
            let existing = try await self.crm(
                "tasks.task.list", ["filter": ["XML_ID": .string("callhook:\(call.id)")]], call.id)
            if let id = existing["tasks"]?[0]?["id"] {
                return .done(op.id, note: "task \(id.scalarText ?? "") made by an earlier attempt") { db in
                    try db.updateCRM(callID: call.id) { $0["task_id"] = id }
                }
            }
        }
        try await self.markSent(op.id)
        let created = try await self.crm("tasks.task.add", ["fields": .object(fields)], call.id)
        let id = created["task"]?["id"] ?? .null
        return .done(op.id, note: "task \(id.scalarText ?? "")") { db in
            try db.updateCRM(callID: call.id) { $0["task_id"] = id }
        }
    }

    /// get_updated_activity_fields → crm.activity.update (nothing by default).
    func updateActivity(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        let end = call.facts["end"] ?? .null
        let decision = await self.hook(.getUpdatedActivityFields, CallEventRecorder.conversation(end), call.id).decision
        guard case .proceed(let fields) = decision, !fields.isEmpty else {
            return .done(op.id, note: "nothing to change")
        }
        guard let id = try await self.activityID(call) else { return .cancelled(op.id, "the call has no activity") }
        _ = try await self.crm("crm.activity.update", ["id": .integer(id), "fields": fields], call.id)
        return .done(op.id)
    }

    /// get_updated_entity_fields → the update of the entity this call created (nothing by default).
    func updateEntity(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        let entity = call.crm["entity"] ?? .null
        guard entity["created"]?.boolValue == true, let type = entity["type"]?.stringValue?.lowercased(),
            let id = entity["id"]?.integerValue
        else {
            return .cancelled(op.id, "the call created no entity")
        }
        let decision = await self.hook(.getUpdatedEntityFields, call.facts["end"] ?? .null, call.id).decision
        guard case .proceed(let fields) = decision, !fields.isEmpty else {
            return .done(op.id, note: "nothing to change")
        }
        _ = try await self.crm("crm.\(type).update", ["id": .integer(id), "fields": fields], call.id)
        return .done(op.id)
    }

    /// process_final_params said `delete`: the call's activity is removed.
    func deleteActivity(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        guard let id = try await self.activityID(call) else { return .done(op.id, note: "no activity to delete") }
        do {
            _ = try await self.crm("crm.activity.delete", ["id": .integer(id)], call.id)
        } catch  where error.message == "Not found" {
            return .done(op.id, note: "already deleted")
        }
        return .done(op.id, note: "activity \(id) deleted")
    }

    /// The call became part of another: close the cards it showed.
    func close(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        let shown = (call.crm["shown"]?.arrayValue ?? []).compactMap(\.integerValue)
        guard let portalCallID = call.crm["call_id"]?.stringValue, !shown.isEmpty else { return .done(op.id) }
        _ = try await self.crm(
            "telephony.externalcall.hide",
            ["CALL_ID": .string(portalCallID), "USER_ID": .array(shown.map(JSONValue.integer))], call.id)
        return .done(op.id) { db in try db.updateCRM(callID: call.id) { $0["shown"] = [] } }
    }
}

/// Whether a recording can be attached yet.
enum RecordFile {
    enum Readiness {
        case ready
        /// Missing or still growing.
        case notYet
    }

    static func readiness(_ path: String, settle: Double) -> Readiness {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return .notYet }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        if size == 0 || unixNow() - modified < settle { return .notYet }
        return .ready
    }
}
