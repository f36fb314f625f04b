import Logging
import LuaHost
import Synchronization

/// The scripts in service, published for runners to read on every call without waiting.
final class ScriptBoard: Sendable {
    private let scripts = Mutex<[HookScript?]>(Array(repeating: nil, count: HookPoint.allCases.count))

    func script(for hook: HookPoint) -> HookScript? {
        self.scripts.withLock { $0[hook.index] }
    }

    func publish(_ script: HookScript?, for hook: HookPoint) {
        self.scripts.withLock { $0[hook.index] = script }
    }
}

/// Watches a hooks directory: validates each new or changed script in a Lua state of its own (compiles it and
/// runs its top level, which must return the hook function) and publishes the versions that pass. A version that
/// fails is reported and the previous one stays in service.
public actor HookScriptCatalog {
    public nonisolated let directory: String?
    nonisolated let board: ScriptBoard
    private let logger: Logger
    private let limits: LuaLimits
    private var settings: HookSettings
    private var checker: LuaVM?
    private var fingerprints: [HookPoint: ScriptFiles.Fingerprint] = [:]
    private var nextVersion = 1
    public private(set) var statuses: [HookPoint: HookScriptStatus] = [:]
    public private(set) var unknownFiles: [UnknownHookFile] = []

    init(directory: String?, settings: HookSettings, limits: LuaLimits, board: ScriptBoard, logger: Logger) {
        self.directory = directory
        self.settings = settings
        self.limits = limits
        self.board = board
        self.logger = logger
    }

    public func status(of hook: HookPoint) -> HookScriptStatus {
        self.statuses[hook] ?? .absent
    }

    /// Rescans the directory and returns what changed. Cheap when nothing did: one stat() per hook point.
    @discardableResult
    public func refresh() -> [HookScriptChange] {
        guard let directory = self.directory else { return [] }
        var changes: [HookScriptChange] = []
        for hook in HookPoint.allCases {
            let path = ScriptFiles.join(directory, hook.fileName)
            guard let fingerprint = ScriptFiles.fingerprint(path) else {
                if self.fingerprints.removeValue(forKey: hook) != nil || self.statuses[hook] != nil {
                    self.statuses[hook] = nil
                    self.board.publish(nil, for: hook)
                    self.logger.info(
                        "hook script removed, built-in default in service", metadata: ["hook.name": "\(hook.name)"])
                    changes.append(.removed(hook))
                }
                continue
            }
            guard self.fingerprints[hook] != fingerprint else { continue }
            self.fingerprints[hook] = fingerprint
            guard let source = ScriptFiles.read(path) else {
                let error = LuaError(code: .syntax, message: "cannot read \(path)")
                changes.append(self.reject(hook, path: path, error: error))
                continue
            }
            // Touched but unchanged: nothing to do.
            if case .loaded(let script)? = self.statuses[hook], script.source == source { continue }
            if let change = self.accept(hook, path: path, source: source) { changes.append(change) }
        }
        self.scanUnknownFiles(directory)
        return changes
    }

    /// Checks all scripts again, for instance after the settings changed.
    public func revalidate(settings: HookSettings) -> [HookScriptChange] {
        self.settings = settings
        self.checker = nil
        self.fingerprints.removeAll()
        return self.refresh()
    }

    /// Rescans every `interval` until the task is cancelled.
    public func watch(every interval: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            self.refresh()
        }
    }

    private func accept(_ hook: HookPoint, path: String, source: [UInt8]) -> HookScriptChange? {
        do {
            let checker = try self.checkerVM()
            try checker.load(slot: hook.index, chunkName: path, source: source)
        } catch {
            return self.reject(hook, path: path, error: error)
        }
        let script = HookScript(hook: hook, path: path, source: source, version: self.nextVersion)
        self.nextVersion += 1
        self.statuses[hook] = .loaded(script)
        self.board.publish(script, for: hook)
        self.logger.info(
            "hook script loaded",
            metadata: ["hook.name": "\(hook.name)", "hook.source": "\(path)", "hook.version": "\(script.version)"])
        return .loaded(script)
    }

    private func reject(_ hook: HookPoint, path: String, error: LuaError) -> HookScriptChange {
        let serving = self.statuses[hook]?.serving
        self.statuses[hook] = .failed(path: path, error: error, serving: serving)
        self.logger.error(
            serving == nil
                ? "hook script does not load, built-in default in service"
                : "hook script does not load, previous version stays in service",
            metadata: [
                "hook.name": "\(hook.name)", "hook.source": "\(error.location ?? path)", "hook.error": "\(error.code)",
                "error": "\(error.message)",
            ])
        return .failed(hook: hook, path: path, error: error, keptVersion: serving?.version)
    }

    private func checkerVM() throws(LuaError) -> LuaVM {
        if let checker = self.checker { return checker }
        let vm = try LuaVM(limits: self.limits, logger: self.logger)
        try vm.setConfig(self.settings.raw)
        self.checker = vm
        return vm
    }

    private func scanUnknownFiles(_ directory: String) {
        let known = Set(HookPoint.allCases.map(\.fileName))
        var unknown: [UnknownHookFile] = []
        for name in ScriptFiles.list(directory)
        where (name.hasSuffix(".lua") || name.hasSuffix(".php")) && !known.contains(name) {
            unknown.append(UnknownHookFile(fileName: name, suggestion: HookNameSuggestion.suggest(for: name)))
        }
        if unknown != self.unknownFiles {
            for file in unknown where !self.unknownFiles.contains(file) {
                self.logger.warning(
                    "file in the hooks directory is not a hook script and is not run",
                    metadata: [
                        "hook.file": "\(file.fileName)",
                        "hook.suggestion": "\(file.suggestion?.description ?? "no hook point has a similar name")",
                    ])
            }
            self.unknownFiles = unknown
        }
    }
}
