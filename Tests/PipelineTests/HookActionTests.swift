import Foundation
import Hooks
import JSON
import Sandboxes
import Store
import Testing

/// Each hook action of the contract, end to end: what the script returns changes what reaches the portal.
@Suite struct HookActionTests {
    static func answered(_ rig: Rig, from caller: String, start: Double) async {
        var script = CallScript(start: start)
        script.answeredIncoming(from: caller, did: "74951234567", extension: "101", talk: 30)
        await rig.play(&script)
    }

    /// need_registration returning `result = false`: the call never reaches the CRM.
    @Test func needRegistrationFalseLeavesTheCallOut() async throws {
        let script = """
            return function(input)
              local c = input.params.conversation
              return {data = {result = c.from ~= "+79990000001"}, state = "success"}
            end
            """
        try await withRig(hooks: ["need_registration": script]) { rig in
            await Self.answered(rig, from: "+79990000001", start: 1_764_060_000)
            await Self.answered(rig, from: "+79990000002", start: 1_764_060_100)
            let state = await rig.waitFor("the second call") {
                Rig.calls($0).first?["finish"].map { !$0.isNull } == true
            }
            #expect(Rig.calls(state).map { $0["PHONE_NUMBER"] } == ["+79990000002"])
            #expect(Rig.requests(state, "telephony.externalcall.searchcrmentities").count <= 1)
            let operations = try await rig.settled()
            #expect(operations.filter { $0.callID == "1764060000.1" }.allSatisfy { $0.status == .cancelled })
        }
    }

    /// process_search_params with `action = "ignore"`: not registered, nothing searched.
    @Test func searchParamsIgnore() async throws {
        let script = """
            return function(input)
              local p = input.params
              if p.PHONE_NUMBER == "+79990000003" then return {data = p, action = "ignore", state = "success"} end
              return {data = p, state = "success"}
            end
            """
        try await withRig(hooks: ["process_search_params": script]) { rig in
            await Self.answered(rig, from: "89990000003", start: 1_764_060_200)
            _ = try await rig.settled()
            let state = await rig.state()
            #expect(Rig.calls(state).isEmpty)
            #expect((state["requests"]?.arrayValue ?? []).allSatisfy { $0["method"] == "user.get" })
        }
    }

    /// process_search_params with `filter`: the client is looked up with the script's filter instead of the number.
    @Test func searchParamsFilter() async throws {
        let script = """
            return function(input)
              return {data = input.params, filter = {company = {TITLE = "ООО «Ромашка»"}}, state = "success"}
            end
            """
        try await withRig(hooks: ["process_search_params": script]) { rig in
            await Self.answered(rig, from: "+79990000004", start: 1_764_060_300)
            let state = await rig.waitFor("the call") { Rig.calls($0).first?["finish"].map { !$0.isNull } == true }
            #expect(Rig.calls(state).first?["CRM_ENTITY_TYPE"] == "COMPANY")
            #expect(text(Rig.calls(state).first?["CRM_ENTITY_ID"]) == "12")
            #expect(Rig.requests(state, "crm.company.list").count == 1)
        }
    }

