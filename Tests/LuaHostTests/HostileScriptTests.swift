import InMemoryLogging
import JSON
import Logging
import LuaHost
import Testing

/// Scripts that try to hang, exhaust, escape or confuse the host. Each must end as a clear `LuaError`, with the
/// state still usable afterwards.
@Suite struct HostileScriptTests {
    func expectFailure(
        _ script: String, _ code: LuaError.Code, messageContains: String? = nil,
        limits: LuaLimits = LuaLimits(timeBudget: .milliseconds(50), memoryLimit: 8 << 20),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> LuaError {
        let vm = try makeVM(limits: limits)
        var caught: LuaError?
        do {
            _ = try vm.run(script)
        } catch {
            caught = error as? LuaError
        }
        let error = try #require(caught, "the script should have failed", sourceLocation: sourceLocation)
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let messageContains {
            #expect(error.message.contains(messageContains), "\(error)", sourceLocation: sourceLocation)
        }
        // The state survives and runs a good script.
        let ok = try vm.run("return function() return {data = {ok = true}} end", slot: 1)
        #expect(ok["data"] == ["ok": true], sourceLocation: sourceLocation)
        return error
    }

    @Test func infiniteLoopHitsTheTimeBudget() throws {
        let error = try expectFailure(
            "return function() while true do end end", .timeout, messageContains: "time budget")
        #expect(error.location == "hooks/test.lua:1")
    }

    @Test func pcallCannotSwallowTheTimeout() throws {
        _ = try expectFailure(
            """
            return function()
              while true do pcall(function() while true do end end) end
            end
            """, .timeout)
    }

    @Test func loopInsideACoroutineTimesOut() throws {
        _ = try expectFailure(
            """
            return function()
              local co = coroutine.wrap(function() while true do end end)
              while true do pcall(co) end
            end
            """, .timeout)
    }

    @Test func infiniteLoopAtLoadTimeTimesOut() throws {
        let vm = try makeVM()
        #expect {
            try vm.load(slot: 0, chunkName: "hooks/x.lua", source: Array("while true do end".utf8))
        } throws: { ($0 as? LuaError)?.code == .timeout }
    }

