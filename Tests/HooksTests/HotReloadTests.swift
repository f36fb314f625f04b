import Hooks
import JSON
import LuaHost
import Testing

@Suite struct HotReloadTests {
    let script1 = #"return function() return {data = {phone = "v1"}} end"#
    let script2 = #"return function() return {data = {phone = "v2"}} end"#

    @Test func aChangedScriptGoesIntoServiceWithoutARestart() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processPhoneNumber, self.script1)
        let f = try await makeEngine(directory: dir.path, workers: 2)
        #expect(await f.engine.run(.processPhoneNumber, params: ["phone": "1"]).output.data == ["phone": "v1"])
        try dir.write(.processPhoneNumber, self.script2)
        let changes = await f.engine.refreshScripts()
        #expect(changes.count == 1)
        for _ in 0..<4 {  // every worker of the pool has the new version
            #expect(await f.engine.run(.processPhoneNumber, params: ["phone": "1"]).output.data == ["phone": "v2"])
        }
    }

    @Test func aBrokenNewVersionKeepsThePreviousInServiceAndSaysSo() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processPhoneNumber, self.script1)
        let f = try await makeEngine(directory: dir.path)
        try dir.write(.processPhoneNumber, "return function( broken")
        let changes = await f.engine.refreshScripts()
        guard case .failed(let hook, _, let error, let kept)? = changes.first else {
            Issue.record("expected a failed change, got \(changes)")
            return
        }
        #expect(hook == .processPhoneNumber)
        #expect(error.code == .syntax)
        #expect(kept != nil)
        #expect(await f.engine.run(.processPhoneNumber, params: ["phone": "1"]).output.data == ["phone": "v1"])
        let status = await f.engine.catalog.status(of: .processPhoneNumber)
        guard case .failed(_, _, let serving) = status else {
            Issue.record("expected failed status")
            return
        }
        #expect(serving?.source == Array(self.script1.utf8))
        #expect(f.log.entries.contains { $0.message.description.contains("previous version stays in service") })
        // Fixing it puts the fix in service.
        try dir.write(.processPhoneNumber, self.script2)
        await f.engine.refreshScripts()
        #expect(await f.engine.run(.processPhoneNumber, params: ["phone": "1"]).output.data == ["phone": "v2"])
    }

    @Test func aScriptThatFailsAtTheTopLevelIsRejectedLikeASyntaxError() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processPhoneNumber, "error('not today')")
        let f = try await makeEngine(directory: dir.path)
        #expect(await f.engine.run(.processPhoneNumber, params: ["phone": "89161234567"]).source == .builtin)
        guard case .failed(_, let error, nil) = await f.engine.catalog.status(of: .processPhoneNumber) else {
            Issue.record("expected failed status")
            return
        }
        #expect(error.code == .runtime)
    }

    @Test func removingAScriptRestoresTheDefault() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processPhoneNumber, self.script1)
        let f = try await makeEngine(directory: dir.path)
        try dir.remove(.processPhoneNumber)
        #expect(await f.engine.refreshScripts() == [.removed(.processPhoneNumber)])
        #expect(
            await f.engine.run(.processPhoneNumber, params: ["phone": "89161234567"]).output.data == [
                "phone": "+79161234567"
            ])
    }

    @Test func theWatcherPicksUpChangesByItself() async throws {
        let dir = try ScriptDirectory()
        try dir.write(.processPhoneNumber, self.script1)
        let f = try await makeEngine(directory: dir.path, reloadInterval: .milliseconds(50))
        let watcher = Task { await f.engine.watchScripts() }
        defer { watcher.cancel() }
        try dir.write(.processPhoneNumber, self.script2)
        var seen: JSONValue?
        for _ in 0..<100 {
            seen = await f.engine.run(.processPhoneNumber, params: ["phone": "1"]).output.data
            if seen == ["phone": "v2"] { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(seen == ["phone": "v2"])
    }

    @Test func unknownFileNamesGetTheNearestHookName() async throws {
        let dir = try ScriptDirectory()
        try dir.write(file: "proces_phone_number.lua", self.script1)
        try dir.write(file: "get_updated_lead_fields.lua", self.script1)
        try dir.write(file: "process_final_params.php", "<?php")
        try dir.write(file: "notes.lua", "")
        let f = try await makeEngine(directory: dir.path)
        let unknown = await f.engine.catalog.unknownFiles
        #expect(
            unknown.map(\.fileName) == [
                "get_updated_lead_fields.lua", "notes.lua", "proces_phone_number.lua", "process_final_params.php",
            ])
        #expect(unknown[0].suggestion == HookNameSuggestion(hook: .getUpdatedEntityFields, why: .legacy))
        #expect(unknown[1].suggestion == nil)
        #expect(unknown[2].suggestion == HookNameSuggestion(hook: .processPhoneNumber, why: .typo))
        #expect(unknown[3].suggestion == HookNameSuggestion(hook: .processFinalParams, why: .php))
        #expect(f.log.entries.filter { $0.message.description.contains("not a hook script") }.count == 4)
    }
}