    /// Empty `data` from process_registration_params cancels the registration: no card, no call in the CRM.
    @Test func emptyRegistrationParamsCancel() async throws {
        let script = "return function(input) return {data = {}, state = \"success\"} end"
        try await withRig(hooks: ["process_registration_params": script]) { rig in
            await Self.answered(rig, from: "+79990000005", start: 1_764_060_400)
            let operations = try await rig.settled()
            #expect(Rig.calls(await rig.state()).isEmpty)
            #expect(operations.first { $0.kind == "register" }?.status == .cancelled)
            #expect(
                operations.first { $0.kind == "register" }?.lastError?.contains("process_registration_params") == true)
            // process_entity_creation_params asked for the lead, so it is made all the same.
            #expect(await rig.state()["leads"]?.arrayValue?.count == 1)
        }
    }

    /// For a number Callhook makes a lead for, process_registration_params sees the entity's type but no id yet
    /// (the lead and the registration go to the portal together); the call is bound to the new lead.
    @Test func registrationParamsOfANewLead() async throws {
        let script = """
            return function(input)
              local p = input.params
              p.LINE_NUMBER = tostring(p.CRM_ENTITY_TYPE) .. "/" .. tostring(p.CRM_ENTITY_ID)
              return {data = p, state = "success"}
            end
            """
        try await withRig(hooks: ["process_registration_params": script]) { rig in
            await Self.answered(rig, from: "+79990000015", start: 1_764_060_450)
            let state = await rig.waitFor("the call") { Rig.calls($0).first?["finish"].map { !$0.isNull } == true }
            let call = try #require(Rig.calls(state).first)
            let lead = try #require(state["leads"]?.arrayValue?.first)
            #expect(call["LINE_NUMBER"] == "LEAD/nil")
            #expect(call["CRM_ENTITY_TYPE"] == "LEAD")
            #expect(text(call["CRM_ENTITY_ID"]) == lead["ID"]?.scalarText)
        }
    }

    /// Empty `data` from process_entity_creation_params: no lead, and the call is registered without one.
    @Test func emptyEntityCreationCancelsTheLead() async throws {
        let script = "return function(input) return {data = {}, state = \"success\"} end"
        try await withRig(hooks: ["process_entity_creation_params": script]) { rig in
            await Self.answered(rig, from: "+79990000006", start: 1_764_060_500)
            let state = await rig.waitFor("the call") { Rig.calls($0).first?["finish"].map { !$0.isNull } == true }
            #expect(state["leads"]?.arrayValue?.isEmpty == true)
            #expect(text(Rig.calls(state).first?["CRM_CREATE"]) == "0")
            #expect(Rig.calls(state).first?["CRM_ENTITY_TYPE"] == .null)
        }
    }

    /// process_final_params with `action = "delete"`: finished, then the call's activity is removed; changed
    /// fields are sent as changed.
    @Test func finalParamsDeleteAndChange() async throws {
        let script = """
            return function(input)
              local p = input.params
              p.conversation = nil
              p.entity_data = nil
              if p.STATUS_CODE == "200" then
                p.ADD_TO_CHAT = 0
                return {data = p, state = "success"}
              end
              return {data = p, action = "delete", state = "success"}
            end
            """
        try await withRig(hooks: ["process_final_params": script]) { rig in
            await Self.answered(rig, from: "+79161234567", start: 1_764_060_600)
            var missed = CallScript(start: 1_764_060_700)
            missed.missedIncoming(from: "+79035551234", did: "74951234567", extensions: ["101"])
            await rig.play(&missed)
            _ = try await rig.settled()
            let state = await rig.state()
            let calls = Rig.calls(state)
            #expect(calls.count == 2)
            #expect(text(calls.first { $0["PHONE_NUMBER"] == "+79161234567" }?["finish"]?["ADD_TO_CHAT"]) == "0")
            let activities = state["activities"]?.arrayValue ?? []
            #expect(activities.count == 1, "the missed call's activity was deleted")
            #expect(activities.first?["OWNER_ID"] == "797")
            #expect(Rig.requests(state, "crm.activity.delete").count == 1)
            #expect(state["tasks"]?.arrayValue?.isEmpty == true, "a deleted call makes no task")
        }
    }

    /// get_updated_activity_fields and get_updated_entity_fields: the activity and the lead Callhook created
    /// get the script's fields at the end of the call.
    @Test func updatedActivityAndEntityFields() async throws {
        let activity = """
            return function(input)
              return {data = {DESCRIPTION = "Разговор " .. input.params.from}, state = "success"}
            end
            """
        let entity = """
            return function(input)
              local n = 0
              for _ in pairs(input.params.conversations) do n = n + 1 end
              return {data = {COMMENTS = "разговоров: " .. n}, state = "success"}
            end
            """
        try await withRig(hooks: ["get_updated_activity_fields": activity, "get_updated_entity_fields": entity]) {
            rig in
            await Self.answered(rig, from: "+79990000007", start: 1_764_060_800)
            _ = try await rig.settled()
            let state = await rig.state()
            #expect(state["activities"]?[0]?["DESCRIPTION"] == "Разговор +79990000007")
            #expect(state["leads"]?[0]?["COMMENTS"] == "разговоров: 1")
        }
    }

    /// The registration's look-up (need_registration → process_phone_number → process_search_params → search →
    /// get_search_filter) starts from the ring itself, before the ring is committed; the registration uses it.
    /// Each hook still runs once per call and in the scheme's order, and the search is made once. (Without the
    /// search at the call's arrival, which runs the hooks before the search once more: `SearchAheadTests`.)
    @Test func theRingsLookUpRunsOnceAndInOrder() async throws {
        let echo = "return function(input) return {data = input.params, state = \"success\"} end"
        try await withRig(
            hooks: ["process_search_params": echo, "get_search_filter": echo], settings: { $0.searchAhead = false }
        ) { rig in
            var script = CallScript(start: 1_764_061_000)
            let trunk = script.incoming(from: "+79161234567", did: "74951234567")
            let phone = script.phone("101", in: trunk)
            script.ring(trunk, phone)
            await rig.play(&script)
            let state = await rig.waitFor("the registration") { !Rig.calls($0).isEmpty }
            let call = try #require(Rig.calls(state).first)
            #expect(call["CRM_ENTITY_TYPE"] == "CONTACT", "the known client, found by the search")
            #expect(text(call["USER_ID"]) == "1", "the card for the phone that rang")
            #expect(Rig.requests(state, "telephony.externalcall.searchcrmentities").count == 1)
            script.answer(trunk, phone, bridge: "b1", after: 3)
            script.hangup(trunk, after: 20)
            script.hangup(phone, after: 0)
            await rig.play(&script)
            _ = try await rig.settled()
            let lookUp: [HookPoint] = [.needRegistration, .processPhoneNumber, .processSearchParams, .getSearchFilter]
            let ran = rig.deliveries.all.compactMap { event -> HookPoint? in
                if case .hook(_, let hook, _, _) = event, lookUp.contains(hook) { return hook }
                return nil
            }
            #expect(ran == lookUp)
            #expect(Rig.requests(await rig.state(), "telephony.externalcall.searchcrmentities").count == 1)
        }
    }

    /// A script that fails (here: it errors on every call) is replaced by the built-in default: the call still
    /// reaches the CRM, shaped by the default.
    @Test func aBrokenScriptFallsBackToTheDefault() async throws {
        let script = "return function(input) error(\"boom\") end"
        try await withRig(hooks: ["process_phone_number": script, "process_registration_params": script]) { rig in
            await Self.answered(rig, from: "89161234567", start: 1_764_060_900)
            let state = await rig.waitFor("the call") { Rig.calls($0).first?["finish"].map { !$0.isNull } == true }
            #expect(Rig.calls(state).first?["PHONE_NUMBER"] == "+79161234567", "the built-in normalisation")
            let sources = rig.deliveries.all.compactMap { event -> String? in
                if case .hook(_, let hook, let source, _) = event, hook == .processPhoneNumber { return source }
                return nil
            }
            // It ran for the ring, and for the call's arrival if the search ahead began before the ring (the
            // call is played at once), and failed each time.
            #expect((1...2).contains(sources.count))
            #expect(sources.allSatisfy { $0 == "built-in (the script failed)" })
        }
    }
}
