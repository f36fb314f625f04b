import Calls
import GRDB
import JSON
import Store

/// Turns what the tracker says about a call into the call's facts and the CRM operations it needs, inside the
/// intake's transaction. Nothing here talks to the CRM or runs a hook: the deliverer does, operation by
/// operation, in each call's order.
///
/// The operations:
/// - `register` at the first ring of an incoming call (at the start of an outgoing one; at the end of a call no
///   phone ever rang for, and of a call between extensions, which may turn out to be a click-to-call);
/// - `show` / `hide` as other phones start and stop ringing;
/// - `finish` when the call ends (it queues what follows: the record, the task, the activity and entity updates);
/// - `close` when the call was absorbed into another (a pickup, a transfer's consultation).
enum CallEventRecorder {
    /// What a transaction wrote, as it wrote it: the deliverer takes a ring's call and operations from here rather
    /// than read them back.
    struct Written {
        /// Each call as last written.
        var calls: [String: StoredCall] = [:]
        /// The operations queued for each call whose `register` was queued in the transaction, in order. A
        /// `register` is a call's first operation ever: every other kind is queued only for a call that has one
        /// (`facts.registered`), or, for `close`, that the portal has registered. So for those calls this is every
        /// open operation; a call whose operations are cancelled drops out.
        var operations: [String: [OutboxOperation]] = [:]
    }

    /// Applies one event. Returns whether an operation was queued. `written` gets each call and operation as
    /// written.
    static func apply(
        _ event: CallEvent, seq: Int64, in db: Database, format: CallTimeFormat, written: inout Written
    ) throws -> Bool {
        switch event {
        case .started(let call):
            guard try db.call(call.id) == nil else { return false }
            var facts: JSONObject = [
                "start": call.json(format), "registered": false, "ringing": [], "records": .array([]), "end": .null,
            ]
            var record = StoredCall(id: call.id, state: "active", facts: .null, firstSeq: seq)
            // An outgoing call belongs to the office phone that placed it, from the start.
            let queued = call.type == .outgoing
            if queued {
                try self.enqueue(
                    call.id, "register",
                    ["conversation": Self.conversation(call.json(format)), "party": .string(call.from)],
                    in: db, written: &written)
                facts["registered"] = true
            }
            record.facts = .object(facts)
            try self.save(&record, in: db, written: &written)
            return queued

        case .ringing(let callID, let party, let conversation):
            return try self.update(callID, in: db, written: &written) { facts in
                var ringing = facts["ringing"]?.arrayValue ?? []
                if !ringing.contains(.string(party.number)) { ringing.append(.string(party.number)) }
                facts["ringing"] = .array(ringing)
                // A call between two extensions is registered when it ends, if at all (need_registration): it may
                // also be a click-to-call, which looks internal until the PBX dials the client.
                if conversation.type == .internal, facts["registered"]?.boolValue != true { return [] }
                if facts["registered"]?.boolValue != true {
                    facts["registered"] = true
                    return [("register", ["conversation": conversation.json(format), "party": .string(party.number)])]
                }
                return [("show", ["number": .string(party.number)])]
            }

        case .ringStopped(let callID, let party):
            return try self.update(callID, in: db, written: &written) { facts in
                facts["ringing"] = .array((facts["ringing"]?.arrayValue ?? []).filter { $0 != .string(party.number) })
                return facts["registered"]?.boolValue == true ? [("hide", ["number": .string(party.number)])] : []
            }

        case .answered(let callID, let party, let local):
            return try self.update(callID, in: db, written: &written) { facts in
                if local { facts["answered_by"] = .string(party.number) }
                return []
            }

        case .transferred(let callID, let from, let to, let kind):
            return try self.update(callID, in: db, written: &written) { facts in
                var transfers = facts["transfers"]?.arrayValue ?? []
                transfers.append([
                    "from": .string(from?.number ?? ""), "to": .string(to), "kind": .string(kind.rawValue),
                ])
                facts["transfers"] = .array(transfers)
                return []
            }

        case .recording(let callID, let path):
            return try self.update(callID, in: db, written: &written) { facts in
                var records = facts["records"]?.arrayValue ?? []
                if !records.contains(.string(path)) { records.append(.string(path)) }
                facts["records"] = .array(records)
                return []
            }

        case .ended(let call):
            guard var stored = try db.call(call.id), stored.state == "active" else { return false }
            var operations: [(String, JSONValue)] = []
            if stored.facts["registered"]?.boolValue != true {
                // Nobody's phone rang (an IVR, a queue the caller left): the call still reaches the CRM.
                stored.facts["registered"] = true
                operations.append(("register", ["conversation": Self.conversation(call.json(format)), "party": .null]))
            }
            stored.facts["end"] = call.json(format)
            stored.facts["ringing"] = []
            stored.state = "ended"
            try self.save(&stored, in: db, written: &written)
            if stored.crm["skipped"] != nil { return false }
            operations.append(("finish", .object(JSONObject())))
            for (kind, payload) in operations { try self.enqueue(call.id, kind, payload, in: db, written: &written) }
            return true

        case .absorbed(let callID, let into):
            guard var stored = try db.call(callID), stored.state == "active" else { return false }
            stored.state = "absorbed"
            stored.facts["absorbed_into"] = .string(into)
            try self.save(&stored, in: db, written: &written)
            // What was not sent for it is not needed; a card it showed is closed.
            try db.cancelOpenOperations(callID: callID, reason: "the call became part of \(into)")
            written.operations[callID] = nil
            guard stored.crm["call_id"] != nil else { return false }
            try self.enqueue(callID, "close", in: db, written: &written)
            return true
        }
    }

