import Bitrix24
import Foundation
import GRDB
import Hooks
import JSON
import Store

extension OperationRunner {
    /// Ring (the Itgrix scheme): need_registration → process_phone_number → process_search_params → search →
    /// get_search_filter → (process_entity_creation_params → create) → process_registration_params → register.
    func register(_ op: OutboxOperation, _ call: StoredCall) async throws(Bitrix24Error) -> Outcome {
        if call.crm["call_id"] != nil { return .done(op.id, note: "already registered") }
        if let reason = call.crm["skipped"]?.stringValue { return .skipCall(reason) }
        let conversation = op.payload["conversation"] ?? .object(JSONObject())
        let party = op.payload["party"]?.stringValue
        let ended = call.facts["end"].map { !$0.isNull } ?? false
        let known = call.crm["entity"] ?? .null

        // The look-up part may have run already, from the ring itself, while the ring was being committed: the
        // registration goes on from where it ends (on its thread, if it had one of its own).
        // (Its hooks saw the call ringing; one that is over by now is registered without a card.)
        if let headStart = self.headStart.claim(call.id, conversation: conversation, party: party), known.isNull {
            let outcome = try await headStart.then { lookup throws(Bitrix24Error) in
                try await self.register(op, call, lookup, conversation: conversation, endedSinceRing: ended)
            }
            // The ring's card: how long it took from the ring (a call over by now is registered without one).
            if case .done = outcome, !ended {
                self.observe(.registeredAfterRing(callID: call.id, seconds: RingHeadStart.now() - headStart.rangAt))
            }
            return outcome
        }
        let lookup = try await self.lookUp(
            conversation: conversation, party: party, ended: ended, known: known, callID: call.id)
        return try await self.register(op, call, lookup, conversation: conversation, endedSinceRing: false)
    }

    /// The registration once the look-up is done: the entity, process_registration_params, `register`.
    private func register(
        _ op: OutboxOperation, _ call: StoredCall, _ lookup: RingLookup, conversation: JSONValue, endedSinceRing: Bool
    ) async throws(Bitrix24Error) -> Outcome {
        let ended = call.facts["end"].map { !$0.isNull } ?? false
        let found: RingLookup.Found
        switch lookup {
        case .skip(let reason):
            return .skipCall(reason)
        case .clickToCall(let originate, let phone, let userID):
            // The portal registered this call when the user clicked the number (ONEXTERNALCALLSTART).
            let portalCallID = originate.portalCallID
            return .done(op.id, note: "click-to-call \(portalCallID)") { db in
                try db.updateCRM(callID: call.id) { crm in
                    crm["call_id"] = .string(portalCallID)
                    crm["user_id"] = .integer(Int64(userID))
                    crm["phone"] = .string(phone)
                    crm["shown"] = [.integer(Int64(userID))]
                    crm["click_to_call"] = true
                }
            }
        case .found(let result):
            found = result
        }
        let tried = self.mayHaveBeenTried(op)
        let prepared: PreparedRegistration
        if let ahead = found.prepared, !tried, !endedSinceRing {
            prepared = ahead
        } else {
            prepared = try await self.prepareRegistration(
                found, callID: call.id, conversation: conversation, showOff: endedSinceRing, tried: tried)
        }
        var params = prepared.params
        var entity = prepared.entity
        let creation = prepared.creation
        let phone = found.phone
        let phoneForSearch = found.phoneForSearch
        let userID = found.userID
        if let refusal = prepared.refusal {
            // The entity was asked for all the same (process_entity_creation_params did not cancel it).
            if let creation { _ = try await self.create(creation, call: call) }
            return .skipCall(refusal)
        }

        let result: JSONValue
        if let creation {
            (entity, result) = try await self.createAndRegister(creation, params, call: call)
            params["CRM_ENTITY_ID"] = params["CRM_ENTITY_ID"] ?? entity["id"]
        } else {
            result = try await self.crm("telephony.externalcall.register", .object(params), call.id)
        }
        guard let portalCallID = result["CALL_ID"]?.stringValue else {
            throw Bitrix24Error(code: "ERROR_UNEXPECTED_ANSWER", message: "register gave no CALL_ID", status: 200)
        }
        // The registration may have created the client: a search asked ahead before it no longer says who it is.
        self.searchesAhead.forget(phone: phoneForSearch)
        if entity.isNull, let type = result["CRM_ENTITY_TYPE"]?.stringValue, !type.isEmpty,
            let id = result["CRM_ENTITY_ID"]?.scalarText.flatMap({ Int64($0) })
        {
            // The portal found or created the entity itself (CRM_CREATE, or a script's own search rules).
            entity = [
                "type": .string(type), "id": .integer(id), "assigned_by_id": .null,
                "created": .bool(result["CRM_CREATED_LEAD"].map { !$0.isNull } ?? false),
            ]
        }
        let registeredUser = params["USER_ID"]?.scalarText.flatMap { Int64($0) } ?? Int64(userID)
        let shown = PortalFlag.isOn(params["SHOW"] ?? 1) ? [JSONValue.integer(registeredUser)] : []
        // A known client's responsible sees the card too (the seed's scenario 3).
        var responsibleUser: Int64?
        if self.settings.cardToResponsible, !ended, entity["created"]?.boolValue == false,
            let assigned = entity["assigned_by_id"]?.integerValue, assigned != registeredUser,
            await self.users.user(id: Int(assigned))?.active == true
        {
            responsibleUser = assigned
        }
        let responsible = responsibleUser
        let finalEntity = entity
        let sent = params
        return .done(op.id, note: portalCallID) { db in
            try db.updateCRM(callID: call.id) { crm in
                crm["call_id"] = .string(portalCallID)
                crm["user_id"] = .integer(registeredUser)
                crm["phone"] = .string(phone)
                crm["entity"] = finalEntity
                crm["shown"] = .array(shown)
                crm["register_params"] = .object(sent)
            }
            if let responsible {
                try db.enqueue(callID: call.id, kind: "show", payload: ["user_id": .integer(responsible)])
            }
        }
    }

