import JSON

/// What a hook gives back: `{data = …, state = "success", action = …, filter = …}`.
public struct HookOutput: Sendable, Equatable {
    public var data: JSONValue
    public var action: HookAction?
    /// `process_search_params` only: search filters by entity type (`lead`, `contact`, `company`).
    public var filter: JSONValue?

    public init(data: JSONValue, action: HookAction? = nil, filter: JSONValue? = nil) {
        self.data = data
        self.action = action
        self.filter = filter
    }

    /// The documented JSON form, as a script returns it.
    public var json: JSONValue {
        var object: JSONObject = ["data": self.data, "state": "success"]
        if let action { object["action"] = .string(action.rawValue) }
        if let filter { object["filter"] = filter }
        return .object(object)
    }
}

/// Why a script's result was not accepted.
public struct HookOutputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

extension HookOutput {
    /// Reads and checks what a script returned for `hook`. Rejects results the pipeline could not act on, with
    /// a message that says what was expected.
    public init(validating value: JSONValue, for hook: HookPoint) throws(HookOutputError) {
        guard case .object(let result) = value else {
            throw HookOutputError(message: "the hook must return a table, it returned \(value.typeName)")
        }
        guard let data = result["data"] else {
            throw HookOutputError(message: "the result has no `data` field: return {data = ..., state = \"success\"}")
        }
        if let state = result["state"], state != .string("success") {
            throw HookOutputError(message: "the script reported state \(state) (expected \"success\")")
        }
        var action: HookAction?
        if let raw = result["action"], !raw.isNull {
            guard let name = raw.stringValue, let parsed = HookAction(rawValue: name) else {
                throw HookOutputError(message: "unknown action \(raw)")
            }
            guard hook.allowedActions.contains(parsed) else {
                let valid = hook.allowedActions.map(\.rawValue).sorted().joined(separator: ", ")
                throw HookOutputError(
                    message:
                        "action \"\(name)\" is not valid for \(hook.name) (valid: \(valid.isEmpty ? "none" : valid))")
            }
            action = parsed
        }
        var filter: JSONValue?
        if let raw = result["filter"], !raw.isEmpty {
            guard hook == .processSearchParams else {
                throw HookOutputError(message: "`filter` is only read from process_search_params")
            }
            guard case .object(let members) = raw else {
                throw HookOutputError(message: "`filter` must be a table {lead = ..., contact = ..., company = ...}")
            }
            for key in members.keys where !["lead", "contact", "company"].contains(key) {
                throw HookOutputError(
                    message: "`filter` has an unknown entity type \"\(key)\" (lead, contact, company)")
            }
            filter = raw
        }
        try Self.checkData(data, for: hook)
        self.init(data: Self.normalised(data, for: hook), action: action, filter: filter)
    }

    private static func checkData(_ data: JSONValue, for hook: HookPoint) throws(HookOutputError) {
        switch hook {
        case .processPhoneNumber:
            switch data["phone"] {
            case .string?, .integer?: return
            default:
                throw HookOutputError(
                    message: "data.phone must be a string, got \(data["phone"]?.typeName ?? "nothing")")
            }
        case .needRegistration:
            guard data["result"]?.boolValue != nil else {
                throw HookOutputError(
                    message: "data.result must be true or false, got \(data["result"]?.typeName ?? "nothing")")
            }
        default:
            if data.isEmpty { return }
            guard case .object = data else {
                throw HookOutputError(message: "data must be a table of fields, got \(data.typeName)")
            }
            switch hook {
            case .getSearchFilter:
                guard case .array? = data["entities"] else {
                    throw HookOutputError(message: "data.entities must be a list of entities")
                }
            case .processRecordFilePath:
                guard case .string? = data["path"] else { throw HookOutputError(message: "data.path must be a string") }
            case .processTaskCreationParams:
                guard case .object? = data["arNewTaskData"] else {
                    throw HookOutputError(message: "data.arNewTaskData must be a table of task fields")
                }
            default:
                return
            }
        }
    }

    /// Small forgiving conversions: a phone number returned as a Lua integer is still a phone number.
    private static func normalised(_ data: JSONValue, for hook: HookPoint) -> JSONValue {
        if hook == .processPhoneNumber, case .integer(let digits)? = data["phone"] {
            var copy = data
            copy["phone"] = .string(String(digits))
            return copy
        }
        return data
    }
}
