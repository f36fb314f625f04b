import Foundation
import Hooks
import JSON
import Pipeline
import Sandboxes
import Testing

/// The client search of an incoming call starts when the call arrives on the trunk, before a phone rings, and the
/// ring's registration uses its answer when it asks exactly the same.
@Suite struct SearchAheadTests {
    static let searchMethod = "telephony.externalcall.searchcrmentities"

    /// The search is made while the PBX still runs its dialplan; the ring registers without searching again, bound
    /// to the client it found. The hooks before the search ran for the arrival, then the ring's look-up in order.
    @Test func theSearchStartsWhenTheCallArrives() async throws {
        let echo = "return function(input) return {data = input.params, state = \"success\"} end"
        try await withRig(hooks: ["process_search_params": echo, "get_search_filter": echo]) { rig in
            var script = CallScript(start: 1_764_062_000)
            let trunk = script.incoming(from: "+79161234567", did: "74951234567")
            await rig.play(&script)
            let arrived = await rig.waitFor("the search ahead") { !Rig.requests($0, Self.searchMethod).isEmpty }
            #expect(Rig.requests(arrived, Self.searchMethod).first?["params"]?["PHONE_NUMBER"] == "+79161234567")
            #expect(Rig.calls(arrived).isEmpty, "nothing is registered before a phone rings")

            let phone = script.phone("101", in: trunk)
            script.ring(trunk, phone)
            await rig.play(&script)
            let state = await rig.waitFor("the registration") { !Rig.calls($0).isEmpty }
            let call = try #require(Rig.calls(state).first)
            #expect(call["CRM_ENTITY_TYPE"] == "CONTACT", "bound to the client the search ahead found")
            #expect(text(call["USER_ID"]) == "1", "the card for the phone that rang")
            #expect(Rig.requests(state, Self.searchMethod).count == 1, "the ring used the answer")

            let ran = rig.deliveries.all.compactMap { event -> HookPoint? in
                if case .hook(_, let hook, _, _) = event { return hook }
                return nil
            }
            let beforeSearch: [HookPoint] = [.needRegistration, .processPhoneNumber, .processSearchParams]
            #expect(Array(ran.prefix(7)) == beforeSearch + beforeSearch + [.getSearchFilter])
        }
    }

    /// A script that shapes the search differently once a phone rings: the answer ahead is not the one the ring
    /// asks for, so the ring searches itself and registers with what that search found.
    @Test func aDifferentSearchAtTheRingIsMadeAgain() async throws {
        // Before a phone rings there is no user: this script then searches another number.
        let script = """
            return function(input)
              local p = input.params
              if p.user.ID == nil then p.PHONE_NUMBER = "+70000000000" end
              return {data = p, state = "success"}
            end
            """
        try await withRig(hooks: ["process_search_params": script]) { rig in
            var calls = CallScript(start: 1_764_062_100)
            let trunk = calls.incoming(from: "+79161234567", did: "74951234567")
            await rig.play(&calls)
            _ = await rig.waitFor("the search ahead") { !Rig.requests($0, Self.searchMethod).isEmpty }
            let phone = calls.phone("101", in: trunk)
            calls.ring(trunk, phone)
            await rig.play(&calls)
            let state = await rig.waitFor("the registration") { !Rig.calls($0).isEmpty }
            let searched = Rig.requests(state, Self.searchMethod).map { $0["params"]?["PHONE_NUMBER"] }
            #expect(searched == ["+70000000000", "+79161234567"])
            #expect(Rig.calls(state).first?["CRM_ENTITY_TYPE"] == "CONTACT", "what the ring's own search found")
        }
    }