    /// A ring's look-up run ahead of its commit (`RingHeadStart`), with the registration prepared as well: all of
    /// it only runs hooks and reads, so when the ring is committed the request can go at once.
    func lookUpAhead(conversation: JSONValue, party: String, callID: String) async throws(Bitrix24Error)
        -> RingLookup
    {
        let lookup = try await self.lookUp(
            conversation: conversation, party: party, ended: false, known: .null, callID: callID)
        guard case .found(var found) = lookup else { return lookup }
        found.prepared = try await self.prepareRegistration(
            found, callID: callID, conversation: conversation, showOff: false, tried: false)
        return .found(found)
    }

    /// The registration as the hooks shape it, before anything is sent or written.
    struct PreparedRegistration: Sendable {
        /// The client's entity, found (or made by a registration tried before), or null.
        var entity: JSONValue
        /// The entity to create with the registration.
        var creation: EntityCreation?
        /// `register`'s parameters, as process_registration_params left them.
        var params: JSONObject
        /// Why process_registration_params refused the registration, if it did.
        var refusal: String?
    }

    /// The entity (process_entity_creation_params) and the parameters (process_registration_params) of the
    /// registration the look-up `found` leads to. `showOff`: the call ended since the look-up ran. `tried`: the
    /// registration may have been tried before, so an entity it would create is looked for first (the only request
    /// this makes); otherwise this only runs hooks, and can run ahead of the ring's commit (`RingHeadStart`).
    func prepareRegistration(
        _ found: RingLookup.Found, callID: String, conversation: JSONValue, showOff: Bool, tried: Bool
    ) async throws(Bitrix24Error) -> PreparedRegistration {
        var params = found.params
        if showOff { params["SHOW"] = 0 }
        var entity = found.entity

        // An unknown number: Callhook creates the entity itself, so process_entity_creation_params shapes it.
        var creation: EntityCreation?
        let createWanted = PortalFlag.isOn(params["CRM_CREATE"])
        if entity.isNull, createWanted, self.settings.createEntities {
            switch try await self.prepareEntity(
                callID: callID, phone: found.phoneForSearch, userID: found.userID, source: params["CRM_SOURCE"],
                conversation: conversation, tried: tried)
            {
            case .existing(let made): entity = made
            case .create(let wanted): creation = wanted
            case .cancelled: break
            }
        }
        if let type = entity["type"]?.stringValue, let id = entity["id"]?.integerValue {
            params["CRM_ENTITY_TYPE"] = .string(type)
            params["CRM_ENTITY_ID"] = .integer(id)
            params["CRM_CREATE"] = 0
        } else if let creation {
            // Its id is not known yet: the entity and the registration go in one request (see `createAndRegister`).
            params["CRM_ENTITY_TYPE"] = .string(creation.type.uppercased())
            params["CRM_CREATE"] = 0
        } else if entity.isNull, self.settings.createEntities, createWanted {
            // process_entity_creation_params cancelled the creation.
            params["CRM_CREATE"] = 0
        }
        params["EXTERNAL_CALL_ID"] = .string(callID)

        var registration = params
        registration["conversation"] = conversation
        var refusal: String?
        switch await self.hook(.processRegistrationParams, .object(registration), callID).decision {
        case .cancel: refusal = "process_registration_params cancelled the registration"
        case .ignore: refusal = "process_registration_params: action ignore"
        case .proceed(let data): if case .object(let changed) = data { params = changed }
        case .delete, .skip: break
        }
        return PreparedRegistration(entity: entity, creation: creation, params: params, refusal: refusal)
    }

