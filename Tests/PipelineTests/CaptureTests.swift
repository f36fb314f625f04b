import AMI
import Foundation
import JSON
import NIOCore
import Sandboxes
import TestSupport
import Testing

/// Real captures through the whole pipeline.
@Suite struct CaptureTests {
    /// ViStepRU/callme's Asterisk 13 log: 123 calls DID 888999, an IVR, queue Q1, agent SIP/777 answers,
    /// MixMonitor records. The portal gets one call for 777's user (Сергей, 2), a lead for the unknown 123, the
    /// finish and the record (moved by process_record_file_path to where the test put it).
    @Test func incomingQueueCallFromAsterisk13() async throws {
        let capture = ByteBuffer(bytes: try Fixtures.data("ami/vistep_queue_call_debug.log"))
        let recordsScript = """
            return function(input)
              local path = input.params.path:gsub("^/var/www/pbx%-aseeva%.vistep%.ru/callme/records/", callhook.config.records_root)
              return {data = {path = path}, state = "success"}
            end
            """
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-capture-\(UUID().uuidString)/")
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("wav/2017/12/26/1514295827.372-2017-12-26-14_43-123-888999.wav")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: file.path, contents: Data(Array("RIFF".utf8) + [UInt8](repeating: 0, count: 1000)))
        try await withRig(
            hooks: ["process_record_file_path": recordsScript], hookSettings: ["records_root": .string(root.path + "/")]
        ) { rig in
            await rig.pbx.play(capture: capture, pace: .microseconds(200))
            let state = await rig.waitFor("the record") { Rig.calls($0).first?["record"].map { !$0.isNull } == true }
            #expect(Rig.calls(state).count == 1)
            let call = try #require(Rig.calls(state).first)
            #expect(call["PHONE_NUMBER"] == "123")
            #expect(text(call["USER_ID"]) == "2")
            #expect(text(call["TYPE"]) == "2")
            #expect(call["LINE_NUMBER"] == "888999")
            #expect(call["EXTERNAL_CALL_ID"] == "1514295827.372")
            #expect(call["CRM_ENTITY_TYPE"] == "LEAD")
            #expect(call["finish"]?["STATUS_CODE"] == "200")
            #expect(text(call["finish"]?["USER_ID"]) == "2")
            #expect(call["record"]?["FILENAME"] == "1514295827.372-2017-12-26-14_43-123-888999.wav")
            #expect(call["record"]?["size"] == 1004)
        }
    }

    /// A blind transfer: 101 answers and transfers the caller to 777, who talks to them. The card goes to 777 and
    /// the call is finished for 777's user.
    @Test func blindTransfer() async throws {
        try await withRig { rig in
            var script = CallScript(start: 1_764_061_000)
            let trunk = script.incoming(from: "+79990000010", did: "74951234567")
            let first = script.phone("101", in: trunk)
            script.ringAndAnswer(trunk, first, bridge: "b1")
            await rig.play(&script)
            await rig.waitFor("101's card") { Rig.calls($0).first?["shown_to"] == [1] }
            script.event(
                [("Event", "BlindTransfer"), ("Result", "Success")] + first.fields("Transferer", state: 6)
                    + trunk.fields("Transferee", state: 6) + [("Extension", "777"), ("Context", "from-internal")])
            script.hangup(first, after: 0)
            let second = script.phone("777", in: trunk)
            script.ringAndAnswer(trunk, second, bridge: "b2")
            await rig.play(&script)
            await rig.waitFor("777's card") { Rig.calls($0).first?["shown_to"] == [1, 2] }
            script.hangup(second, after: 40)
            script.hangup(trunk, after: 0)
            await rig.play(&script)
            let state = await rig.waitFor("the finish") { Rig.calls($0).first?["finish"].map { !$0.isNull } == true }
            #expect(Rig.calls(state).count == 1, "one call, however many phones it went through")
            #expect(text(Rig.calls(state).first?["finish"]?["USER_ID"]) == "2")
        }
    }
}
