import Foundation
import Hooks
import JSON
import Logging
import LuaHost
import Testing

@Suite struct HookTestSuiteTests {
    func writeCase(_ dir: ScriptDirectory, _ hook: HookPoint, _ name: String, _ json: String) throws {
        let folder = dir.path + "/tests/" + hook.rawValue
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try json.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
    }

    func run(_ dir: ScriptDirectory) async throws -> (HookTestSuite, [HookTestOutcome]) {
        let suite = HookTestSuite.load(directory: dir.path)
        let outcomes = try await suite.run(
            directory: dir.path, settings: try HookSettings(), limits: .default, logger: Logger(label: "t"))
        return (suite, outcomes)
    }

    @Test func passingAndFailingCasesWithADiff() async throws {
        let dir = try ScriptDirectory()
        try dir.write(
            .processPhoneNumber, #"return function(i) return {data = {phone = "8" .. i.params.phone:sub(-10)}} end"#)
        try self.writeCase(
            dir, .processPhoneNumber, "a_pass.json",
            #"""
            {"input": {"params": {"phone": "+79161234567"}}, "expected": {"data": {"phone": "89161234567"}}}
            """#)
        try self.writeCase(
            dir, .processPhoneNumber, "b_fail.json",
            #"""
            {"description": "wants +7", "input": {"params": {"phone": "89161234567"}},
             "expected": {"data": {"phone": "+79161234567"}}}
            """#)
        let (_, outcomes) = try await self.run(dir)
        #expect(outcomes.map(\.passed) == [true, false])
        #expect(
            outcomes[1].differences.map(\.description) == [#"data.phone: expected "+79161234567", got "89161234567""#])
        #expect(outcomes[1].testCase.description == "wants +7")
    }

    @Test func aFailingScriptFailsItsCaseWithTheReason() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processFinalParams, "return function() error('no finish today') end")
        try self.writeCase(
            dir, .processFinalParams, "x.json",
            #"""
            {"input": {"params": {"CALL_ID": "c"}}, "expected": {"data": {"CALL_ID": "c"}}}
            """#)
        let (_, outcomes) = try await self.run(dir)
        #expect(outcomes.count == 1)
        #expect(!outcomes[0].passed, "the default's output matches, but the script failed")
        #expect(outcomes[0].failure?.message == "no finish today")
    }

    @Test func actionsAreComparedAndConfigOverridesApply() async throws {
        let dir = try ScriptDirectory()
        try dir.write(
            .processSearchParams,
            #"""
            return function(i)
              if callhook.config.skip then return {data = i.params, action = "ignore"} end
              return {data = i.params}
            end
            """#)
        try self.writeCase(
            dir, .processSearchParams, "ignored.json",
            #"""
            {"config": {"skip": true}, "input": {"params": {"PHONE_NUMBER": "1"}},
             "expected": {"data": {"PHONE_NUMBER": "1"}, "action": "ignore"}}
            """#)
        try self.writeCase(
            dir, .processSearchParams, "registered.json",
            #"""
            {"input": {"params": {"PHONE_NUMBER": "1"}}, "expected": {"data": {"PHONE_NUMBER": "1"}, "action": "ignore"}}
            """#)
        let (_, outcomes) = try await self.run(dir)
        #expect(outcomes.map(\.passed) == [true, false])
        #expect(outcomes[1].differences.map(\.description) == [#"action: missing, expected "ignore""#])
    }

    @Test func casesForHookPointsWithoutAScriptTestTheDefault() async throws {
        let dir = try ScriptDirectory()
        try self.writeCase(
            dir, .needRegistration, "internal.json",
            #"""
            {"input": {"params": {"conversation": {"from": "101", "to": "102", "from_local": true, "to_local": true, "type": 1}}},
             "expected": {"data": {"result": false}}}
            """#)
        let (_, outcomes) = try await self.run(dir)
        #expect(outcomes.first?.passed == true)
        #expect(outcomes.first?.usedBuiltin == true)
    }

    @Test func badCaseFilesAreReported() async throws {
        let dir = try ScriptDirectory()
        try self.writeCase(dir, .processPhoneNumber, "broken.json", "{")
        try self.writeCase(dir, .processPhoneNumber, "no_expected.json", #"{"input": {"params": {}}}"#)
        try FileManager.default.createDirectory(
            atPath: dir.path + "/tests/proces_phone_number", withIntermediateDirectories: true)
        let suite = HookTestSuite.load(directory: dir.path)
        #expect(suite.cases.isEmpty)
        #expect(
            suite.problems.map(\.file) == [
                "tests/proces_phone_number", "tests/process_phone_number/broken.json",
                "tests/process_phone_number/no_expected.json",
            ])
        #expect(suite.problems[0].message.contains("did you mean process_phone_number.lua"))
    }

    /// The examples shipped in hooks/ pass their own test cases.
    @Test func shippedExamplesPassTheirCases() async throws {
        let hooks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("hooks").path
        let suite = HookTestSuite.load(directory: hooks)
        #expect(suite.problems.isEmpty)
        #expect(suite.cases.count >= 12)
        let outcomes = try await suite.run(
            directory: hooks, settings: try HookSettings(), limits: .default, logger: Logger(label: "t"))
        for outcome in outcomes where !outcome.passed {
            Issue.record("\(outcome.testCase.name): \(outcome.differences) \(String(describing: outcome.failure))")
        }
        #expect(Set(outcomes.map(\.testCase.hook)).count >= 6)
    }
}
