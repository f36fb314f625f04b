import JSON
import LuaHost

/// The outcome of running one hook point: the output the pipeline uses and where it came from.
public struct HookResult: Sendable {
    public enum Source: Sendable, Equatable {
        /// The script at this path produced the output.
        case script(path: String)
        /// No script: Callhook's built-in default produced it.
        case builtin
        /// The script failed; the built-in default produced the output.
        case builtinAfterFailure(HookFailure)
    }

    public var hook: HookPoint
    public var output: HookOutput
    public var source: Source

    public init(hook: HookPoint, output: HookOutput, source: Source) {
        self.hook = hook
        self.output = output
        self.source = source
    }

    public var failure: HookFailure? {
        if case .builtinAfterFailure(let failure) = self.source { return failure }
        return nil
    }

    /// What the pipeline should do, as a typed value.
    public var decision: HookDecision { HookDecision(self.output, for: self.hook) }
}

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

/// Why a script's result was not used.
public struct HookFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        init(_ code: LuaError.Code) { self.name = code.name }

        public static let syntax = Reason(LuaError.Code.syntax)
        public static let runtime = Reason(LuaError.Code.runtime)
        public static let timeout = Reason(LuaError.Code.timeout)
        public static let memory = Reason(LuaError.Code.memory)
        public static let badResult = Reason(LuaError.Code.badResult)
        public static let badInput = Reason(LuaError.Code.badInput)
        public static let notAFunction = Reason(LuaError.Code.notAFunction)
        public static let stateUnavailable = Reason(LuaError.Code.stateUnavailable)
        /// The script returned a table the hook point cannot use (no `data`, a wrong action...).
        public static let invalidResult = Reason("invalid_result")

        public static let all: [Reason] = [
            .syntax, .runtime, .timeout, .memory, .badResult, .badInput, .notAFunction, .stateUnavailable, .invalidResult,
        ]
    }

    public var hook: HookPoint
    public var reason: Reason
    public var message: String
    /// The script's path, and `path:line` where the failure happened when known.
    public var script: String
    public var location: String?
    public var traceback: String?

    public init(
        hook: HookPoint, reason: Reason, message: String, script: String, location: String? = nil,
        traceback: String? = nil
    ) {
        self.hook = hook
        self.reason = reason
        self.message = message
        self.script = script
        self.location = location
        self.traceback = traceback
    }

    init(hook: HookPoint, script: String, error: LuaError) {
        self.init(
            hook: hook, reason: Reason(error.code), message: error.shortMessage, script: script, location: error.location,
            traceback: error.traceback)
    }

    public var description: String {
        "\(self.hook.name): \(self.reason): \(self.message) (\(self.location ?? self.script))"
    }
}
