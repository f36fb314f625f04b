/// Why a Lua script could not be loaded or called.
///
/// The message and location come from the script (Lua's own message, `hooks/x.lua:12`); they never contain
/// configuration values or secrets, since scripts see only the hook settings.
public struct LuaError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// The script does not compile.
        public static let syntax = Code("syntax_error")
        /// The script raised an error.
        public static let runtime = Code("runtime_error")
        /// The time budget ran out.
        public static let timeout = Code("timeout")
        /// The state's memory cap was reached.
        public static let memory = Code("memory_limit")
        /// The script returned something that is not a hook result.
        public static let badResult = Code("bad_result")
        /// The input given to the script could not be decoded (a Callhook bug, not the script's).
        public static let badInput = Code("bad_input")
        /// No script is loaded in the slot.
        public static let notLoaded = Code("not_loaded")
        /// The chunk ran but did not return a function.
        public static let notAFunction = Code("not_a_function")
        /// The Lua state could not be created.
        public static let stateUnavailable = Code("state_unavailable")

        /// Every code, for metrics created up front.
        public static let all: [Code] = [
            .syntax, .runtime, .timeout, .memory, .badResult, .badInput, .notLoaded, .notAFunction, .stateUnavailable,
        ]
    }

    public var code: Code
    public var message: String
    /// `path:line` of the failing script line when known, else `nil`.
    public var location: String?
    /// A Lua traceback when one was taken.
    public var traceback: String?

    public init(code: Code, message: String, location: String? = nil, traceback: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.traceback = traceback
    }

    /// The message without the `path:line: ` prefix Lua puts on it (the location is in `location`).
    public var shortMessage: String {
        if let location, self.message.hasPrefix(location + ": ") {
            return String(self.message.dropFirst(location.count + 2))
        }
        return self.message
    }

    public var description: String {
        if let location, !self.message.hasPrefix(location) {
            return "\(self.code): \(self.message) (at \(location))"
        }
        return "\(self.code): \(self.message)"
    }
}
