import JSON

/// The twelve places in call processing where an integrator's script may take over from Callhook's default.
///
/// The names, inputs and outputs are those of the Itgrix (bx24asterisk) customisations, so existing knowledge
/// and scripts carry over. `docs/hooks.md` documents each one.
public enum HookPoint: String, CaseIterable, Sendable, Codable, Comparable {
    case processPhoneNumber = "process_phone_number"
    case needRegistration = "need_registration"
    case processSearchParams = "process_search_params"
    case getSearchFilter = "get_search_filter"
    case processRegistrationParams = "process_registration_params"
    case processEntityCreationParams = "process_entity_creation_params"
    case processOriginateParams = "process_originate_params"
    case processFinalParams = "process_final_params"
    case processRecordFilePath = "process_record_file_path"
    case processTaskCreationParams = "process_task_creation_params"
    case getUpdatedActivityFields = "get_updated_activity_fields"
    case getUpdatedEntityFields = "get_updated_entity_fields"

    public var name: String { self.rawValue }

    /// The script file for this hook point inside a hooks directory.
    public var fileName: String { "\(self.rawValue).lua" }

    /// Position in the pipeline; also the Lua slot the script is kept in.
    public var index: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (lhs: HookPoint, rhs: HookPoint) -> Bool { lhs.index < rhs.index }

    /// Actions a script may return besides `data`.
    public var allowedActions: Set<HookAction> {
        switch self {
        case .processSearchParams: return [.ignore, .register]
        case .processFinalParams: return [.delete, .register]
        default: return []
        }
    }

    /// Keys of the input that describe the call for the script to read; they are not request fields and never
    /// reach the CRM, even if a script returns them in `data`.
    public var contextKeys: [String] {
        switch self {
        case .processSearchParams: return ["conversation", "call", "user"]
        case .getSearchFilter: return ["conversation", "PHONE_NUMBER"]
        case .processRegistrationParams, .processEntityCreationParams, .processTaskCreationParams:
            return ["conversation", "call"]
        case .processFinalParams: return ["conversation", "call", "entity_data"]
        default: return []
        }
    }

    /// Whether an empty `data` (`{}`, `[]` or `null`) from a script cancels the request this hook prepares.
    public var emptyDataCancels: Bool {
        switch self {
        case .processPhoneNumber, .needRegistration: return false
        default: return true
        }
    }

    /// One line: when the hook runs.
    public var runs: String {
        switch self {
        case .processPhoneNumber: return "for every number Callhook sends to the CRM or the PBX, before anything else"
        case .needRegistration: return "when a call leg starts ringing, before anything is sent to the CRM"
        case .processSearchParams: return "before the client is searched for in the CRM and the call registered"
        case .getSearchFilter: return "after the CRM answered the search, to choose the entity the call belongs to"
        case .processRegistrationParams: return "just before telephony.externalcall.register"
        case .processEntityCreationParams: return "before Callhook creates a lead (or contact) for an unknown number"
        case .processOriginateParams: return "before a click-to-call from the CRM becomes an Originate on the PBX"
        case .processFinalParams: return "when the call ended, just before telephony.externalcall.finish"
        case .processRecordFilePath: return "when the recording is ready, before it is attached to the call"
        case .processTaskCreationParams: return "after a missed incoming call, before tasks.task.add"
        case .getUpdatedActivityFields: return "after finish, to update the call's activity (crm.activity.update)"
        case .getUpdatedEntityFields: return "after finish, to update the lead Callhook created for the call"
        }
    }

    /// One line: what Callhook does without a script.
    public var defaultSummary: String {
        switch self {
        case .processPhoneNumber: return "normalises by the country rules in hooks.settings.phone"
        case .needRegistration: return "applies the allow/deny lists in hooks.settings.registration"
        case .processSearchParams: return "passes the parameters through; no action, no filter"
        case .getSearchFilter: return "keeps every entity the CRM found"
        case .processRegistrationParams: return "passes the parameters through"
        case .processEntityCreationParams: return "passes the lead fields through"
        case .processOriginateParams: return "passes the Originate parameters through"
        case .processFinalParams: return "passes the finish parameters through"
        case .processRecordFilePath: return "keeps the path"
        case .processTaskCreationParams: return "passes the task fields through"
        case .getUpdatedActivityFields: return "no update (empty data)"
        case .getUpdatedEntityFields: return "no update (empty data)"
        }
    }

    /// Other names this hook has had, with the version of the module that used them.
    public var legacyNames: [String] {
        switch self {
        case .processPhoneNumber: return ["process_user_phone", "process_client_phone"]
        case .getUpdatedEntityFields: return ["get_updated_lead_fields", "customize_entity"]
        case .getUpdatedActivityFields: return ["customize_activity"]
        default: return []
        }
    }
}

/// What a script may ask for besides its data.
public enum HookAction: String, Sendable, Hashable, CaseIterable {
    /// `process_search_params`: do not register the call in the CRM at all.
    case ignore
    /// `process_final_params`: remove the call's activity from the CRM.
    case delete
    /// Both: carry on as usual (the same as no action).
    case register
}