    /// The look-up part of the registration: who the call is for, the client's number, and the client's entity.
    /// It only reads (hooks, users, the search), except for claiming a click-to-call, so it can run ahead of the
    /// operation (`RingHeadStart`) and be used by it.
    func lookUp(conversation: JSONValue, party: String?, ended: Bool, known: JSONValue, callID: String)
        async throws(Bitrix24Error) -> RingLookup
    {
        let plan: SearchPlan
        switch await self.planSearch(conversation: conversation, party: party, ended: ended, callID: callID) {
        case .decided(let lookup): return lookup
        case .search(let planned): plan = planned
        }
        var entity = known
        if entity.isNull, plan.wanted {
            var found = try await self.search(phone: plan.phoneForSearch, filter: plan.filter, callID)
            let choice = await self.hook(
                .getSearchFilter,
                [
                    "PHONE_NUMBER": .string(plan.phoneForSearch), "entities": .array(found),
                    "conversation": conversation,
                ],
                callID)
            if case .proceed(let data) = choice.decision, let entities = data["entities"]?.arrayValue {
                found = entities
            }
            if let first = found.first, let type = first["CRM_ENTITY_TYPE"]?.stringValue,
                let id = first["CRM_ENTITY_ID"]?.scalarText.flatMap({ Int64($0) })
            {
                entity = [
                    "type": .string(type.uppercased()), "id": .integer(id),
                    "assigned_by_id": first["ASSIGNED_BY_ID"]?.scalarText.flatMap { Int64($0) }.map(JSONValue.integer)
                        ?? .null,
                    "created": false,
                ]
            }
        }
        return .found(
            .init(
                phone: plan.phone, userID: plan.userID, params: plan.params, phoneForSearch: plan.phoneForSearch,
                entity: entity))
    }

    /// An incoming call arrived on the trunk and no phone rings yet: the search its registration will need, as
    /// the hooks before it shape it for the call as it is now, starts ahead (`SearchAhead`). The ring's look-up
    /// runs those hooks again on the ringing call and uses the answer only if it asks exactly the same.
    func searchAhead(conversation: JSONValue, callID: String) async {
        // A call whose phone rings already (the PBX sent the ring with the arrival) is looked up by its ring. A
        // call from an office phone never comes here: its look-up would claim a click-to-call (a write).
        guard conversation["from_local"]?.boolValue != true, !self.searchesAhead.rings(callID),
            case .search(let plan) = await self.planSearch(
                conversation: conversation, party: nil, ended: false, callID: callID),
            plan.wanted
        else { return }
        for request in Self.searchRequests(phone: plan.phoneForSearch, filter: plan.filter) {
            self.searchesAhead.start(
                request.method, request.params, phone: plan.phoneForSearch, callID: callID
            ) {
                try? await self.crmIfIdle(request.method, request.params, callID)
            }
        }
    }

    /// The registration's search as the hooks before it shape it.
    struct SearchPlan: Sendable {
        var phone: String
        var userID: Int
        var params: JSONObject
        var phoneForSearch: String
        var filter: JSONValue?
        /// process_search_params did not cancel the search.
        var wanted: Bool
    }

    enum Planned: Sendable {
        /// The look-up ends before the search (a hook left the call out; a click-to-call).
        case decided(RingLookup)
        case search(SearchPlan)
    }

