import LuaHost

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
            .syntax, .runtime, .timeout, .memory, .badResult, .badInput, .notAFunction, .stateUnavailable,
            .invalidResult,
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
            hook: hook, reason: Reason(error.code), message: error.shortMessage, script: script,
            location: error.location,
            traceback: error.traceback)
    }

    public var description: String {
        "\(self.hook.name): \(self.reason): \(self.message) (\(self.location ?? self.script))"
    }
}
