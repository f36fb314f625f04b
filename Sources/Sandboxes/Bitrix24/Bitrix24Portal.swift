import Bitrix24
import Foundation
import JSON

/// The state and the methods of the local Bitrix24: what a portal does with each REST call Callhook makes, with the
/// documented parameters, results, errors and quirks (b24-rest-docs, `PROTOCOLS.md` §2). No I/O here: the HTTP
/// front (`Bitrix24Sandbox`) parses requests, checks credentials and applies the limits and knobs.
actor Bitrix24Portal {
    let configuration: Bitrix24SandboxConfiguration
    private(set) var users: [SandboxUser]
    private var entities: [EntityKind: [Int: JSONObject]] = [:]
    /// Phone key → the entities with that number, kept with `entities` by `store`: a portal finds a number
    /// through an index, so the local one does too (a scan made its searches grow with every lead created).
    private var phoneIndex: [String: Set<EntityRef>] = [:]

    struct EntityRef: Hashable {
        var kind: EntityKind
        var id: Int
    }
    private var nextEntityID: [EntityKind: Int] = [.lead: 3465, .contact: 1001, .company: 101, .deal: 501]
    private var activities: [Int: JSONObject] = [:]
    private var nextActivityID = 7943
    private(set) var calls: [ExternalCallRecord] = []
    private var callIndex: [String: Int] = [:]
    /// The latest registration of each (phone, type, user, line, external id), for the 30-minute rule.
    private var registrations: [String: Int] = [:]
    private var tasks: [JSONObject] = []
    private var nextTaskID = 3711
    private var workflows: [JSONObject] = []
    private(set) var handlers: [JSONObject] = []
    private var lines: [JSONObject] = []
    private var nextFileID = 9079
    /// Upload tokens of the two-step attachRecord: token → (call, file name).
    private var uploads: [String: (callID: String, fileName: String)] = [:]

    init(configuration: Bitrix24SandboxConfiguration) {
        self.configuration = configuration
        self.users = configuration.users
        for kind in EntityKind.allCases { self.entities[kind] = [:] }
        for client in configuration.clients {
            let kind: EntityKind =
                switch client.kind {
                case .contact: .contact
                case .company: .company
                case .lead: .lead
                }
            var fields: JSONObject = [
                "ID": .string(String(client.id)), "ASSIGNED_BY_ID": .string(String(client.assignedTo)),
                "PHONE": [
                    [
                        "ID": .string(String(client.id * 10)), "VALUE": .string(client.phone), "VALUE_TYPE": "WORK",
                        "TYPE_ID": "PHONE",
                    ]
                ],
                "DATE_CREATE": .string(PortalValue.date(PortalValue.now() - 86_400 * 30)), "OPENED": "Y",
            ]
            if kind == .contact {
                let parts = client.name.split(separator: " ", maxSplits: 1)
                fields["NAME"] = .string(String(parts.first ?? ""))
                fields["LAST_NAME"] = .string(parts.count > 1 ? String(parts[1]) : "")
            } else {
                fields["TITLE"] = .string(client.name)
            }
            self.entities[kind]![client.id] = fields
            for key in Self.phones(fields) {
                self.phoneIndex[key, default: []].insert(EntityRef(kind: kind, id: client.id))
            }
            self.nextEntityID[kind] = max(self.nextEntityID[kind]!, client.id + 1)
        }
    }

    // MARK: - Dispatch

    /// Runs one REST method. `method` is lower-cased, without `.json`.
    /// Carries out one method. `blocked` is a method the operating-time limit holds until a time (Unix): a batch
    /// refuses its commands for that method as the portal refuses the method itself.
    func call(
        _ method: String, _ params: JSONValue, caller: PortalCaller, blocked: (method: String, until: Double)? = nil
    ) -> PortalAnswer {
        switch method {
        case "telephony.externalcall.register": return self.register(params, caller: caller)
        case "telephony.externalcall.show": return self.showHide(params, show: true)
        case "telephony.externalcall.hide": return self.showHide(params, show: false)
        case "telephony.externalcall.finish": return self.finish(params)
        case "telephony.externalcall.attachrecord": return self.attachRecord(params)
        case "telephony.externalcall.searchcrmentities": return self.searchCrmEntities(params)
        case "telephony.externalline.add": return self.addLine(params)
        case "telephony.externalline.get": return .init(body: ["result": .array(self.lines.map(JSONValue.object))])
        case "user.get": return self.userGet(params)
        case "user.current": return self.userCurrent(caller)
        case "crm.duplicate.findbycomm": return self.findByComm(params)
        case "tasks.task.add": return self.addTask(params, caller: caller)
        case "tasks.task.list": return self.listTasks(params)
        case "bizproc.workflow.start": return self.startWorkflow(params)
        case "event.bind": return self.bindEvent(params)
        case "event.get": return .init(body: ["result": .array(self.handlers.map(JSONValue.object))])
        case "event.unbind": return self.unbindEvent(params)
        case "batch": return self.batch(params, caller: caller, blocked: blocked)
        default: break
        }
        let parts = method.split(separator: ".")
        if parts.count == 3, parts[0] == "crm" {
            if parts[1] == "activity" { return self.activityMethod(String(parts[2]), params, caller: caller) }
            if let kind = EntityKind(methodNoun: parts[1]) {
                return self.entityMethod(kind, String(parts[2]), params, caller: caller)
            }
        }
        return .error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    }

    // MARK: - Telephony

    private func activeUser(_ params: JSONValue) -> (SandboxUser?, PortalAnswer?) {
        let id = PortalValue.int(params["USER_ID"])
        let inner = PortalValue.string(params["USER_PHONE_INNER"]).flatMap { $0.isEmpty ? nil : $0 }
        guard id != nil || inner != nil else { return (nil, .core("USER_ID or USER_PHONE_INNER should be set")) }
        let user = self.users.first { user in
            if let id { return user.id == id }
            return user.innerPhone == inner
        }
        guard let user, user.active else { return (nil, .core("User is not found or is not active")) }
        return (user, nil)
    }

    private func register(_ params: JSONValue, caller: PortalCaller) -> PortalAnswer {
        let (found, failure) = self.activeUser(params)
        if let failure { return failure }
        let user = found!
        guard let type = PortalValue.int(params["TYPE"]), (1...5).contains(type) else { return .core("Unknown TYPE") }
        let phone = PortalValue.string(params["PHONE_NUMBER"]) ?? ""
        guard PortalValue.isPhoneNumber(phone) else { return .core("Unsupported phone number format") }
        let now = PortalValue.now()
        var startedAt = now
        if let start = PortalValue.string(params["CALL_START_DATE"]), !start.isEmpty {
            guard let parsed = PortalValue.parseDate(start) else {
                return .core("CALL_START_DATE should be in the ISO-8601 format")
            }
            startedAt = parsed
        }
        let line = PortalValue.string(params["LINE_NUMBER"]) ?? ""
        let externalID = PortalValue.string(params["EXTERNAL_CALL_ID"]) ?? ""
        // A repeated registration of the same call within 30 minutes gives back the existing CALL_ID.
        let registration = "\(phone)\u{1}\(type)\u{1}\(user.id)\u{1}\(line)\u{1}\(externalID)"
        if let index = self.registrations[registration], now - self.calls[index].registeredAt < 1800 {
            return .init(body: ["result": self.registerResult(self.calls[index], created: [])])
        }
        var record = ExternalCallRecord(
            callID: "externalCall.\(Self.hex(32)).\(Int(now))", params: params.objectValue ?? JSONObject(),
            userID: user.id, phone: phone, type: type, line: line, externalID: externalID, registeredAt: now,
            startedAt: startedAt)
        record.params["auth"] = nil
        var created: [JSONValue] = []
        if let kindName = PortalValue.string(params["CRM_ENTITY_TYPE"]),
            let kind = EntityKind(rawValue: kindName.uppercased()),
            let id = PortalValue.int(params["CRM_ENTITY_ID"]), self.entities[kind]?[id] != nil
        {
            record.entity = (kind, id)
        } else if let match = self.search(phone: phone).first {
            record.entity = match
        } else if PortalValue.flag(params["CRM_CREATE"], default: false) {
            let incoming = type != 1
            let id = self.createEntity(
                .lead,
                [
                    "TITLE": .string("\(phone) - \(incoming ? "входящий" : "исходящий") звонок"),
                    "SOURCE_ID": .string(PortalValue.string(params["CRM_SOURCE"]) ?? "CALL"),
                    "ASSIGNED_BY_ID": .string(String(user.id)), "OPENED": "Y", "STATUS_ID": "NEW",
                    "PHONE": [["VALUE": .string(phone), "VALUE_TYPE": "WORK"]],
                ], by: caller.userID)
            record.entity = (.lead, id)
            record.createdLead = id
            created.append(["ENTITY_TYPE": "LEAD", "ENTITY_ID": .integer(Int64(id))])
        }
        if PortalValue.flag(params["SHOW"], default: true) { record.shownTo.append(user.id) }
        self.callIndex[record.callID] = self.calls.count
        self.registrations[registration] = self.calls.count
        self.calls.append(record)
        return .init(body: ["result": self.registerResult(record, created: created)])
    }

    private func registerResult(_ call: ExternalCallRecord, created: [JSONValue]) -> JSONValue {
        [
            "CALL_ID": .string(call.callID),
            "CRM_CREATED_LEAD": call.createdLead.map { .integer(Int64($0)) } ?? .null,
            "CRM_CREATED_ENTITIES": .array(created),
            "CRM_ENTITY_TYPE": call.entity.map { .string($0.kind.rawValue) } ?? "",
            "CRM_ENTITY_ID": call.entity.map { .integer(Int64($0.id)) } ?? .null,
        ]
    }

    private func showHide(_ params: JSONValue, show: Bool) -> PortalAnswer {
        guard let callID = PortalValue.string(params["CALL_ID"]), !callID.isEmpty else {
            return .error(400, "INVALID_ARGUMENT", "CALL_ID must be a string")
        }
        guard let index = self.callIndex[callID], self.calls[index].finish == nil else {
            return .init(body: ["result": false])
        }
        let ids = PortalValue.ints(params["USER_ID"])
        if show {
            self.calls[index].shownTo.append(contentsOf: ids)
        } else {
            self.calls[index].hiddenFrom.append(contentsOf: ids)
        }
        return .init(body: ["result": true])
    }

    private func finish(_ params: JSONValue) -> PortalAnswer {
        guard case .string(let callID)? = params["CALL_ID"] else {
            return .error(400, "INVALID_ARGUMENT", "CALL_ID must be a string")
        }
        let (found, failure) = self.activeUser(params)
        if let failure { return failure }
        let user = found!
        guard let index = self.callIndex[callID], self.calls[index].finish == nil else {
            return .core("Call is not found (call should be registered prior to finishing")
        }
        var call = self.calls[index]
        let duration = PortalValue.int(params["DURATION"]) ?? 0
        let status =
            PortalValue.string(params["STATUS_CODE"]).flatMap { $0.isEmpty ? nil : $0 }
            ?? (duration > 0 ? "200" : "304")
        var finish = params.objectValue ?? JSONObject()
        finish["auth"] = nil
        call.finish = finish
        // Entities created in this call become the finishing user's.
        if let lead = call.createdLead { self.entities[.lead]![lead]?["ASSIGNED_BY_ID"] = .string(String(user.id)) }
        var activityID: JSONValue = .null
        if let entity = call.entity {
            let incoming = call.type != 1
            let missed = incoming && status != "200"
            let id = self.nextActivityID
            self.nextActivityID += 1
            let subject =
                missed ? "Пропущенный звонок" : (incoming ? "Входящий звонок" : "Исходящий звонок")
            self.activities[id] = [
                "ID": .string(String(id)), "OWNER_TYPE_ID": .string(String(entity.kind.ownerTypeID)),
                "OWNER_ID": .string(String(entity.id)), "TYPE_ID": "2", "PROVIDER_ID": "VOXIMPLANT_CALL",
                "PROVIDER_TYPE_ID": "CALL", "DIRECTION": .string(incoming ? "1" : "2"),
                "SUBJECT": .string("\(subject) \(call.phone)"), "RESPONSIBLE_ID": .string(String(user.id)),
                "COMPLETED": .string(missed ? "N" : "Y"), "START_TIME": .string(PortalValue.date(call.startedAt)),
                "END_TIME": .string(PortalValue.date(call.startedAt + Double(duration))), "DESCRIPTION": "",
                "ORIGIN_ID": .string("VI_\(call.callID)"), "CALL_FAILED_CODE": .string(status),
                "COMMUNICATIONS": [["VALUE": .string(call.phone), "TYPE": "PHONE"]],
            ]
            activityID = .integer(Int64(id))
        }
        let result: JSONObject = [
            "CALL_ID": .string(call.callID),
            "EXTERNAL_CALL_ID": call.externalID.isEmpty ? .null : .string(call.externalID),
            "PORTAL_USER_ID": .integer(Int64(user.id)), "PHONE_NUMBER": .string(call.phone),
            "PORTAL_NUMBER": .string(call.line), "INCOMING": .string(String(call.type)),
            "CALL_DURATION": .integer(Int64(duration)), "CALL_START_DATE": .object(JSONObject()),
            "CALL_STATUS": .integer(status == "200" ? 1 : 0), "CALL_VOTE": params["VOTE"] ?? .null,
            "COST": params["COST"] ?? .integer(0), "COST_CURRENCY": params["COST_CURRENCY"] ?? "",
            "CALL_FAILED_CODE": .string(status), "CALL_FAILED_REASON": params["FAILED_REASON"] ?? "",
            "REST_APP_ID": "3", "REST_APP_NAME": "Callhook sandbox", "CRM_ACTIVITY_ID": activityID, "COMMENT": .null,
            "CRM_ENTITY_TYPE": call.entity.map { .string($0.kind.rawValue) } ?? .null,
            "CRM_ENTITY_ID": call.entity.map { .integer(Int64($0.id)) } ?? .null, "ID": .integer(Int64(index + 1)),
        ]
        call.finishResult = result
        self.calls[index] = call
        return .init(body: ["result": .object(result)])
    }

    private func attachRecord(_ params: JSONValue) -> PortalAnswer {
        guard let callID = PortalValue.string(params["CALL_ID"]), !callID.isEmpty else {
            return .error(400, "INVALID_ARGUMENT", "CALL_ID must be a string")
        }
        guard let index = self.callIndex[callID], self.calls[index].finish != nil else {
            return .core("Call is not found in the statistic table. Looks like it is not finished yet.")
        }
        let url = PortalValue.string(params["RECORD_URL"]) ?? ""
        let fileName = PortalValue.string(params["FILENAME"])
        if fileName == nil, url.isEmpty {
            return .core("Required parameters are not set. Request should contain or URL or FILENAME parameter")
        }
        if !url.isEmpty, fileName == nil {
            self.calls[index].record = ["RECORD_URL": .string(url)]
            return .init(body: ["result": ["FILE_ID": .null]])
        }
        let name = fileName ?? ""
        guard !name.isEmpty else { return .core("File name is empty") }
        let lowered = name.lowercased()
        guard lowered.hasSuffix(".wav") || lowered.hasSuffix(".mp3") else {
            return .core("Wrong file extension. Only wav and mp3 are allowed")
        }
        guard let content = params["FILE_CONTENT"] else {
            let token = Self.hex(24)
            self.uploads[token] = (callID, name)
            return .init(body: [
                "result": [
                    "uploadUrl": .string("/rest/upload.json?token=\(token)"), "fieldName": "file",
                ]
            ])
        }
        guard let text = content.stringValue, !text.isEmpty else { return .core("File content is empty.") }
        guard let bytes = Data(base64Encoded: text) else {
            return .core("File content is not properly encoded. Base64 encoding is expected.")
        }
        return self.storeRecord(index: index, fileName: name, bytes: [UInt8](bytes), via: "FILE_CONTENT")
    }

    /// The second step of the two-step upload: the file POSTed to the upload URL.
    func upload(token: String, fileName: String?, bytes: [UInt8]) -> PortalAnswer {
        guard let pending = self.uploads.removeValue(forKey: token), let index = self.callIndex[pending.callID] else {
            return .error(401, "NO_AUTH_FOUND", "Wrong authorization data")
        }
        guard !bytes.isEmpty else { return .core("File content is empty.") }
        return self.storeRecord(index: index, fileName: pending.fileName, bytes: bytes, via: "upload")
    }

    private func storeRecord(index: Int, fileName: String, bytes: [UInt8], via: String) -> PortalAnswer {
        let id = self.nextFileID
        self.nextFileID += 1
        let header = String(decoding: bytes.prefix(4), as: UTF8.self)
        self.calls[index].record = [
            "FILE_ID": .integer(Int64(id)), "FILENAME": .string(fileName), "size": .integer(Int64(bytes.count)),
            "via": .string(via), "riff": .bool(header == "RIFF"),
        ]
        return .init(body: ["result": ["FILE_ID": .integer(Int64(id))]])
    }

    private func searchCrmEntities(_ params: JSONValue) -> PortalAnswer {
        let phone = PortalValue.string(params["PHONE_NUMBER"]) ?? ""
        guard !phone.isEmpty else { return .core("PHONE_NUMBER is empty") }
        let found: [JSONValue] = self.search(phone: phone).map { match in
            let fields = self.entities[match.kind]![match.id]!
            let assigned = PortalValue.int(fields["ASSIGNED_BY_ID"]) ?? 0
            let user = self.users.first { $0.id == assigned }
            return [
                "CRM_ENTITY_TYPE": .string(match.kind.rawValue), "CRM_ENTITY_ID": .integer(Int64(match.id)),
                "ASSIGNED_BY_ID": .integer(Int64(assigned)), "NAME": .string(match.kind.displayName(fields)),
                "ASSIGNED_BY": [
                    "ID": .string(String(assigned)), "TIMEMAN_STATUS": "OPENED",
                    "USER_PHONE_INNER": user?.innerPhone.map(JSONValue.string) ?? .null, "WORK_PHONE": .null,
                    "PERSONAL_PHONE": .null, "PERSONAL_MOBILE": .null,
                ],
            ]
        }
        return .init(body: ["result": .array(found)])
    }

    /// Contacts, then companies, then leads whose phone is this number.
    private func search(phone: String) -> [(kind: EntityKind, id: Int)] {
        let key = PortalValue.phoneKey(phone)
        guard !key.isEmpty else { return [] }
        var found: [(EntityKind, Int)] = []
        for kind in [EntityKind.contact, .company, .lead] {
            for id in self.ids(of: kind, phoneKey: key) { found.append((kind, id)) }
        }
        return found
    }

    /// Writes (or with nil removes) an entity, keeping the phone index in step.
    private func store(_ kind: EntityKind, _ id: Int, _ fields: JSONObject?) {
        let ref = EntityRef(kind: kind, id: id)
        if let old = self.entities[kind]![id] {
            for key in Self.phones(old) { self.phoneIndex[key]?.remove(ref) }
        }
        self.entities[kind]![id] = fields
        if let fields {
            for key in Self.phones(fields) where !key.isEmpty { self.phoneIndex[key, default: []].insert(ref) }
        }
    }

    /// The entities of `kind` with this phone key, by id.
    private func ids(of kind: EntityKind, phoneKey key: String) -> [Int] {
        (self.phoneIndex[key] ?? []).filter { $0.kind == kind }.map(\.id).sorted()
    }

    private static func phones(_ fields: JSONObject) -> [String] {
        (fields["PHONE"]?.arrayValue ?? []).compactMap { $0["VALUE"]?.scalarText }.map(PortalValue.phoneKey)
    }

    private func addLine(_ params: JSONValue) -> PortalAnswer {
        guard let number = PortalValue.string(params["NUMBER"]), !number.isEmpty else {
            return .core("NUMBER is empty")
        }
        self.lines.removeAll { $0["NUMBER"]?.scalarText == number }
        self.lines.append([
            "NUMBER": .string(number), "NAME": .string(PortalValue.string(params["NAME"]) ?? number),
            "CRM_AUTO_CREATE": .string(PortalValue.flag(params["CRM_AUTO_CREATE"], default: true) ? "Y" : "N"),
        ])
        return .init(body: ["result": ["ID": .integer(Int64(self.lines.count))]])
    }

    // MARK: - Users

    private func userGet(_ params: JSONValue) -> PortalAnswer {
        let filter = PortalValue.member(params, "FILTER", "filter")?.objectValue ?? JSONObject()
        var matching = self.users.filter { user in
            filter.members.allSatisfy { member in
                let key = member.key.uppercased().trimmingCharacters(in: CharacterSet(charactersIn: "=!%<>"))
                let wanted = member.value.scalarText ?? ""
                switch key {
                case "ID": return String(user.id) == wanted
                case "ACTIVE": return user.active == PortalValue.flag(member.value, default: true)
                case "UF_PHONE_INNER": return (user.innerPhone ?? "") == wanted
                case "NAME": return user.name == wanted
                case "LAST_NAME": return user.lastName == wanted
                default: return true
                }
            }
        }
        if let id = PortalValue.int(params["ID"]) { matching = matching.filter { $0.id == id } }
        return self.page(matching.map(\.json), params)
    }

    private func userCurrent(_ caller: PortalCaller) -> PortalAnswer {
        guard let user = self.users.first(where: { $0.id == caller.userID }) else { return .notFound() }
        return .init(body: ["result": user.json])
    }

    /// A list answer in pages of 50: `result`, `total`, and `next` when there is more.
    private func page(_ items: [JSONValue], _ params: JSONValue, wrap: String? = nil) -> PortalAnswer {
        let start = max(0, PortalValue.int(PortalValue.member(params, "start")) ?? 0)
        let slice = Array(items.dropFirst(start).prefix(50))
        var body: JSONObject = [
            "result": wrap.map { [$0: .array(slice)] } ?? .array(slice), "total": .integer(Int64(items.count)),
        ]
        if start + 50 < items.count { body["next"] = .integer(Int64(start + 50)) }
        return .init(body: .object(body))
    }

    // MARK: - CRM

    private func findByComm(_ params: JSONValue) -> PortalAnswer {
        guard let type = PortalValue.string(PortalValue.member(params, "type")), !type.isEmpty else {
            return .error(400, "Communication type is not defined", "Parameter 'type' is required.")
        }
        guard type.uppercased() == "PHONE" || type.uppercased() == "EMAIL" else {
            return .error(400, "Communication type is not supported", "Parameter 'type' is not supported.")
        }
        let values = (PortalValue.member(params, "values")?.arrayValue ?? []).compactMap(\.scalarText)
        guard !values.isEmpty else { return .error(400, "", "Parameter 'values' is required.") }
        guard values.count <= 20 else { return .error(400, "", "Too many values. Maximum is 20.") }
        let only = PortalValue.string(PortalValue.member(params, "entity_type")).flatMap {
            EntityKind(rawValue: $0.uppercased())
        }
        var found = JSONObject()
        for kind in [EntityKind.lead, .contact, .company] where only == nil || only == kind {
            let matching = Set(values.flatMap { self.ids(of: kind, phoneKey: PortalValue.phoneKey($0)) })
            let ids: [JSONValue] = matching.sorted().map { .integer(Int64($0)) }
            if !ids.isEmpty { found[kind.rawValue] = .array(ids) }
        }
        // PHP's empty array: nothing found is `[]`, not `{}`.
        return .init(body: ["result": found.isEmpty ? .array([]) : .object(found)])
    }

    @discardableResult
    private func createEntity(_ kind: EntityKind, _ fields: JSONObject, by user: Int) -> Int {
        let id = self.nextEntityID[kind]!
        self.nextEntityID[kind] = id + 1
        var stored = fields
        stored["ID"] = .string(String(id))
        if stored["ASSIGNED_BY_ID"] == nil { stored["ASSIGNED_BY_ID"] = .string(String(user)) }
        stored["CREATED_BY_ID"] = .string(String(user))
        stored["DATE_CREATE"] = .string(PortalValue.date(PortalValue.now()))
        if let phones = stored["PHONE"]?.arrayValue {
            stored["PHONE"] = .array(
                phones.enumerated().map { offset, phone in
                    var phone = phone
                    phone["ID"] = .string(String(id * 10 + offset))
                    phone["TYPE_ID"] = "PHONE"
                    if phone["VALUE_TYPE"] == nil { phone["VALUE_TYPE"] = "WORK" }
                    return phone
                })
        }
        self.store(kind, id, stored)
        return id
    }

    private func entityMethod(_ kind: EntityKind, _ action: String, _ params: JSONValue, caller: PortalCaller)
        -> PortalAnswer
    {
        let id = PortalValue.int(PortalValue.member(params, "id", "ID"))
        switch action {
        case "add":
            guard let fields = PortalValue.member(params, "fields")?.objectValue, !fields.isEmpty else {
                return .error(400, "", "Parameter 'fields' must be array.")
            }
            if kind == .deal, fields["TITLE"] == nil {
                return .error(400, "", "Title is not specified")
            }
            let id = self.createEntity(kind, fields.filteringMultiFields(), by: caller.userID)
            return .init(body: ["result": .integer(Int64(id))])
        case "get":
            guard let id, let fields = self.entities[kind]![id] else { return .notFound() }
            return .init(body: ["result": .object(fields)])
        case "update":
            guard let id, var stored = self.entities[kind]![id] else { return .notFound() }
            guard let fields = PortalValue.member(params, "fields")?.objectValue else {
                return .error(400, "", "Parameter 'fields' must be array.")
            }
            for member in fields.members where member.key != "ID" { stored[member.key] = member.value }
            self.store(kind, id, stored)
            return .init(body: ["result": true])
        case "delete":
            guard let id, self.entities[kind]![id] != nil else { return .notFound() }
            self.store(kind, id, nil)
            return .init(body: ["result": true])
        case "list":
            let filter = PortalValue.member(params, "filter", "FILTER")?.objectValue ?? JSONObject()
            let items = self.entities[kind]!.keys.sorted().compactMap { id -> JSONValue? in
                let fields = self.entities[kind]![id]!
                return Self.matches(fields, filter) ? .object(fields) : nil
            }
            return self.page(items, params)
        default:
            return .error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        }
    }

    private func activityMethod(_ action: String, _ params: JSONValue, caller: PortalCaller) -> PortalAnswer {
        let id = PortalValue.int(PortalValue.member(params, "id", "ID"))
        switch action {
        case "add":
            guard let fields = PortalValue.member(params, "fields")?.objectValue, fields["OWNER_ID"] != nil else {
                return .error(400, "", "OWNER_ID is not defined or invalid.")
            }
            let id = self.nextActivityID
            self.nextActivityID += 1
            var stored = fields
            stored["ID"] = .string(String(id))
            self.activities[id] = stored
            return .init(body: ["result": .integer(Int64(id))])
        case "get":
            guard let id, let fields = self.activities[id] else { return .notFound() }
            return .init(body: ["result": .object(fields)])
        case "update":
            guard let id, var stored = self.activities[id] else { return .notFound() }
            for member in PortalValue.member(params, "fields")?.objectValue?.members ?? [] where member.key != "ID" {
                stored[member.key] = member.value
            }
            self.activities[id] = stored
            return .init(body: ["result": true])
        case "delete":
            guard let id, self.activities.removeValue(forKey: id) != nil else { return .notFound() }
            return .init(body: ["result": true])
        case "list":
            let filter = PortalValue.member(params, "filter", "FILTER")?.objectValue ?? JSONObject()
            let items = self.activities.keys.sorted().compactMap { id -> JSONValue? in
                Self.matches(self.activities[id]!, filter) ? .object(self.activities[id]!) : nil
            }
            return self.page(items, params)
        default:
            return .error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        }
    }

    /// A list filter: `KEY` or `=KEY` equals, `PHONE` matches any of the entity's numbers.
    private static func matches(_ fields: JSONObject, _ filter: JSONObject) -> Bool {
        filter.members.allSatisfy { member in
            let key = String(member.key.drop { "=!%<>@".contains($0) })
            let negate = member.key.hasPrefix("!")
            let result: Bool
            if key == "PHONE" {
                result = Self.phones(fields).contains(PortalValue.phoneKey(member.value.scalarText ?? ""))
            } else if case .array(let options) = member.value {
                result = options.contains { $0.scalarText == fields[key]?.scalarText }
            } else {
                result = (fields[key]?.scalarText ?? "") == (member.value.scalarText ?? "")
            }
            return negate ? !result : result
        }
    }

    // MARK: - Tasks, workflows, events

    private func addTask(_ params: JSONValue, caller: PortalCaller) -> PortalAnswer {
        let fields = PortalValue.member(params, "fields")?.objectValue ?? JSONObject()
        guard let title = fields["TITLE"]?.scalarText, !title.isEmpty else {
            return .core("Не указано название задачи<br>")
        }
        guard let responsible = PortalValue.int(fields["RESPONSIBLE_ID"]),
            self.users.contains(where: { $0.id == responsible && $0.active })
        else {
            return .core("Не указан ответственный<br>")
        }
        let id = self.nextTaskID
        self.nextTaskID += 1
        let task: JSONObject = [
            "id": .string(String(id)), "title": .string(title),
            "description": fields["DESCRIPTION"] ?? "", "responsibleId": .string(String(responsible)),
            "createdBy": .string(fields["CREATED_BY"]?.scalarText ?? String(caller.userID)),
            "deadline": fields["DEADLINE"] ?? .null, "xmlId": fields["XML_ID"] ?? .null,
            "ufCrmTask": fields["UF_CRM_TASK"] ?? .array([]), "status": "2",
            "createdDate": .string(PortalValue.date(PortalValue.now())),
        ]
        self.tasks.append(task)
        return .init(body: ["result": ["task": .object(task)]])
    }

    private func listTasks(_ params: JSONValue) -> PortalAnswer {
        let filter = PortalValue.member(params, "filter", "FILTER")?.objectValue ?? JSONObject()
        let items = self.tasks.filter { task in
            filter.members.allSatisfy { member in
                let key = String(member.key.drop { "=!%<>".contains($0) }).uppercased()
                let field: String? =
                    switch key {
                    case "XML_ID": task["xmlId"]?.scalarText
                    case "RESPONSIBLE_ID": task["responsibleId"]?.scalarText
                    case "ID": task["id"]?.scalarText
                    case "TITLE": task["title"]?.scalarText
                    default: member.value.scalarText
                    }
                return field == member.value.scalarText
            }
        }.map(JSONValue.object)
        return self.page(items, params, wrap: "tasks")
    }

    private func startWorkflow(_ params: JSONValue) -> PortalAnswer {
        guard let template = PortalValue.int(params["TEMPLATE_ID"]) else {
            return .error(400, "ERROR_WRONG_WORKFLOW_ID", "Empty TEMPLATE_ID")
        }
        guard let document = params["DOCUMENT_ID"]?.arrayValue, document.count == 3 else {
            return .error(400, "ERROR_WRONG_DOCUMENT_ID", "Incorrect DOCUMENT_ID")
        }
        let id = "\(Self.hex(8)).\(Self.hex(8))"
        self.workflows.append([
            "ID": .string(id), "TEMPLATE_ID": .integer(Int64(template)), "DOCUMENT_ID": .array(document),
            "PARAMETERS": params["PARAMETERS"] ?? .null,
        ])
        return .init(body: ["result": .string(id)])
    }

    private func bindEvent(_ params: JSONValue) -> PortalAnswer {
        guard let event = PortalValue.string(PortalValue.member(params, "event")), !event.isEmpty,
            let handler = PortalValue.string(PortalValue.member(params, "handler")), !handler.isEmpty
        else {
            return .error(400, "ERROR_REQUIRED_PARAMETERS_MISSING", "Required parameters missing")
        }
        if self.handlers.contains(where: {
            $0["event"]?.stringValue == event.uppercased() && $0["handler"]?.stringValue == handler
        }) {
            return .error(400, "ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
        }
        self.handlers.append([
            "event": .string(event.uppercased()), "handler": .string(handler), "auth_type": "0", "offline": 0,
        ])
        return .init(body: ["result": true])
    }

    private func unbindEvent(_ params: JSONValue) -> PortalAnswer {
        let event = PortalValue.string(PortalValue.member(params, "event"))?.uppercased()
        let handler = PortalValue.string(PortalValue.member(params, "handler"))
        let before = self.handlers.count
        self.handlers.removeAll {
            $0["event"]?.stringValue == event && (handler == nil || $0["handler"]?.stringValue == handler)
        }
        return .init(body: ["result": ["count": .integer(Int64(before - self.handlers.count))]])
    }

    /// `POST /_sandbox/click-to-call`: a user clicks a number in the CRM. The portal registers an outgoing call
    /// for them and returns the `ONEXTERNALCALLSTART` event for each bound handler.
    func clickToCall(_ params: JSONValue) -> (answer: PortalAnswer, deliveries: [(handler: String, form: String)]) {
        var register = params.objectValue ?? JSONObject()
        register["TYPE"] = 1
        register["SHOW"] = 1
        let answer = self.register(
            .object(register), caller: .application(userID: PortalValue.int(params["USER_ID"]) ?? 1))
        guard !answer.isError, let callID = answer.body["result"]?["CALL_ID"]?.stringValue,
            let call = self.callIndex[callID].map({ self.calls[$0] })
        else { return (answer, []) }
        let user = self.users.first { $0.id == call.userID }
        let data: [(String, String)] = [
            ("PHONE_NUMBER", call.phone), ("PHONE_NUMBER_INTERNATIONAL", call.phone),
            ("EXTENSION", user?.innerPhone ?? ""), ("USER_ID", String(call.userID)),
            ("CALL_LIST_ID", PortalValue.string(params["CALL_LIST_ID"]) ?? "0"), ("LINE_NUMBER", call.line),
            ("IS_MOBILE", "0"), ("CALL_ID", call.callID),
            ("CRM_ENTITY_TYPE", call.entity?.kind.rawValue ?? ""),
            ("CRM_ENTITY_ID", call.entity.map { String($0.id) } ?? ""),
        ]
        let auth: [(String, String)] = [
            ("domain", "callhook.sandbox"), ("client_endpoint", "/rest/"), ("member_id", "callhook-sandbox"),
            ("application_token", self.configuration.applicationToken),
        ]
        var form = "event=ONEXTERNALCALLSTART&event_handler_id=1&ts=\(Int(PortalValue.now()))"
        for (key, value) in data { form += "&data%5B\(key)%5D=\(Self.formEscape(value))" }
        for (key, value) in auth { form += "&auth%5B\(key)%5D=\(Self.formEscape(value))" }
        let deliveries = self.handlers.filter { $0["event"]?.stringValue == "ONEXTERNALCALLSTART" }
            .compactMap { $0["handler"]?.stringValue }.map { (handler: $0, form: form) }
        return (answer, deliveries)
    }

    static func formEscape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    // MARK: - Batch

    private func batch(
        _ params: JSONValue, caller: PortalCaller, blocked: (method: String, until: Double)?
    ) -> PortalAnswer {
        let halt = PortalValue.flag(params["halt"], default: false)
        var commands: [(key: String, command: String)] = []
        switch params["cmd"] {
        case .object(let cmd)?: commands = cmd.members.compactMap { m in m.value.stringValue.map { (m.key, $0) } }
        case .array(let cmd)?: commands = cmd.enumerated().compactMap { i, v in v.stringValue.map { (String(i), $0) } }
        default: break
        }
        guard commands.count <= 50 else {
            return .error(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        }
        let keyed: Bool
        if case .object? = params["cmd"] { keyed = true } else { keyed = false }
        var results = JSONObject()
        var errors = JSONObject()
        var totals = JSONObject()
        var nexts = JSONObject()
        var times = JSONObject()
        for (key, command) in commands {
            let parts = command.split(separator: "?", maxSplits: 1)
            let method = String(parts.first ?? "").lowercased()
            if method == "batch" {
                errors[key] = [
                    "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                    "error_description": "Method is not allowed for batch usage",
                ]
                if halt { break }
                continue
            }
            let query = parts.count > 1 ? Self.substitute(parts[1], results) : ""
            let answer: PortalAnswer
            if let blocked, blocked.method == method, blocked.until > PortalValue.now() {
                answer = .error(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit")
            } else {
                answer = self.call(method, PHPQuery.decode(Substring(query)), caller: caller)
            }
            if answer.isError {
                errors[key] = [
                    "error": answer.body["error"] ?? "", "error_description": answer.body["error_description"] ?? "",
                ]
                if halt { break }
                continue
            }
            results[key] = answer.body["result"] ?? .null
            if let total = answer.body["total"] { totals[key] = total }
            if let next = answer.body["next"] { nexts[key] = next }
            times[key] = Self.timeBlock(start: PortalValue.now())
        }
        func shaped(_ object: JSONObject) -> JSONValue {
            if object.isEmpty { return .array([]) }
            return keyed ? .object(object) : .array(object.values)
        }
        return .init(body: [
            "result": [
                "result": shaped(results), "result_error": shaped(errors), "result_total": shaped(totals),
                "result_next": shaped(nexts), "result_time": shaped(times),
            ]
        ])
    }

    /// `$result[key][FIELD]` in a batch command, replaced by that earlier command's value.
    static func substitute(_ query: Substring, _ results: JSONObject) -> String {
        var output = ""
        var rest = query
        while let range = rest.range(of: "$result[") ?? rest.range(of: "%24result%5B") {
            output += rest[..<range.lowerBound]
            var cursor = range.upperBound
            var path: [String] = []
            let encoded = rest[range].hasPrefix("%")
            let close = encoded ? "%5D" : "]"
            let open = encoded ? "%5B" : "["
            while let end = rest[cursor...].range(of: close) {
                path.append(String(rest[cursor..<end.lowerBound]))
                cursor = end.upperBound
                guard rest[cursor...].hasPrefix(open) else { break }
                cursor = rest.index(cursor, offsetBy: open.count)
            }
            var value: JSONValue? = path.first.flatMap { results[$0] }
            for key in path.dropFirst() { value = value?[key] ?? Int(key).flatMap { value?[$0] } }
            output += Self.formEscape(value?.scalarText ?? "")
            rest = rest[cursor...]
        }
        return output + rest
    }

    // MARK: - Helpers

    static func timeBlock(start: Double, resetAt: Double? = nil) -> JSONValue {
        let finish = PortalValue.now()
        return [
            "start": .double(start), "finish": .double(finish), "duration": .double(finish - start),
            "processing": .double(finish - start), "date_start": .string(PortalValue.date(start)),
            "date_finish": .string(PortalValue.date(finish)),
            "operating_reset_at": .integer(Int64(resetAt ?? start + 600)), "operating": 0,
        ]
    }

    static func hex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String((0..<count).map { _ in digits[Int.random(in: 0..<16)] })
    }

    // MARK: - State

    func state(requests: [JSONValue]) -> JSONValue {
        func list(_ kind: EntityKind) -> JSONValue {
            .array(self.entities[kind]!.keys.sorted().map { .object(self.entities[kind]![$0]!) })
        }
        return [
            "calls": .array(self.calls.map(\.json)), "leads": list(.lead), "contacts": list(.contact),
            "companies": list(.company), "deals": list(.deal),
            "activities": .array(self.activities.keys.sorted().map { .object(self.activities[$0]!) }),
            "tasks": .array(self.tasks.map(JSONValue.object)),
            "workflows": .array(self.workflows.map(JSONValue.object)),
            "events": .array(self.handlers.map(JSONValue.object)), "requests": .array(requests),
        ]
    }
}

extension JSONObject {
    /// Multi-fields (`PHONE`, `EMAIL`) as lists, whatever form they came in (`PHONE[0][VALUE]` decodes to a list;
    /// a single object is one item).
    func filteringMultiFields() -> JSONObject {
        var copy = self
        for key in ["PHONE", "EMAIL", "WEB", "IM"] {
            if case .object(let single)? = copy[key] { copy[key] = .array([.object(single)]) }
        }
        return copy
    }
}