    /// The look-up up to the search: need_registration, process_phone_number, whose card, process_search_params.
    private func planSearch(conversation: JSONValue, party: String?, ended: Bool, callID: String) async -> Planned {
        // Black and white lists.
        if case .skip = await self.hook(.needRegistration, ["conversation": conversation], callID).decision {
            return .decided(.skip("need_registration returned false"))
        }

        // The client's number, as the CRM should see it.
        let fromLocal = conversation["from_local"]?.boolValue ?? false
        let client = (fromLocal ? conversation["to"] : conversation["from"])?.scalarText ?? ""
        let phone = await self.normalise(client, callID)

        // Whose card: a click-to-call's user; the phone that rang; the caller's phone; the line's default user.
        let trunk = conversation["trunk"]?.stringValue ?? ""
        var originate: PendingOriginate?
        if fromLocal, let from = conversation["from"]?.stringValue {
            originate = try? await self.database.write { db in
                try db.claimOriginate(
                    extension: from, phoneDigits: client.filter(\.isNumber), since: unixNow() - 300, callID: callID)
            }
        }
        var user = await self.users.user(extension: party)
        if user == nil, fromLocal { user = await self.users.user(extension: conversation["from"]?.stringValue) }
        if let originate { user = await self.users.user(id: originate.userID) ?? user }
        let userID = originate?.userID ?? user?.id ?? self.defaultUser(trunk: trunk)
        if let originate { return .decided(.clickToCall(originate, phone: phone, userID: userID)) }
        let line = self.settings.line(trunk)

        var params: JSONObject = [
            "USER_ID": .integer(Int64(userID)), "PHONE_NUMBER": .string(phone), "TYPE": .integer(fromLocal ? 1 : 2),
            "CALL_START_DATE": conversation["started_at"] ?? "",
            "CRM_CREATE": .integer(self.settings.createEntities ? 1 : 0),
            "CRM_SOURCE": .string(line.crmSource ?? self.settings.crmSource), "SHOW": .integer(ended ? 0 : 1),
        ]
        let lineNumber = line.lineNumber ?? trunk
        if !lineNumber.isEmpty { params["LINE_NUMBER"] = .string(lineNumber) }

        // Search: process_search_params may change the parameters, ignore the call, or give filters.
        var searchInput = params
        searchInput["conversation"] = conversation
        searchInput["user"] = Self.userJSON(user)
        let search = await self.hook(.processSearchParams, .object(searchInput), callID)
        var searchWanted = true
        switch search.decision {
        case .ignore: return .decided(.skip("process_search_params: action ignore"))
        case .cancel: searchWanted = false
        case .proceed(let data): if case .object(let changed) = data { params = changed }
        case .delete, .skip: break
        }
        return .search(
            SearchPlan(
                phone: phone, userID: userID, params: params,
                phoneForSearch: params["PHONE_NUMBER"]?.scalarText ?? phone, filter: search.output.filter,
                wanted: searchWanted))
    }

    /// The number as process_phone_number makes it (the number itself when the hook gives nothing).
    func normalise(_ phone: String, _ callID: String) async -> String {
        if case .proceed(let data) = await self.hook(.processPhoneNumber, ["phone": .string(phone)], callID).decision,
            let normalised = data["phone"]?.scalarText, !normalised.isEmpty
        {
            return normalised
        }
        return phone
    }

    /// Finds the client: by the number (telephony.externalcall.searchCrmEntities), or by the script's filters
    /// (crm.<type>.list for each of lead, contact, company it gave).
    func search(phone: String, filter: JSONValue?, _ callID: String) async throws(Bitrix24Error) -> [JSONValue] {
        var found: [JSONValue] = []
        for request in Self.searchRequests(phone: phone, filter: filter) {
            // Asked ahead, when the call arrived (`searchAhead`)? Otherwise now.
            let answer: JSONValue
            if let ahead = await self.searchesAhead.take(request.method, request.params) {
                answer = ahead
            } else {
                answer = try await self.crm(request.method, request.params, callID)
            }
            found += request.entities(in: answer)
        }
        return found
    }

    /// One request of a client search.
    struct SearchRequest: Sendable {
        var method: String
        var params: JSONValue
        /// The entity type a `crm.<type>.list` lists; nil for searchCrmEntities.
        var listed: String?

