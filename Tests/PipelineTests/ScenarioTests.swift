import AMI
import Foundation
import JSON
import Sandboxes
import Store
import Testing

/// The seed's six scenarios (002: "Основные пользовательские сценарии"), end to end: AMI over TCP into the daemon,
/// SQLite, the hooks (built-in here), HTTP to the local Bitrix24.
@Suite struct ScenarioTests {
    /// 1 + 3: an incoming call from a known client to an office phone. The card is registered for the phone's
    /// user, shown to the client's responsible too; the finish carries the talk time and the answering user.
    @Test func knownClientCallsAnOfficePhone() async throws {
        try await withRig { rig in
            var script = CallScript(start: 1_764_058_500)
            script.answeredIncoming(from: "89161234567", did: "74951234567", extension: "101", talk: 42)
            await rig.play(&script)
            let state = await rig.waitFor("the call finished") {
                Rig.calls($0).first?["finish"].map { !$0.isNull } == true
            }
            let call = try #require(Rig.calls(state).first)
            #expect(Rig.calls(state).count == 1)
            #expect(call["PHONE_NUMBER"] == "+79161234567", "normalised by process_phone_number")
            #expect(call["USER_ID"] == 1, "101 is Анна Смирнова's phone")
            #expect(call["TYPE"] == 2)
            #expect(call["LINE_NUMBER"] == "74951234567")
            #expect(call["EXTERNAL_CALL_ID"] == "1764058500.1")
            #expect(call["CRM_ENTITY_TYPE"] == "CONTACT")
            #expect(call["CRM_ENTITY_ID"] == 797)
            #expect(call["shown_to"] == [1, 2], "Иван Петров's responsible, Сергей (2), sees the card too")
            #expect(call["finish"]?["USER_ID"] == 1)
            #expect(call["finish"]?["DURATION"] == 42)
            #expect(call["finish"]?["STATUS_CODE"] == "200")
            let activity = try #require(state["activities"]?.arrayValue?.first)
            #expect(activity["OWNER_ID"] == "797")
            #expect(activity["COMPLETED"] == "Y")
            #expect(state["tasks"]?.arrayValue?.isEmpty == true, "an answered call makes no task")
            let operations = try await rig.settled()
            #expect(!operations.contains { $0.status == .failed })
        }
    }

    /// 5 (missed): nobody answers an unknown number. A lead is created (process_entity_creation_params), the
    /// finish says 304, and a task goes to the responsible with the lead bound to it.
    @Test func missedCallFromAnUnknownNumber() async throws {
        try await withRig { rig in
            var script = CallScript(start: 1_764_058_600)
            script.missedIncoming(from: "+79990001122", did: "74951234567", extensions: ["101"], ring: 25)
            await rig.play(&script)
            let state = await rig.waitFor("the task") { !($0["tasks"]?.arrayValue?.isEmpty ?? true) }
            let call = try #require(Rig.calls(state).first)
            let lead = try #require(state["leads"]?.arrayValue?.first)
            #expect(lead["ORIGIN_ID"] == "1764058600.1")
            #expect(lead["ORIGINATOR_ID"] == "callhook")
            #expect(call["CRM_ENTITY_TYPE"] == "LEAD")
            #expect(call["CRM_ENTITY_ID"] == .integer(Int64(lead["ID"]!.scalarText!)!))
            #expect(call["CRM_CREATE"] == 0, "Callhook created the lead itself")
            #expect(call["finish"]?["STATUS_CODE"] == "304")
            #expect(call["finish"]?["DURATION"] == 0)
            let task = try #require(state["tasks"]?.arrayValue?.first)
            #expect(task["responsibleId"] == "1", "the lead is Анна's, who was rung")
            #expect(task["ufCrmTask"] == [.string("L_\(lead["ID"]!.scalarText!)")])
            #expect(task["xmlId"] == "callhook:1764058600.1")
        }
    }
}
