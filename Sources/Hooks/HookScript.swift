import LuaHost

/// One accepted version of a hook script.
public struct HookScript: Sendable, Equatable {
    public var hook: HookPoint
    /// The path as messages show it (the hooks directory as configured, then the file name).
    public var path: String
    public var source: [UInt8]
    /// Increases each time a changed file is accepted; runners reload when it moves.
    public var version: Int

    public init(hook: HookPoint, path: String, source: [UInt8], version: Int) {
        self.hook = hook
        self.path = path
        self.source = source
        self.version = version
    }
}

/// Where a hook point's script stands.
public enum HookScriptStatus: Sendable, Equatable {
    /// No script: the built-in default runs.
    case absent
    /// The script is in service.
    case loaded(HookScript)
    /// The file on disk does not load; the previous version, if any, stays in service.
    case failed(path: String, error: LuaError, serving: HookScript?)

    /// The script that runs, if any.
    public var serving: HookScript? {
        switch self {
        case .absent: return nil
        case .loaded(let script): return script
        case .failed(_, _, let serving): return serving
        }
    }
}

/// A file in the hooks directory that is not a hook script Callhook knows.
public struct UnknownHookFile: Sendable, Equatable {
    public var fileName: String
    /// The hook point it probably meant, with why.
    public var suggestion: HookNameSuggestion?
}

/// What a rescan found.
public enum HookScriptChange: Sendable, Equatable {
    case loaded(HookScript)
    case failed(hook: HookPoint, path: String, error: LuaError, keptVersion: Int?)
    case removed(HookPoint)
}
