import JSON

/// Callhook's own behaviour at each hook point, used when no script overrides it and whenever a script fails.
public struct HookDefaults: Sendable {
    public var settings: HookSettings

    public init(settings: HookSettings) {
        self.settings = settings
    }

    public func output(for hook: HookPoint, params: JSONValue) -> HookOutput {
        switch hook {
        case .processPhoneNumber:
            let phone = params["phone"]?.scalarText ?? ""
            return HookOutput(data: ["phone": .string(self.settings.phone.normalise(phone))])
        case .needRegistration:
            return HookOutput(data: ["result": .bool(self.shouldRegister(params))])
        case .getSearchFilter:
            return HookOutput(data: ["entities": params["entities"] ?? .array([])])
        case .processRecordFilePath:
            return HookOutput(data: ["path": params["path"] ?? .string("")])
        case .getUpdatedActivityFields, .getUpdatedEntityFields:
            return HookOutput(data: .object([:]))
        case .processOriginateParams:
            return HookOutput(data: params)
        case .processSearchParams, .processRegistrationParams, .processEntityCreationParams, .processFinalParams,
            .processTaskCreationParams:
            guard case .object(var fields) = params else { return HookOutput(data: params) }
            for key in hook.contextKeys { fields[key] = nil }
            return HookOutput(data: .object(fields))
        }
    }

    /// The built-in black/white lists: by the call's local extensions and by its trunk.
    func shouldRegister(_ params: JSONValue) -> Bool {
        let conversation = params["conversation"] ?? params
        let rules = self.settings.registration
        let fromLocal = conversation["from_local"]?.boolValue ?? false
        let toLocal = conversation["to_local"]?.boolValue ?? false
        if conversation["type"]?.integerValue == 1 || (fromLocal && toLocal) {
            return rules.internalCalls
        }
        var extensions: [String] = []
        if fromLocal, let from = conversation["from"]?.scalarText, !from.isEmpty { extensions.append(from) }
        if toLocal, let to = conversation["to"]?.scalarText, !to.isEmpty { extensions.append(to) }
        var trunks: [String] = []
        if let trunk = conversation["trunk"]?.scalarText, !trunk.isEmpty { trunks.append(trunk) }
        return rules.extensions.admit(extensions) && rules.trunks.admit(trunks)
    }
}