    /// A call the database had as going on that the PBX no longer knows (its end fell in a gap of the journal):
    /// it ends now with what was known.
    static func endOrphan(_ stored: StoredCall, at time: Double, in db: Database, format: CallTimeFormat) throws {
        var stored = stored
        var end = stored.facts["start"] ?? .object(JSONObject())
        end["ended_at"] = .string(format.string(time))
        end["end_inferred"] = true
        end["state"] = 3
        end["state_code"] = "hung"
        stored.facts["end"] = end
        stored.state = "ended"
        try db.save(&stored)
        if stored.crm["skipped"] != nil { return }
        if stored.facts["registered"]?.boolValue != true {
            try db.enqueue(
                callID: stored.id, kind: "register", payload: ["conversation": Self.conversation(end), "party": .null])
        }
        try db.enqueue(callID: stored.id, kind: "finish")
    }

    /// Writes the call and keeps it as written.
    private static func save(_ call: inout StoredCall, in db: Database, written: inout Written) throws {
        try db.save(&call)
        written.calls[call.id] = call
    }

    /// Queues an operation and keeps it as written.
    private static func enqueue(
        _ callID: String, _ kind: String, _ payload: JSONValue = .object(JSONObject()), in db: Database,
        written: inout Written
    ) throws {
        let operation = try db.enqueue(callID: callID, kind: kind, payload: payload)
        if kind == "register" {
            written.operations[callID] = [operation]
        } else {
            written.operations[callID]?.append(operation)
        }
    }

    /// Changes an active call's facts; `change` returns the operations to queue (none once the call is skipped).
    /// Only the facts are written: the call stays active, and its CRM state is the deliverer's.
    private static func update(
        _ callID: String, in db: Database, written: inout Written,
        _ change: (inout JSONValue) -> [(String, JSONValue)]
    ) throws -> Bool {
        guard var stored = try db.call(callID), stored.state == "active" else { return false }
        let operations = change(&stored.facts)
        try db.saveFacts(&stored)
        written.calls[callID] = stored
        guard stored.crm["skipped"] == nil else { return false }
        for (kind, payload) in operations { try self.enqueue(callID, kind, payload, in: db, written: &written) }
        return !operations.isEmpty
    }

    static let conversationKeys = [
        "id", "channel_id", "parent_channel_id", "from", "to", "from_local", "to_local", "trunk", "type", "type_code",
        "started_at", "answered_at", "ended_at", "state", "state_code", "was_answered",
    ]

    /// The documented `conversation` fields of a call's JSON.
    static func conversation(_ call: JSONValue) -> JSONValue {
        var object = JSONObject()
        for key in self.conversationKeys { object[key] = call[key] ?? "" }
        return .object(object)
    }
}