        /// The entities found, in searchCrmEntities' shape.
        func entities(in answer: JSONValue) -> [JSONValue] {
            guard let type = self.listed else { return answer.arrayValue ?? [] }
            return (answer.arrayValue ?? []).map { item in
                [
                    "CRM_ENTITY_TYPE": .string(type.uppercased()), "CRM_ENTITY_ID": item["ID"] ?? .null,
                    "ASSIGNED_BY_ID": item["ASSIGNED_BY_ID"] ?? .null,
                    "NAME": item["TITLE"] ?? item["NAME"] ?? "",
                ]
            }
        }
    }

    /// The requests of a search by `phone`, or by the script's `filter`.
    static func searchRequests(phone: String, filter: JSONValue?) -> [SearchRequest] {
        guard case .object(let filters)? = filter, !filters.isEmpty else {
            guard !phone.isEmpty else { return [] }
            return [
                SearchRequest(
                    method: "telephony.externalcall.searchCrmEntities", params: ["PHONE_NUMBER": .string(phone)])
            ]
        }
        return ["contact", "company", "lead"].compactMap { type in
            guard case .object(let conditions)? = filters[type], !conditions.isEmpty else { return nil }
            return SearchRequest(
                method: "crm.\(type).list",
                params: [
                    "filter": .object(conditions), "select": ["ID", "ASSIGNED_BY_ID", "TITLE", "NAME", "LAST_NAME"],
                ],
                listed: type)
        }
    }

    /// An entity Callhook is to create for an unknown number: its type and fields as
    /// process_entity_creation_params left them, with the call's id in `ORIGINATOR_ID`/`ORIGIN_ID`.
    struct EntityCreation: Sendable {
        var type: String
        var fields: JSONObject
    }

    enum EntityPreparation: Sendable {
        /// A registration tried before (a crash, a lost answer, a retry) made it already.
        case existing(JSONValue)
        case create(EntityCreation)
        /// process_entity_creation_params cancelled it.
        case cancelled
    }

    /// Shapes the entity for an unknown number through process_entity_creation_params. The entity carries the
    /// call's id (`ORIGINATOR_ID` callhook, `ORIGIN_ID` the call) so that a registration that may have been tried
    /// before (`tried`) finds it instead of creating a second one. Nothing is written: the entity is recorded with
    /// the registration.
    func prepareEntity(
        callID: String, phone: String, userID: Int, source: JSONValue?, conversation: JSONValue, tried: Bool
    ) async throws(Bitrix24Error) -> EntityPreparation {
        let incoming = !(conversation["from_local"]?.boolValue ?? false)
        let input: JSONValue = [
            "type": .string(self.settings.entityType), "ASSIGNED_BY_ID": .integer(Int64(userID)), "COMMENTS": "",
            "OPENED": "Y", "PHONE": [["VALUE": .string(phone), "VALUE_TYPE": "WORK"]],
            "SOURCE_ID": source ?? .string(self.settings.crmSource),
            "TITLE": .string("\(phone) - \(incoming ? "входящий" : "исходящий") звонок"), "conversation": conversation,
        ]
        guard case .proceed(let data) = await self.hook(.processEntityCreationParams, input, callID).decision,
            case .object(var fields) = data
        else {
            return .cancelled
        }
        var type = (fields.removeValue(forKey: "type")?.stringValue ?? self.settings.entityType).lowercased()
        if !["lead", "contact", "company"].contains(type) {
            self.logger.warning(
                "process_entity_creation_params asked for an entity type calls cannot be bound to; creating a lead",
                metadata: ["callID": "\(callID)", "entity.type": "\(type)"])
            type = "lead"
        }
        fields["ORIGINATOR_ID"] = "callhook"
        fields["ORIGIN_ID"] = .string(callID)
        let creation = EntityCreation(type: type, fields: fields)
        if tried {
            // A request may have created it already: look before creating again.
            let existing = try await self.crm(
                "crm.\(type).list",
                ["filter": ["ORIGINATOR_ID": "callhook", "ORIGIN_ID": .string(callID)], "select": ["ID"]],
                callID)
            if let id = existing[0]?["ID"]?.scalarText.flatMap({ Int64($0) }) {
                return .existing(creation.entity(id: id))
            }
        }
        return .create(creation)
    }

