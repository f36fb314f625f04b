import Foundation
import Hooks
import JSON
import LuaHost
import TestSupport
import Testing

/// Every JSON payload of the specification survives JSON -> Lua -> JSON unchanged: the Bitrix24 bodies, the
/// JSON examples of the Mango Office manual, and the seed-shaped inputs of every hook point.
@Suite struct JSONLuaRoundTripTests {
    static func payloads() throws -> [(String, JSONValue)] {
        var result: [(String, JSONValue)] = []
        for file in try Fixtures.files(in: "bitrix24", withExtension: "json") {
            result.append((file.lastPathComponent, try JSONParser.parse(Array(try Data(contentsOf: file)))))
        }
        for file in try Fixtures.files(in: "mango", withExtension: "txt") {
            let text = try String(contentsOf: file, encoding: .utf8)
            for (i, object) in Fixtures.embeddedJSONObjects(in: text).enumerated() {
                result.append(("\(file.lastPathComponent)#\(i)", try JSONParser.parse(object)))
            }
        }
        for hook in HookPoint.allCases {
            result.append(("sample \(hook.name)", hook.sampleInput))
        }
        return result
    }

    @Test func specificationPayloadsAreEnough() throws {
        let payloads = try Self.payloads()
        #expect(payloads.filter { $0.0.hasSuffix(".json") }.count >= 20)
        #expect(payloads.filter { $0.0.contains(".txt#") }.count >= 20)
    }

    @Test func throughTheHookCodec() throws {
        let vm = try makeVM()
        for (name, value) in try Self.payloads() {
            #expect(try vm.roundTrip(value.serialized()) == value, "\(name)")
        }
    }

    @Test func throughAScriptThatEchoesItsInput() throws {
        let vm = try makeVM()
        try vm.load(
            slot: 0, chunkName: "echo.lua",
            source: Array("return function(input) return {data = input.params} end".utf8))
        for (name, value) in try Self.payloads() {
            let out = try vm.call(slot: 0, input: JSONValue.object(["params": value]).serialized())
            #expect(out["data"] == value, "\(name)")
        }
    }

    @Test func throughCallhookJSONInsideLua() throws {
        let vm = try makeVM()
        try vm.load(
            slot: 0, chunkName: "json.lua",
            source: Array(
                """
                return function(input)
                  local text = callhook.json.encode(callhook.json.decode(input.params.text))
                  return {data = callhook.json.decode(text)}
                end
                """.utf8))
        for (name, value) in try Self.payloads() {
            let out = try vm.call(
                slot: 0, input: JSONValue.object(["params": ["text": .string(value.serializedString())]]).serialized())
            #expect(out["data"] == value, "\(name)")
        }
    }
}
