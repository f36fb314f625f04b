import CLuaShim
import JSON
import Logging

/// One Lua 5.4 state with the Callhook sandbox, its limits and up to `LuaVM.slotCount` loaded hook scripts.
///
/// Not thread-safe and deliberately not `Sendable`: a VM belongs to one owner (a `HookRunner` actor) that calls
/// it from one task at a time. Every call goes through the C shim, which runs all raising Lua API calls inside
/// `lua_pcall`, so no Lua error ever unwinds a Swift frame.
public final class LuaVM {
    public static let slotCount = Int(CALLHOOK_SLOTS)

    /// The Lua release Callhook is linked with, e.g. "Lua 5.4.4".
    public static var release: String { String(cString: callhook_lua_release()) }

    public let limits: LuaLimits
    public let logSink: LuaLogSink
    private let vm: OpaquePointer
    private let sinkContext: Unmanaged<LuaLogSink>

    public init(limits: LuaLimits = .default, logger: Logger) throws(LuaError) {
        self.limits = limits
        self.logSink = LuaLogSink(logger: logger)
        self.sinkContext = Unmanaged.passRetained(self.logSink)
        var options = callhook_vm_options()
        options.memory_limit = limits.memoryLimit
        options.instruction_step = Int32(clamping: limits.instructionStep)
        options.max_output = limits.maximumResultSize
        options.log_ctx = self.sinkContext.toOpaque()
        options.log_fn = { context, level, message, messageLength, fields, fieldsLength in
            guard let context else { return }
            let sink = Unmanaged<LuaLogSink>.fromOpaque(context).takeUnretainedValue()
            let text =
                message.map {
                    String(decoding: UnsafeRawBufferPointer(start: $0, count: messageLength), as: UTF8.self)
                } ?? ""
            var parsed: JSONValue?
            if let fields, fieldsLength > 0 {
                parsed = try? JSONParser.parse(UnsafeRawBufferPointer(start: fields, count: fieldsLength))
            }
            sink.log(level: level, message: text, fields: parsed)
        }
        var reason: UnsafePointer<CChar>?
        guard let vm = callhook_vm_new(&options, &reason) else {
            self.sinkContext.release()
            throw LuaError(code: .stateUnavailable, message: reason.map { String(cString: $0) } ?? "unknown")
        }
        self.vm = vm
    }

    deinit {
        callhook_vm_free(self.vm)
        self.sinkContext.release()
    }

    /// Bytes the state holds now.
    public var memoryInUse: Int { callhook_vm_memory(self.vm) }

    /// A full collection (finalizers run under a short time budget).
    public func collectGarbage() { callhook_vm_collect(self.vm) }

    /// Makes `value` (an object) the read-only `callhook.config` seen by scripts loaded from now on.
    public func setConfig(_ value: JSONValue) throws(LuaError) {
        let bytes = value.serialized(options: [])
        var outcome = callhook_outcome()
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                callhook_vm_set_config(self.vm, chars.baseAddress, chars.count, &outcome)
            }
        }
        try Self.check(outcome)
    }

    /// Compiles `source` and runs it once to get the hook function, which then lives in `slot`. On failure the
    /// slot keeps the function it had.
    ///
    /// - Parameter chunkName: how messages name the script, usually its path (`hooks/process_phone_number.lua`).
    public func load(slot: Int, chunkName: String, source: [UInt8]) throws(LuaError) {
        var outcome = callhook_outcome()
        source.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                callhook_vm_load(
                    self.vm, Int32(slot), "@" + chunkName, chars.baseAddress, chars.count,
                    self.limits.timeBudgetSeconds, &outcome)
            }
        }
        try Self.check(outcome)
    }

    /// Compiles `source` without running it.
    public func checkSyntax(chunkName: String, source: [UInt8]) throws(LuaError) {
        var outcome = callhook_outcome()
        source.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                callhook_vm_check(self.vm, "@" + chunkName, chars.baseAddress, chars.count, &outcome)
            }
        }
        try Self.check(outcome)
    }

    public func unload(slot: Int) { callhook_vm_unload(self.vm, Int32(slot)) }

    public func isLoaded(slot: Int) -> Bool { callhook_vm_loaded(self.vm, Int32(slot)) != 0 }

    /// Calls the function in `slot` with `input`, JSON text of an object (`{"params": …}`), and reads the table
    /// it returns as JSON.
    public func call(slot: Int, input: [UInt8]) throws(LuaError) -> JSONValue {
        var outcome = callhook_outcome()
        input.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                callhook_vm_call(
                    self.vm, Int32(slot), chars.baseAddress, chars.count, self.limits.timeBudgetSeconds, &outcome)
            }
        }
        try Self.check(outcome)
        return try Self.parseOutput(outcome)
    }

    /// JSON text -> Lua value -> JSON text, through the same codec hook calls use.
    public func roundTrip(_ input: [UInt8]) throws(LuaError) -> JSONValue {
        var outcome = callhook_outcome()
        input.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                callhook_vm_roundtrip(self.vm, chars.baseAddress, chars.count, &outcome)
            }
        }
        try Self.check(outcome)
        return try Self.parseOutput(outcome)
    }

    private static func parseOutput(_ outcome: callhook_outcome) throws(LuaError) -> JSONValue {
        do {
            return try JSONParser.parse(UnsafeRawBufferPointer(start: outcome.output, count: outcome.output_len))
        } catch {
            // The C encoder writes only valid JSON; reaching this is a bug worth a clear report.
            throw LuaError(code: .badResult, message: "the result could not be read back: \(error)")
        }
    }

    private static func check(_ outcome: callhook_outcome) throws(LuaError) {
        let code: LuaError.Code
        switch outcome.status {
        case CALLHOOK_OK: return
        case CALLHOOK_ERR_SYNTAX: code = .syntax
        case CALLHOOK_ERR_RUNTIME: code = .runtime
        case CALLHOOK_ERR_TIMEOUT: code = .timeout
        case CALLHOOK_ERR_MEMORY: code = .memory
        case CALLHOOK_ERR_RESULT: code = .badResult
        case CALLHOOK_ERR_INPUT: code = .badInput
        case CALLHOOK_ERR_NOT_LOADED: code = .notLoaded
        case CALLHOOK_ERR_NOT_A_FUNCTION: code = .notAFunction
        default: code = .runtime
        }
        let message = String(
            decoding: UnsafeRawBufferPointer(start: outcome.message, count: outcome.message_len), as: UTF8.self)
        let location = outcome.where.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        let traceback = outcome.traceback.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        throw LuaError(code: code, message: message, location: location, traceback: traceback)
    }
}