    /// A registration that may have created the client outdates what was searched ahead for that number before
    /// it: a second call from the same new number, which arrived while the first was being registered, finds the
    /// first one's lead instead of creating another. (The number is the same whatever its format: here the second
    /// line's calls are searched in the 8 format, so the first call's own search cannot use up that answer.)
    @Test func aRegistrationOutdatesTheSearchAheadForItsNumber() async throws {
        let script = """
            return function(input)
              local p = input.params
              if p.conversation.trunk == "74957654321" then p.PHONE_NUMBER = "8" .. string.sub(p.PHONE_NUMBER, 3) end
              return {data = p, state = "success"}
            end
            """
        try await withRig(hooks: ["process_search_params": script]) { rig in
            // The first call's registration (its lead first) is held back for a second.
            _ = rig.portal.sandbox.setKnobs(["operation_time_limit": ["method": "crm.lead.add", "seconds": 1]])
            var script = CallScript(start: 1_764_062_400)
            let first = script.incoming(from: "+79990000123", did: "74951234567")
            let firstPhone = script.phone("101", in: first)
            script.ring(first, firstPhone)
            await rig.play(&script)
            let deadline = ContinuousClock.now.advanced(by: .seconds(10))
            while !rig.deliveries.all.contains(where: Self.isRegisterRetry), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let second = script.incoming(from: "+79990000123", did: "74957654321")
            await rig.play(&script)
            let searched = await rig.waitFor("the second call's search ahead") { state in
                Rig.requests(state, Self.searchMethod).count == 2
            }
            #expect(Rig.calls(searched).isEmpty, "searched ahead while the first call was not registered yet")

            _ = await rig.waitFor("the first registration", timeout: .seconds(10)) { !Rig.calls($0).isEmpty }
            let secondPhone = script.phone("102", in: second)
            script.ring(second, secondPhone)
            await rig.play(&script)
            let state = await rig.waitFor("the second registration") { Rig.calls($0).count == 2 }
            #expect(state["leads"]?.arrayValue?.count == 1, "one lead for the number")
            let calls = Rig.calls(state)
            #expect(calls[1]["CRM_ENTITY_TYPE"] == "LEAD")
            #expect(text(calls[1]["CRM_ENTITY_ID"]) == text(calls[0]["CRM_ENTITY_ID"]))
            // The second ring searched again, after the lead was made (alone, or in a batch with the registration).
            let requests = state["requests"]?.arrayValue ?? []
            let made = try #require(
                requests.lastIndex { ["crm.lead.add", "batch"].contains($0["method"]) && text($0["status"]) == "200" })
            #expect(requests[made...].contains { $0["method"]?.stringValue == Self.searchMethod })
        }
    }

    static func isRegisterRetry(_ event: DeliveryEvent) -> Bool {
        if case .operation(_, "register", "retry", _) = event { return true }
        return false
    }

    /// Only calls from outside are searched ahead, and only those the lists let through.
    @Test func onlyCallsThatMayBeRegisteredAreSearchedAhead() async throws {
        let lists = """
            return function(input)
              return {data = {result = input.params.conversation.from ~= "+79990000009"}, state = "success"}
            end
            """
        try await withRig(hooks: ["need_registration": lists]) { rig in
            var script = CallScript(start: 1_764_062_200)
            _ = script.incoming(from: "+79990000009", did: "74951234567")
            _ = script.dialOut(from: "102", to: "103")
            await rig.play(&script)
            // A call that is searched ahead is searched within milliseconds; give these ten times that.
            try await Task.sleep(for: .milliseconds(300))
            let searched = Rig.requests(await rig.state(), Self.searchMethod)
            #expect(searched.isEmpty, "\(searched)")
        }
    }

    /// With `search_ahead: false` nothing is asked before the ring.
    @Test func theSettingTurnsItOff() async throws {
        try await withRig(settings: { $0.searchAhead = false }) { rig in
            var script = CallScript(start: 1_764_062_300)
            let trunk = script.incoming(from: "+79161234567", did: "74951234567")
            await rig.play(&script)
            try await Task.sleep(for: .milliseconds(300))
            #expect(Rig.requests(await rig.state(), Self.searchMethod).isEmpty)
            let phone = script.phone("101", in: trunk)
            script.ring(trunk, phone)
            await rig.play(&script)
            let state = await rig.waitFor("the registration") { !Rig.calls($0).isEmpty }
            #expect(Rig.requests(state, Self.searchMethod).count == 1)
        }
    }
}
