import JSON
import Logging
import LuaHost

/// One Lua state and the scripts loaded into it. The actor confines the state: calls into it never overlap.
actor HookRunner {
    private let limits: LuaLimits
    private let settings: HookSettings
    private let logger: Logger
    private var vm: LuaVM?
    /// The script version loaded in each slot of `vm`, 0 for none.
    private var loadedVersions = Array(repeating: 0, count: HookPoint.allCases.count)

    init(limits: LuaLimits, settings: HookSettings, logger: Logger) {
        self.limits = limits
        self.settings = settings
        self.logger = logger
    }

    /// Runs `script` on `input` (`{"params": …}` as JSON text) and checks what it returns.
    func run(_ script: HookScript, input: [UInt8], callID: String?) -> Result<HookOutput, HookFailure> {
        let hook = script.hook
        let vm: LuaVM
        do {
            vm = try self.stateLoading(script)
        } catch {
            return .failure(HookFailure(hook: hook, script: script.path, error: error))
        }
        var metadata: Logger.Metadata = ["hook.name": "\(hook.name)"]
        if let callID { metadata["call.id"] = "\(callID)" }
        vm.logSink.metadata = metadata
        let value: JSONValue
        do {
            value = try vm.call(slot: hook.index, input: input)
        } catch {
            if error.code == .memory { self.recoverMemory(vm) }
            return .failure(HookFailure(hook: hook, script: script.path, error: error))
        }
        do {
            return .success(try HookOutput(validating: value, for: hook))
        } catch {
            return .failure(
                HookFailure(hook: hook, reason: .invalidResult, message: error.message, script: script.path))
        }
    }

    /// The state, with `script` loaded at its current version. If the new version does not load here, the
    /// version already loaded (if any) stays in use.
    private func stateLoading(_ script: HookScript) throws(LuaError) -> LuaVM {
        let vm = try self.state()
        let slot = script.hook.index
        guard self.loadedVersions[slot] != script.version else { return vm }
        do {
            try vm.load(slot: slot, chunkName: script.path, source: script.source)
            self.loadedVersions[slot] = script.version
        } catch {
            guard self.loadedVersions[slot] != 0 else { throw error }
            self.logger.warning(
                "hook script version does not load in a worker, previous version kept",
                metadata: ["hook.name": "\(script.hook.name)", "hook.source": "\(script.path)", "error": "\(error)"])
        }
        return vm
    }

    private func state() throws(LuaError) -> LuaVM {
        if let vm = self.vm { return vm }
        let vm = try LuaVM(limits: self.limits, logger: self.logger)
        try vm.setConfig(self.settings.raw)
        self.vm = vm
        self.loadedVersions = Array(repeating: 0, count: HookPoint.allCases.count)
        return vm
    }

    /// After a memory error: collect, and if the scripts still hold most of the cap (a script that keeps data
    /// across calls), start over with a fresh state rather than fail every call from now on.
    private func recoverMemory(_ vm: LuaVM) {
        vm.collectGarbage()
        if vm.memoryInUse > self.limits.memoryLimit / 4 * 3 {
            self.logger.warning(
                "Lua state still near its memory cap after a collection, replacing it",
                metadata: ["lua.memory_bytes": "\(vm.memoryInUse)"])
            self.vm = nil
        }
    }

    /// Bytes held by this runner's state.
    func memoryInUse() -> Int { self.vm?.memoryInUse ?? 0 }
}
