import LuaHost

/// How the hook engine is set up: the `hooks` section of the configuration.
public struct HookConfiguration: Sendable {
    /// Where the scripts are (`hooks/<hook_point>.lua`); `nil` runs every hook point on its built-in default.
    public var directory: String?
    public var limits: LuaLimits
    /// Lua states run in parallel; each runs one call at a time.
    public var workers: Int
    /// How often the directory is checked for changed scripts.
    public var reloadInterval: Duration
    public var settings: HookSettings

    public init(
        directory: String? = "hooks", limits: LuaLimits = .default, workers: Int = HookConfiguration.defaultWorkers,
        reloadInterval: Duration = .seconds(1), settings: HookSettings
    ) {
        self.directory = directory
        self.limits = limits
        self.workers = max(1, workers)
        self.reloadInterval = reloadInterval
        self.settings = settings
    }

    /// One state per core the process may use.
    public static var defaultWorkers: Int { max(1, ProcessorCount.available) }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

enum ProcessorCount {
    static var available: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}
