import InMemoryLogging
import JSON
import Logging
import LuaHost
import Testing

func makeVM(
    limits: LuaLimits = LuaLimits(timeBudget: .milliseconds(50)),
    log: InMemoryLogHandler = InMemoryLogHandler()
) throws -> LuaVM {
    var handler = log
    handler.logLevel = .trace
    let logger = Logger(label: "test", factory: { _ in handler })
    return try LuaVM(limits: limits, logger: logger)
}

extension LuaVM {
    func run(_ script: String, _ input: JSONValue = ["params": [:]], slot: Int = 0) throws -> JSONValue {
        try self.load(slot: slot, chunkName: "hooks/test.lua", source: Array(script.utf8))
        return try self.call(slot: slot, input: input.serialized())
    }
}

@Suite struct LuaVMTests {
    @Test func callsAHookWithItsInputAndReadsItsResult() throws {
        let vm = try makeVM()
        let out = try vm.run(
            """
            return function(input)
              local phone = input.params.phone:gsub("^8", "7")
              return {data = {phone = phone}, state = "success"}
            end
            """, ["params": ["phone": "89161234567"]])
        #expect(out == ["data": ["phone": "79161234567"], "state": "success"])
    }

    @Test func mapsJSONTypesFaithfully() throws {
        let vm = try makeVM()
        let out = try vm.run(
            """
            return function(input)
              local p = input.params
              return {data = {
                int_is_integer = math.type(p.big) == "integer",
                float_is_float = math.type(p.one) == "float",
                null_is_sentinel = p.nothing == callhook.null,
                null_prints = tostring(p.nothing),
                empty_array_len = #p.empty_array,
                echo = p,
              }}
            end
            """,
            [
                "params": [
                    "big": .integer(83_432_872_875), "one": .double(1.0), "nothing": .null,
                    "empty_array": [], "empty_object": [:], "name": "Виталий Калинин ☎ 😀",
                    "nested": ["a": [1, 2.5, "x", .null, true]],
                ]
            ])
        let data = try #require(out["data"])
        #expect(data["int_is_integer"] == true)
        #expect(data["float_is_float"] == true)
        #expect(data["null_is_sentinel"] == true)
        #expect(data["null_prints"] == "null")
        #expect(data["empty_array_len"] == 0)
        #expect(
            data["echo"] == [
                "big": .integer(83_432_872_875), "one": .double(1.0), "nothing": .null,
                "empty_array": [], "empty_object": [:], "name": "Виталий Калинин ☎ 😀",
                "nested": ["a": [1, 2.5, "x", .null, true]],
            ])
    }

    @Test func tablesBuiltInLuaBecomeArraysOrObjects() throws {
        let vm = try makeVM()
        let out = try vm.run(
            """
            return function()
              local list = {}
              for i = 1, 3 do list[#list + 1] = i * 10 end
              return {data = {
                list = list, empty = {}, marked = callhook.array(), mixed = {[1] = "a", x = "b"},
                sparse_marked = callhook.array({[1] = "a", [3] = "c"}), float3 = 3.0, huge = math.maxinteger,
              }}
            end
            """)
        #expect(
            out["data"] == [
                "list": [10, 20, 30], "empty": [:], "marked": [], "mixed": ["1": "a", "x": "b"],
                "sparse_marked": ["a", .null, "c"], "float3": .double(3.0), "huge": .integer(Int64.max),
            ])
    }

    @Test func globalsDoNotLeakBetweenCallsButChunkLocalsPersist() throws {
        let vm = try makeVM()
        let script = """
            local calls = 0
            return function()
              calls = calls + 1
              local seen = rawget(_ENV, "leftover")
              leftover = "set"
              return {data = {calls = calls, saw_leftover = seen ~= nil}}
            end
            """
        let first = try vm.run(script)
        let second = try vm.call(slot: 0, input: JSONValue.object(["params": [:]]).serialized())
        #expect(first["data"] == ["calls": 1, "saw_leftover": false])
        #expect(second["data"] == ["calls": 2, "saw_leftover": false])
    }

    @Test func configIsReadOnlyAndVisible() throws {
        let vm = try makeVM()
        try vm.setConfig(["lists": ["deny": ["101", "102"]], "limit": 3])
        let out = try vm.run(
            """
            return function()
              local deny = callhook.config.lists.deny
              local n = 0
              for _, v in ipairs(deny) do n = n + 1 end
              local ok, err = pcall(function() callhook.config.limit = 5 end)
              local ok2 = pcall(function() deny[1] = "x" end)
              return {data = {n = n, len = #deny, first = deny[1], limit = callhook.config.limit,
                              write_refused = not ok and err:find("read%-only") ~= nil, nested_refused = not ok2,
                              encoded = callhook.json.decode(callhook.json.encode(callhook.config.lists))}}
            end
            """)
        #expect(
            out["data"] == [
                "n": 2, "len": 2, "first": "101", "limit": 3, "write_refused": true, "nested_refused": true,
                "encoded": ["deny": ["101", "102"]],
            ])
    }

    @Test func jsonModuleRoundTripsAndReportsBadText() throws {
        let vm = try makeVM()
        let out = try vm.run(
            """
            return function()
              local v = callhook.json.decode('{"a":[1,2.0,null,{}],"b":"\\\\u0416"}')
              local ok, err = pcall(callhook.json.decode, '{"a":')
              return {data = {v = v, text = callhook.json.encode({1, 2}), err = err}}
            end
            """)
        #expect(out["data"]?["v"] == ["a": [1, 2.0, .null, [:]], "b": "Ж"])
        #expect(out["data"]?["text"] == "[1,2]")
        #expect(out["data"]?["err"]?.stringValue?.contains("unexpected end of input") == true)
    }

    @Test func scriptLogsGoToSwiftLogWithFields() throws {
        let log = InMemoryLogHandler()
        let vm = try makeVM(log: log)
        vm.logSink.metadata = ["hook.name": "process_phone_number", "call.id": "1550838797.13013"]
        _ = try vm.run(
            """
            return function()
              callhook.log.warn("odd number", {digits = 9})
              print("hello", 42)
              return {data = {}}
            end
            """)
        let entries = log.entries
        #expect(entries.count == 2)
        #expect(entries[0].level == .warning)
        #expect(entries[0].message == "odd number")
        #expect(entries[0].metadata["digits"] == "9")
        #expect(entries[0].metadata["hook.name"] == "process_phone_number")
        #expect(entries[0].metadata["call.id"] == "1550838797.13013")
        #expect(entries[1].level == .info)
        #expect(entries[1].message == "hello\t42")
    }

    @Test func aFailedReloadKeepsThePreviousFunction() throws {
        let vm = try makeVM()
        _ = try vm.run("return function() return {data = {v = 1}} end")
        #expect(throws: LuaError.self) {
            try vm.load(slot: 0, chunkName: "hooks/test.lua", source: Array("return function( oops".utf8))
        }
        let out = try vm.call(slot: 0, input: JSONValue.object(["params": [:]]).serialized())
        #expect(out["data"] == ["v": 1])
    }

    @Test func roundTripKeepsEveryJSONValue() throws {
        let vm = try makeVM()
        let value: JSONValue = [
            "i": .integer(-9_223_372_036_854_775_807), "f": .double(0.1), "e": .double(1e300),
            "s": "tab\t\"quote\" \\ / \u{1} ✓", "a": [[], [:], [[.null]]],
        ]
        #expect(try vm.roundTrip(value.serialized()) == value)
    }
}