    @Test func stringRepBombHitsTheMemoryCap() throws {
        _ = try expectFailure(#"return function() return {data = {s = string.rep("x", 1 << 30)}} end"#, .memory)
    }

    @Test func tableGrowthHitsTheMemoryCap() throws {
        _ = try expectFailure(
            """
            return function()
              local t = {}
              for i = 1, 1e9 do t[i] = {i} end
            end
            """, .memory, limits: LuaLimits(timeBudget: .seconds(5), memoryLimit: 8 << 20))
    }

    @Test func memoryErrorsCaughtByTheScriptStillEndInTheCapOrTheBudget() throws {
        let vm = try makeVM(limits: LuaLimits(timeBudget: .milliseconds(100), memoryLimit: 8 << 20))
        do {
            _ = try vm.run(
                """
                return function()
                  local keep = {}
                  while true do pcall(function() keep[#keep + 1] = string.rep("y", 1 << 20) end) end
                end
                """)
            Issue.record("should fail")
        } catch let error as LuaError {
            #expect(error.code == .timeout || error.code == .memory)
        }
    }

    @Test func deepRecursionIsAnError() throws {
        _ = try expectFailure(
            "local function f(n) return f(n + 1) + 1 end return function() return f(1) end", .runtime,
            messageContains: "stack overflow", limits: LuaLimits(timeBudget: .seconds(5), memoryLimit: 64 << 20))
    }

    @Test func osExecuteIsNotAvailable() throws {
        _ = try expectFailure(#"return function() os.execute("touch /tmp/pwned") end"#, .runtime)
        _ = try expectFailure(#"return function() os.remove("/etc/passwd") end"#, .runtime)
        _ = try expectFailure(#"return function() os.exit(1) end"#, .runtime)
        _ = try expectFailure(#"return function() return os.getenv("HOME") end"#, .runtime)
    }

    @Test func ioIsAnUnknownGlobal() throws {
        _ = try expectFailure(
            #"return function() io.open("/etc/passwd") end"#, .runtime, messageContains: "unknown global 'io'")
    }

    @Test func requireOfFilesIsRefused() throws {
        _ = try expectFailure(#"return function() require("os2") end"#, .runtime, messageContains: "require")
        _ = try expectFailure(
            #"return function() package.loadlib("x", "y") end"#, .runtime, messageContains: "unknown global 'package'")
        _ = try expectFailure(
            #"return function() debug.getinfo(1) end"#, .runtime, messageContains: "unknown global 'debug'")
        _ = try expectFailure(#"return function() dofile("/etc/passwd") end"#, .runtime)
        _ = try expectFailure(#"return function() loadfile("/etc/passwd") end"#, .runtime)
    }

    @Test func binaryChunksAreRefused() throws {
        let error = try expectFailure(
            """
            return function()
              local f, err = load("\\27Lua\\84\\0", "x", "b")
              return {data = {}}
            end
            """, .runtime, messageContains: "only text chunks")
        #expect(error.location == "hooks/test.lua:2")
        // With mode omitted, a binary string still does not load.
        let vm = try makeVM()
        let out = try vm.run(#"return function() local f, err = load("\27Lua") return {data = {err = err}} end"#)
        #expect(out["data"]?["err"]?.stringValue?.contains("binary chunk") == true)
    }

    @Test func loadedTextChunksStayInTheSandbox() throws {
        _ = try expectFailure(
            #"return function() return load("return io")() end"#, .runtime, messageContains: "unknown global 'io'")
    }

    @Test func collectgarbageOnlyCounts() throws {
        let vm = try makeVM()
        let out = try vm.run(#"return function() return {data = {kb = collectgarbage("count") > 0}} end"#)
        #expect(out["data"] == ["kb": true])
        _ = try expectFailure(
            #"return function() collectgarbage("stop") end"#, .runtime, messageContains: "only 'count'")
    }

    @Test func librariesCannotBeModifiedForOtherScripts() throws {
        _ = try expectFailure(#"return function() string.rep = nil end"#, .runtime, messageContains: "read-only")
        _ = try expectFailure(#"return function() getmetatable("").__index = {} end"#, .runtime)
        _ = try expectFailure(#"return function() setmetatable(string, {}) end"#, .runtime)
        _ = try expectFailure(
            #"return function() rawset(string, "rep", nil) end"#, .runtime, messageContains: "unknown global 'rawset'")
        _ = try expectFailure(#"return function() string.dump(print) end"#, .runtime)
    }

    @Test func errorWithATableIsReportedAsJSON() throws {
        _ = try expectFailure(#"return function() error({code = 42}) end"#, .runtime, messageContains: #"{"code":42}"#)
    }

    @Test func errorWithNilIsReported() throws {
        _ = try expectFailure(#"return function() error() end"#, .runtime, messageContains: "nil")
    }

    @Test func returningGarbageIsABadResult() throws {
        let e1 = try expectFailure("return function() return 42 end", .badResult, messageContains: "returned number")
        #expect(e1.location == "hooks/test.lua:1")
        _ = try expectFailure("return function() return nil end", .badResult)
        _ = try expectFailure("return function() return {data = print} end", .badResult, messageContains: "result.data")
        _ = try expectFailure("return function() return {data = {x = 0/0}} end", .badResult, messageContains: "NaN")
        _ = try expectFailure("return function() return {data = {[true] = 1}} end", .badResult)
        _ = try expectFailure(
            #"return function() return {data = {s = "\xff\xfe"}} end"#, .badResult, messageContains: "UTF-8")
        _ = try expectFailure("return function() return {data = coroutine.create(print)} end", .badResult)
    }

    @Test func cyclesAreABadResult() throws {
        _ = try expectFailure(
            "return function() local t = {} t.self = t return {data = t} end", .badResult,
            messageContains: "result.data.self: the table contains itself")
    }

    @Test func yieldingOutOfTheHookIsAnError() throws {
        _ = try expectFailure("return function() coroutine.yield(1) end", .runtime, messageContains: "yield")
    }

    @Test func chunkThatDoesNotReturnAFunction() throws {
        let vm = try makeVM()
        #expect {
            try vm.load(slot: 0, chunkName: "hooks/x.lua", source: Array("return 1".utf8))
        } throws: { ($0 as? LuaError)?.code == .notAFunction }
    }

    @Test func syntaxErrorsNameTheLine() throws {
        let vm = try makeVM()
        do {
            try vm.load(slot: 0, chunkName: "hooks/x.lua", source: Array("return function()\n  local = 1\nend".utf8))
            Issue.record("should not compile")
        } catch {
            #expect(error.code == .syntax)
            #expect(error.location == "hooks/x.lua:2")
        }
    }

    @Test func gcMetamethodsAreRefused() throws {
        // Lua runs finalizers with hooks off: a looping __gc would escape the time budget, so none may be set.
        let error = try expectFailure(
            """
            return function()
              setmetatable({}, {__gc = function() error("boom in gc") end})
              return {data = {}}
            end
            """, .runtime, messageContains: "__gc metamethods are not available")
        #expect(error.location == "hooks/test.lua:2")
        _ = try expectFailure(
            "return function() setmetatable({}, {__gc = function() while true do end end}) end", .runtime,
            messageContains: "__gc")
    }

    @Test func gcFieldAddedAfterSetmetatableNeverRuns() throws {
        let log = InMemoryLogHandler()
        let vm = try makeVM(log: log)
        _ = try vm.run(
            """
            return function()
              local mt = {}
              setmetatable({}, mt)
              mt.__gc = function() while true do end end
              return {data = {}}
            end
            """)
        let clock = ContinuousClock()
        let elapsed = clock.measure { vm.collectGarbage() }
        #expect(elapsed < .seconds(1))
        let ok = try vm.run("return function() return {data = {ok = true}} end", slot: 1)
        #expect(ok["data"] == ["ok": true])
    }

    @Test func logFloodIsCapped() throws {
        let log = InMemoryLogHandler()
        let vm = try makeVM(log: log)
        _ = try vm.run("return function() for i = 1, 10000 do callhook.log.info('x') end return {data = {}} end")
        #expect(log.entries.count <= 202)
    }
}
