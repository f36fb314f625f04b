import Hooks
import JSON
import LuaHost
import MetricsTestKit
import Testing

@Suite struct HookEngineTests {
    @Test func noScriptRunsTheBuiltinDefault() async throws {
        let f = try await makeEngine(directory: nil)
        let result = await f.engine.run(.processPhoneNumber, params: ["phone": "8 (916) 123-45-67"])
        #expect(result.source == .builtin)
        #expect(result.output.data == ["phone": "+79161234567"])
        #expect(
            try f.metrics.expectCounter(
                "callhook_hook_runs_total", [("hook", "process_phone_number"), ("outcome", "builtin")]
            ).values == [1])
    }

    @Test func aScriptOverridesTheDefault() async throws {
        let dir = try ScriptDirectory()
        try dir.write(
            .processPhoneNumber,
            #"return function(i) return {data = {phone = "8" .. i.params.phone:sub(-10)}, state = "success"} end"#)
        let f = try await makeEngine(directory: dir.path)
        let result = await f.engine.run(.processPhoneNumber, params: ["phone": "+79161234567"], callID: "c1")
        #expect(result.source == .script(path: dir.path + "/process_phone_number.lua"))
        #expect(result.output.data == ["phone": "89161234567"])
        #expect(result.decision == .proceed(["phone": "89161234567"]))
    }

    @Test func aFailingScriptFallsBackLogsOneLineAndCounts() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processPhoneNumber, "return function(i)\n  local x = nil\n  return x.y\nend\n")
        let f = try await makeEngine(directory: dir.path)
        let result = await f.engine.run(
            .processPhoneNumber, params: ["phone": "89161234567"], callID: "1764058502.1042")
        #expect(result.output.data == ["phone": "+79161234567"], "the built-in default's output")
        let failure = try #require(result.failure)
        #expect(failure.reason == .runtime)
        #expect(failure.location == dir.path + "/process_phone_number.lua:3")
        #expect(failure.message.contains("attempt to index a nil value"))
        let lines = f.log.entries.filter { $0.message.description.contains("hook script failed") }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.level == .warning)
        #expect(line.metadata["hook.name"] == "process_phone_number")
        #expect(line.metadata["call.id"] == "1764058502.1042")
        #expect(line.metadata["hook.error"] == "runtime_error")
        #expect(line.metadata["hook.source"] == .string(dir.path + "/process_phone_number.lua:3"))
        #expect(
            try f.metrics.expectCounter(
                "callhook_hook_failures_total", [("hook", "process_phone_number"), ("reason", "runtime_error")]
            ).values == [1])
        #expect(
            try f.metrics.expectCounter(
                "callhook_hook_runs_total", [("hook", "process_phone_number"), ("outcome", "fallback")]
            ).values == [1])
    }

    @Test(arguments: [
        ("return function() while true do end end", "timeout"),
        ("return function() local t = {} while true do t[#t+1] = string.rep('x', 1024) end end", "memory_limit"),
        ("return function() return 'garbage' end", "bad_result"),
        ("return function() return {state = 'success'} end", "invalid_result"),
        ("return function() return {data = {result = 'yes'}} end", "invalid_result"),
        ("return function() return {data = {result = true}, state = 'error'} end", "invalid_result"),
        ("return function() return {data = {result = true}, action = 'delete'} end", "invalid_result"),
        ("return function() coroutine.yield() end", "runtime_error"),
    ])
    func everyKindOfFailureIsContained(script: String, reason: String) async throws {
        let dir = try ScriptDirectory()
        try dir.write(.needRegistration, script)
        let f = try await makeEngine(
            directory: dir.path, limits: LuaLimits(timeBudget: .milliseconds(30), memoryLimit: 4 << 20), workers: 1)
        let params = HookPoint.needRegistration.sampleParams
        let result = await f.engine.run(.needRegistration, params: params, callID: "x")
        #expect(result.failure?.reason.name == reason, "\(String(describing: result.failure))")
        #expect(result.decision == .proceed(["result": true]), "the default registers the sample call")
        // The engine keeps working for the next call.
        let again = await f.engine.run(.processPhoneNumber, params: ["phone": "89161234567"])
        #expect(again.output.data == ["phone": "+79161234567"])
    }

    @Test func actionsBecomeTypedDecisions() async throws {
        let dir = try ScriptDirectory()
        try dir.write(
            .processSearchParams,
            #"return function(i) return {data = i.params, action = "ignore", state = "success"} end"#)
        try dir.write(.processFinalParams, #"return function(i) return {data = i.params, action = "delete"} end"#)
        try dir.write(.needRegistration, "return function() return {data = {result = false}, state = 'success'} end")
        try dir.write(.processRegistrationParams, "return function() return {data = {}, state = 'success'} end")
        try dir.write(.processTaskCreationParams, "return function() return {data = callhook.null} end")
        try dir.write(.processEntityCreationParams, "return function() return {data = callhook.array()} end")
        let f = try await makeEngine(directory: dir.path)
        func decision(_ hook: HookPoint) async -> HookDecision {
            await f.engine.run(hook, params: hook.sampleParams).decision
        }
        #expect(await decision(.processSearchParams) == .ignore)
        #expect(await decision(.processFinalParams) == .delete)
        #expect(await decision(.needRegistration) == .skip)
        #expect(await decision(.processRegistrationParams) == .cancel)
        #expect(await decision(.processTaskCreationParams) == .cancel)
        #expect(await decision(.processEntityCreationParams) == .cancel)
    }

    @Test func proceedDropsContextKeys() async throws {
        let f = try await makeEngine(directory: nil)
        let result = await f.engine.run(.processFinalParams, params: HookPoint.processFinalParams.sampleParams)
        guard case .proceed(let fields) = result.decision else {
            Issue.record("expected proceed")
            return
        }
        #expect(
            fields == [
                "ADD_TO_CHAT": 1, "CALL_ID": "externalCall.716f1cb73def9700a23842adf9c4c568.1773130779",
                "DURATION": 155, "STATUS_CODE": 200, "USER_ID": 1,
            ])
    }

    @Test func searchFilterIsReadFromProcessSearchParams() async throws {
        let dir = try ScriptDirectory()
        try dir.write(
            .processSearchParams,
            #"return function(i) return {data = i.params, filter = {contact = {ASSIGNED_BY_ID = 7}}} end"#)
        let f = try await makeEngine(directory: dir.path)
        let result = await f.engine.run(.processSearchParams, params: HookPoint.processSearchParams.sampleParams)
        #expect(result.output.filter == ["contact": ["ASSIGNED_BY_ID": 7]])
    }

    @Test func scriptsSeeTheHookSettingsAsCallhookConfig() async throws {
        let dir = try ScriptDirectory()
        try dir.write(
            .processOriginateParams,
            "return function(i) i.params.context = callhook.config.originate.context return {data = i.params} end")
        let f = try await makeEngine(directory: dir.path, settings: ["originate": ["context": "from-sales"]])
        let result = await f.engine.run(.processOriginateParams, params: HookPoint.processOriginateParams.sampleParams)
        #expect(result.output.data["context"] == "from-sales")
    }

    @Test func parallelCallsAcrossThePoolAllSucceed() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processPhoneNumber, #"return function(i) return {data = {phone = i.params.phone .. "!"}} end"#)
        let f = try await makeEngine(directory: dir.path, workers: 3)
        let outputs = await withTaskGroup(of: JSONValue.self) { group in
            for i in 0..<300 {
                group.addTask {
                    await f.engine.run(.processPhoneNumber, params: ["phone": .string("\(i)")]).output.data
                }
            }
            var all: [JSONValue] = []
            for await output in group { all.append(output) }
            return all
        }
        #expect(Set(outputs) == Set((0..<300).map { JSONValue.object(["phone": .string("\($0)!")]) }))
    }
}