    /// Creates the entity in a request of its own (the registration was cancelled, or requests queue for the limiter).
    func create(_ creation: EntityCreation, call: StoredCall) async throws(Bitrix24Error) -> JSONValue {
        let created = try await self.crm("crm.\(creation.type).add", ["fields": .object(creation.fields)], call.id)
        guard let id = Self.createdID(created) else {
            throw Bitrix24Error(
                code: "ERROR_UNEXPECTED_ANSWER", message: "crm.\(creation.type).add gave no id", status: 200)
        }
        return creation.entity(id: id)
    }

    /// Creates the entity and registers the call bound to it. While the portal is idle both go in one `batch`
    /// request, the registration taking the new id through `$result[entity]` (b24-docs: batch): a new number then
    /// costs one round trip instead of two. `halt` keeps a failed creation from registering the call unbound.
    /// While requests queue for the limiter, the two go as two commands the queue can combine with others, since a
    /// batch of their own would take a slot for two commands. Either way, when the registration fails after the
    /// entity was made, the operation is retried as one that may have been tried, and finds the entity by its
    /// `ORIGIN_ID`.
    func createAndRegister(_ creation: EntityCreation, _ params: JSONObject, call: StoredCall)
        async throws(Bitrix24Error) -> (entity: JSONValue, registered: JSONValue)
    {
        let add = "crm.\(creation.type).add"
        let register = "telephony.externalcall.register"
        let addParams: JSONValue = ["fields": .object(creation.fields)]
        var registration = params
        let bindsToNew = registration["CRM_ENTITY_ID"] == nil
        if bindsToNew { registration["CRM_ENTITY_ID"] = "$result[entity]" }
        let joined: Bitrix24Client.BatchResult?
        do {
            joined = try await self.client.batchIfIdle(
                [
                    (key: "entity", method: add, params: addParams),
                    (key: "register", method: register, params: .object(registration)),
                ],
                halt: true)
        } catch {
            self.observe(.request(callID: call.id, method: add, params: addParams, outcome: .failure(error)))
            throw error
        }
        guard let joined else {
            let entity = try await self.create(creation, call: call)
            if bindsToNew { registration["CRM_ENTITY_ID"] = entity["id"] }
            return (entity, try await self.crm(register, .object(registration), call.id))
        }
        // Each command's answer, reported as if it had gone alone.
        func answer(_ key: String, _ method: String, _ params: JSONValue) throws(Bitrix24Error) -> JSONValue {
            let outcome: Result<JSONValue, Bitrix24Error> =
                if let error = joined.errors[key] {
                    .failure(error)
                } else if let value = joined.results[key] {
                    .success(value)
                } else {
                    .failure(
                        Bitrix24Error(
                            code: "ERROR_UNEXPECTED_ANSWER", message: "batch gave no answer to \(method)", status: 200))
                }
            self.observe(.request(callID: call.id, method: method, params: params, outcome: outcome))
            return try outcome.get()
        }
        guard let id = Self.createdID(try answer("entity", add, addParams)) else {
            throw Bitrix24Error(code: "ERROR_UNEXPECTED_ANSWER", message: "\(add) gave no id", status: 200)
        }
        if bindsToNew { registration["CRM_ENTITY_ID"] = .integer(id) }
        let registered = try answer("register", register, .object(registration))
        return (creation.entity(id: id), registered)
    }
}

extension OperationRunner {
    /// The id `crm.<type>.add` answers, a number or its text.
    static func createdID(_ result: JSONValue) -> Int64? {
        result.integerValue ?? result.scalarText.flatMap { Int64($0) }
    }
}

extension OperationRunner.EntityCreation {
    /// The entity as the call records it, once the portal gave its id.
    func entity(id: Int64) -> JSONValue {
        [
            "type": .string(self.type.uppercased()), "id": .integer(id),
            "assigned_by_id": self.fields["ASSIGNED_BY_ID"]?.scalarText.flatMap { Int64($0) }.map(JSONValue.integer)
                ?? .null,
            "created": true,
        ]
    }
}

/// Bitrix24's yes/no parameters: `1`, `"1"`, `"Y"`, `true`.
enum PortalFlag {
    static func isOn(_ value: JSONValue?) -> Bool {
        switch value {
        case .bool(let b)?: return b
        case .integer(let i)?: return i != 0
        case .double(let d)?: return d != 0
        case .string(let s)?: return ["1", "Y", "y", "true", "TRUE"].contains(s)
        default: return false
        }
    }
}
