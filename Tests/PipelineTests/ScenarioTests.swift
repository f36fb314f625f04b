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
            let trunk = script.incoming(from: "89161234567", did: "74951234567")
            let phone = script.phone("101", in: trunk)
            script.ring(trunk, phone)
            await rig.play(&script)
            await rig.waitFor("the card shown to the responsible") { Rig.calls($0).first?["shown_to"] == [1, 2] }
            script.answer(trunk, phone, bridge: "b1", after: 4)
            script.hangup(trunk, after: 42)
            script.hangup(phone, after: 0)
            await rig.play(&script)
            let state = await rig.waitFor("the call finished") {
                Rig.calls($0).first?["finish"].map { !$0.isNull } == true
            }
            let call = try #require(Rig.calls(state).first)
            #expect(Rig.calls(state).count == 1)
            #expect(call["PHONE_NUMBER"] == "+79161234567", "normalised by process_phone_number")
            #expect(text(call["USER_ID"]) == "1", "101 is Анна Смирнова's phone")
            #expect(text(call["TYPE"]) == "2")
            #expect(call["LINE_NUMBER"] == "74951234567")
            #expect(call["EXTERNAL_CALL_ID"] == "1764058500.1")
            #expect(call["CRM_ENTITY_TYPE"] == "CONTACT")
            #expect(text(call["CRM_ENTITY_ID"]) == "797")
            #expect(call["shown_to"] == [1, 2], "Иван Петров's responsible, Сергей (2), sees the card too")
            #expect(text(call["finish"]?["USER_ID"]) == "1")
            #expect(text(call["finish"]?["DURATION"]) == "42")
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
            #expect(text(call["CRM_ENTITY_ID"]) == lead["ID"]!.scalarText!)
            #expect(text(call["CRM_CREATE"]) == "0", "Callhook created the lead itself")
            // The portal was idle: the lead and the registration bound to it went in one request.
            let joined = (state["requests"]?.arrayValue ?? []).filter {
                $0["method"] == "batch" && $0["params"]?["cmd"]?["entity"] != nil
                    && $0["params"]?["cmd"]?["register"] != nil
            }
            #expect(joined.count == 1)
            #expect(!(state["requests"]?.arrayValue ?? []).contains { $0["method"] == "crm.lead.add" })
            #expect(call["finish"]?["STATUS_CODE"] == "304")
            #expect(text(call["finish"]?["DURATION"]) == "0")
            let task = try #require(state["tasks"]?.arrayValue?.first)
            #expect(task["responsibleId"] == "1", "the lead is Анна's, who was rung")
            #expect(task["ufCrmTask"] == [.string("L_\(lead["ID"]!.scalarText!)")])
            #expect(task["xmlId"] == "callhook:1764058600.1")
        }
    }

    /// 2 (simultaneous queue): 101, 777 and 9170 ring at once. Registered for the first, shown to the others in
    /// one request; when 777 answers, hidden from the other two in one request; finished for 777's user.
    @Test func ringAllGroup() async throws {
        // The group's cards are gathered for show_debounce_ms (150 by default): wider here than the rig's 30, so that
        // the three rings are committed within it also while the whole suite loads the machine's two cores.
        try await withRig(settings: { $0.showDebounce = .milliseconds(500) }) { rig in
            var script = CallScript(start: 1_764_058_700)
            let trunk = script.incoming(from: "+79990003344", did: "74951234567")
            let phones = ["101", "777", "9170"].map { script.phone($0, in: trunk) }
            for phone in phones { script.ring(trunk, phone) }
            await rig.play(&script)
            await rig.waitFor("the card on three desks") { Rig.calls($0).first?["shown_to"] == [1, 2, 4] }
            script.newstate(phones[1], 6, after: 6)
            script.dialEnd(trunk, phones[1], "ANSWER", after: 0)
            for index in [0, 2] {
                script.dialEnd(trunk, phones[index], "CANCEL", after: 0)
                script.hangup(phones[index], cause: 26, after: 0)
            }
            script.bridge(phones[1], "b1")
            script.bridge(trunk, "b1")
            await rig.play(&script)
            await rig.waitFor("the card hidden from the others") { Rig.calls($0).first?["hidden_from"] == [1, 4] }
            script.hangup(trunk, after: 30)
            script.hangup(phones[1], after: 0)
            await rig.play(&script)
            let state = await rig.waitFor("the finish") { Rig.calls($0).first?["finish"].map { !$0.isNull } == true }
            let call = try #require(Rig.calls(state).first)
            #expect(text(call["USER_ID"]) == "1", "registered for the first phone that rang")
            #expect(text(call["finish"]?["USER_ID"]) == "2", "777 answered")
            #expect(Rig.requests(state, "telephony.externalcall.show").count == 1, "one show for both others")
            #expect(Rig.requests(state, "telephony.externalcall.hide").count == 1, "one hide for both")
        }
    }

    /// 2 (sequential queue): 101 rings and gives up; the card moves to 777, who answers.
    @Test func sequentialGroup() async throws {
        try await withRig { rig in
            var script = CallScript(start: 1_764_058_800)
            let trunk = script.incoming(from: "+79990005566", did: "74951234567")
            let first = script.phone("101", in: trunk)
            script.ring(trunk, first)
            await rig.play(&script)
            await rig.waitFor("101's card") { Rig.calls($0).first?["shown_to"] == [1] }
            script.dialEnd(trunk, first, "NOANSWER", after: 5)
            script.hangup(first, cause: 19, after: 0)
            let second = script.phone("777", in: trunk)
            script.ring(trunk, second)
            await rig.play(&script)
            await rig.waitFor("the card moved to 777") {
                Rig.calls($0).first?["shown_to"] == [1, 2] && Rig.calls($0).first?["hidden_from"] == [1]
            }
            script.answer(trunk, second, bridge: "b2", after: 3)
            script.hangup(second, after: 20)
            script.hangup(trunk, after: 0)
            await rig.play(&script)
            let state = await rig.waitFor("the finish") { Rig.calls($0).first?["finish"].map { !$0.isNull } == true }
            #expect(text(Rig.calls(state).first?["finish"]?["USER_ID"]) == "2")
            #expect(text(Rig.calls(state).first?["finish"]?["DURATION"]) == "20")
        }
    }

    /// 4: a user clicks a number in the CRM. The portal registers the call and sends ONEXTERNALCALLSTART; the
    /// daemon has the PBX place it (AMI Originate); the call the PBX places is the portal's call, finished
    /// once, not registered again.
    @Test func clickToCall() async throws {
        try await withRig { rig in
            let client = rig.portal.webhookClient()
            _ = try await client.call(
                "event.bind", ["event": "ONEXTERNALCALLSTART", "handler": .string(rig.serverURL + "/bitrix24/events")])
            let clicked = await rig.portal.sandbox.clickToCall(["USER_ID": 1, "PHONE_NUMBER": "89161234567"])
            let portalCallID = try #require(clicked.body["result"]?["CALL_ID"]?.stringValue)
            #expect(clicked.body["result"]?["delivered"]?[0]?["status"] == 200)
            let originate = try #require(rig.pbx.receivedActions.last { $0["Action"] == "Originate" })
            #expect(originate["Channel"] == "PJSIP/101")
            #expect(originate["Exten"] == "+79161234567", "process_phone_number ran on the number")
            #expect(originate["Context"] == "from-internal")
            let actionID = try #require(originate["ActionID"])

            // What the PBX then does: 101's phone rings and is picked up, the client is dialled and answers.
            var script = CallScript(start: 1_764_058_900)
            script.originated(actionID: actionID, from: "101", to: "+79161234567", ring: 7, talk: 65)
            await rig.play(&script)
            let state = await rig.waitFor("the portal's call finished") {
                Rig.calls($0).first { $0["CALL_ID"]?.stringValue == portalCallID }?["finish"].map { !$0.isNull } == true
            }
            #expect(Rig.calls(state).count == 1, "the PBX's call is the portal's, not a second registration")
            let call = try #require(Rig.calls(state).first)
            #expect(text(call["TYPE"]) == "1")
            #expect(text(call["finish"]?["USER_ID"]) == "1")
            #expect(text(call["finish"]?["DURATION"]) == "65")
            #expect(call["finish"]?["STATUS_CODE"] == "200")
        }
    }

    /// 5 (record not ready): the call ends before MixMonitor's file is written. The card is hidden at once; the
    /// finish and the record follow when the file is there.
    @Test func recordNotReadyWhenTheCallEnds() async throws {
        try await withRig(settings: { $0.recordWait = .seconds(30) }) { rig in
            let path = rig.directory.appendingPathComponent("monitor/in-74951234567-79161234567.wav").path
            var script = CallScript(start: 1_764_059_000)
            let trunk = script.incoming(from: "+79035551234", did: "74951234567")
            script.varSet(trunk, "MIXMONITOR_FILENAME", path)
            let phone = script.phone("7006", in: trunk)
            script.ring(trunk, phone)
            await rig.play(&script)
            await rig.waitFor("Ольга's card") { Rig.calls($0).first?["shown_to"] == [3] }
            script.answer(trunk, phone, bridge: "b4", after: 2)
            script.hangup(trunk, after: 15)
            script.hangup(phone, after: 0)
            await rig.play(&script)
            let hidden = await rig.waitFor("the card hidden while the record is written") {
                Rig.calls($0).first?["hidden_from"] == [3]
            }
            #expect(Rig.calls(hidden).first?["finish"] == .null, "no finish before the record")
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let wav = Array("RIFF".utf8) + [UInt8](repeating: 1, count: 8000)
            #expect(FileManager.default.createFile(atPath: path, contents: Data(wav)), "the recording is written")
            let state = await rig.waitFor("finish and record") {
                Rig.calls($0).first?["record"].map { !$0.isNull } == true
            }
            let call = try #require(Rig.calls(state).first)
            #expect(call["finish"]?["STATUS_CODE"] == "200")
            #expect(call["record"]?["FILENAME"] == "in-74951234567-79161234567.wav")
            #expect(call["record"]?["size"] == .integer(Int64(wav.count)))
            #expect(call["record"]?["riff"] == true)
        }
    }

    /// New numbers while requests queue for the limiter: each lead and its registration go as commands the queue
    /// combines with others (not as a batch of their own, which would take a slot for two commands), and every
    /// call is still bound to its own lead, made once.
    @Test func newNumbersWhileRequestsQueue() async throws {
        try await withRig(settings: {
            $0.burst = 2; $0.rate = 4
        }) { rig in
            let calls = PlayedCall.calls(6, start: 1_764_059_300, numberBase: 3_000_000)
            for step in 0..<(calls.map(\.steps.count).max() ?? 0) {
                for call in calls where step < call.steps.count { await rig.play(call.steps[step]) }
            }
            let state = await rig.waitFor("every call finished", timeout: .seconds(30)) { state in
                Rig.calls(state).filter { $0["finish"].map { !$0.isNull } ?? false }.count == calls.count
            }
            let leads = state["leads"]?.arrayValue ?? []
            let leadOfCall = Dictionary(
                leads.compactMap { lead in lead["ORIGIN_ID"]?.stringValue.map { ($0, lead["ID"]?.scalarText) } },
                uniquingKeysWith: { first, _ in first })
            #expect(leads.count == calls.count, "one lead per call")
            for call in Rig.calls(state) {
                let id = call["EXTERNAL_CALL_ID"]?.stringValue ?? ""
                #expect(text(call["CRM_ENTITY_ID"]) == leadOfCall[id] ?? nil, "call \(id) bound to its own lead")
            }
            let combined = (state["requests"]?.arrayValue ?? []).filter { request in
                guard request["method"] == "batch", case .object(let cmd)? = request["params"]?["cmd"] else {
                    return false
                }
                return cmd["entity"] == nil
                    && cmd.values.contains { $0.stringValue?.hasPrefix("crm.lead.add?") == true }
            }
            #expect(!combined.isEmpty, "no lead went in a combined batch")
        }
    }

    /// 6: the portal is unreachable while a call happens. When it is back, the call is registered without a card
    /// (SHOW=0) and finished, once.
    @Test func portalUnreachableDuringTheCall() async throws {
        try await withRig(settings: { $0.timeout = .milliseconds(500) }) { rig in
            rig.portal.sandbox.setKnobs(["outage_seconds": 3])
            var script = CallScript(start: 1_764_059_100)
            script.answeredIncoming(from: "+79990007788", did: "74951234567", extension: "101", talk: 10)
            await rig.play(&script)
            let state = await rig.waitFor("the call after the outage", timeout: .seconds(30)) {
                Rig.calls($0).first?["finish"].map { !$0.isNull } == true
            }
            let call = try #require(Rig.calls(state).first)
            #expect(text(call["SHOW"]) == "0")
            #expect(call["shown_to"] == [])
            #expect(text(call["finish"]?["DURATION"]) == "10")
            #expect(Rig.requests(state, "telephony.externalcall.register").count == 1)
            #expect(Rig.requests(state, "telephony.externalcall.finish").count == 1)
            let failures = (state["requests"]?.arrayValue ?? []).filter { $0["status"] != 200 }
            #expect(!failures.isEmpty, "the outage was real: requests failed during it")
        }
    }
}
