import JSON

/// What the pipeline does after a hook, read from its output.
public enum HookDecision: Sendable, Equatable {
    /// Carry on with these fields (context keys such as `conversation` removed).
    case proceed(JSONValue)
    /// The script returned empty `data`: this CRM request is cancelled by the customisation (not an error).
    case cancel
    /// `process_search_params` returned `action = "ignore"`: do not register the call.
    case ignore
    /// `process_final_params` returned `action = "delete"`: remove the call's activity from the CRM.
    case delete
    /// `need_registration` returned `{result = false}`: leave this call out of the CRM.
    case skip

    public init(_ output: HookOutput, for hook: HookPoint) {
        switch output.action {
        case .ignore?: self = .ignore; return
        case .delete?: self = .delete; return
        case .register?, nil: break
        }
        if hook == .needRegistration {
            self = output.data["result"]?.boolValue == false ? .skip : .proceed(output.data)
            return
        }
        if hook.emptyDataCancels && output.data.isEmpty {
            self = .cancel
            return
        }
        guard case .object(var fields) = output.data else {
            self = .proceed(output.data)
            return
        }
        for key in hook.contextKeys { fields[key] = nil }
        self = .proceed(.object(fields))
    }
}
