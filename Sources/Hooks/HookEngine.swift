import CoreMetrics
import JSON
import Logging
import LuaHost
import Metrics
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs hook points: the integrator's script when there is one, Callhook's built-in default otherwise, and the
/// default again whenever a script fails, so a broken script never loses a call.
///
/// Scripts run in a small pool of Lua states (`HookConfiguration.workers`), each confined to an actor.
public final class HookEngine: Sendable {
    public let configuration: HookConfiguration
    public let catalog: HookScriptCatalog
    public let defaults: HookDefaults
    private let board: ScriptBoard
    private let runners: [HookRunner]
    private let nextRunner = Atomic<Int>(0)
    private let metrics: HookMetrics
    private let logger: Logger

    /// Creates the engine and loads the scripts in the configured directory.
    public init(
        configuration: HookConfiguration, logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) async {
        self.configuration = configuration
        self.logger = logger
        self.defaults = HookDefaults(settings: configuration.settings)
        self.board = ScriptBoard()
        self.metrics = HookMetrics(factory: metricsFactory)
        self.catalog = HookScriptCatalog(
            directory: configuration.directory, settings: configuration.settings, limits: configuration.limits,
            board: self.board, logger: logger)
        self.runners = (0..<configuration.workers).map { _ in
            HookRunner(limits: configuration.limits, settings: configuration.settings, logger: logger)
        }
        if let directory = configuration.directory, !ScriptFiles.isDirectory(directory) {
            logger.warning(
                "hooks directory not found, every hook point runs its built-in default",
                metadata: ["hook.directory": "\(directory)"])
        }
        await self.catalog.refresh()
    }

    /// Runs `hook` on `params` (the value of `"params"` in the documented input). Never fails: a failing script
    /// is logged, counted, and replaced by the built-in default.
    public func run(_ hook: HookPoint, params: JSONValue, callID: String? = nil) async -> HookResult {
        guard let script = self.board.script(for: hook) else {
            self.metrics.ran(hook, .builtin)
            return HookResult(hook: hook, output: self.defaults.output(for: hook, params: params), source: .builtin)
        }
        let started = Self.nowNanoseconds()
        let input = Self.input(params: params)
        let runner = self.runners[self.nextRunner.add(1, ordering: .relaxed).oldValue % self.runners.count]
        let outcome = await runner.run(script, input: input, callID: callID)
        self.metrics.took(hook, nanoseconds: Self.nowNanoseconds() - started)
        switch outcome {
        case .success(let output):
            self.metrics.ran(hook, .script)
            return HookResult(hook: hook, output: output, source: .script(path: script.path))
        case .failure(let failure):
            self.metrics.ran(hook, .fallback)
            self.metrics.failed(failure)
            var metadata: Logger.Metadata = [
                "hook.name": "\(hook.name)", "hook.error": "\(failure.reason)",
                "hook.source": "\(failure.location ?? failure.script)", "error": "\(failure.message)",
            ]
            if let callID { metadata["call.id"] = "\(callID)" }
            self.logger.warning("hook script failed, built-in default used", metadata: metadata)
            return HookResult(
                hook: hook, output: self.defaults.output(for: hook, params: params),
                source: .builtinAfterFailure(failure))
        }
    }

    /// Rescans the hooks directory now.
    @discardableResult
    public func refreshScripts() async -> [HookScriptChange] {
        await self.catalog.refresh()
    }

    /// Rescans the hooks directory every `reloadInterval` until cancelled: changed scripts go into service
    /// without a restart.
    public func watchScripts() async {
        await self.catalog.watch(every: self.configuration.reloadInterval)
    }

    /// Bytes held by all Lua states of the pool.
    public func memoryInUse() async -> Int {
        var total = 0
        for runner in self.runners { total += await runner.memoryInUse() }
        return total
    }

    /// The JSON text a script receives: `{"params": …}`.
    public static func input(params: JSONValue) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        bytes.append(contentsOf: #"{"params":"#.utf8)
        params.write(into: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
