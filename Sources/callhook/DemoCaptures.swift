import AMI
import Calls
import Foundation
import JSON
import NIOCore
import Sandboxes

/// A recorded or scripted call the demo plays.
struct DemoCall {
    var title: String
    var about: String
    var messages: [AMIMessage]
}

/// The real captures the demo plays (copies of Tests/Fixtures/ami files; see Tests/Fixtures/SOURCES.md).
enum DemoCaptures {
    static let files: [(name: String, title: String, about: String)] = [
        (
            "vistep_queue_call_debug.log",
            "real capture: an incoming call through a queue (Asterisk 13, ViStepRU/callme)",
            "123 calls the DID 888999 through SIP peer toOurAster; an IVR, queue Q1, agent 777 answers; MixMonitor records it.\n   The log has no timestamps: its times are the seconds its channels were created, its own date."
        ),
        (
            "goami2_call_flow_sip_dial_bridge_hangup.ami", "real capture: an outgoing call through a provider (goami2)",
            "SIP peer 9170 dials 9898 through okon.ferry.sip.com; answered, bridged, 9170 hangs up (no timestamps either)"
        ),
        (
            "pyfreepbx_missed.ami", "real capture: an internal call (FreePBX, pyfreepbx)",
            "7003 dials 7004, who rejects it; between two extensions, so need_registration leaves it out of the CRM"
        ),
    ]

    static func load() throws -> [DemoCall] {
        try self.files.map { file in
            guard let url = Bundle.module.url(forResource: "Demo/\(file.name)", withExtension: nil),
                let data = FileManager.default.contents(atPath: url.path)
            else {
                throw Failure(message: "the demo's capture \(file.name) is missing from the build")
            }
            return DemoCall(title: file.title, about: file.about, messages: AMIPeer.events(in: ByteBuffer(bytes: data)))
        }
    }

    /// The recordings the captures name, written where the demo's process_record_file_path settings send them.
    static func writeRecords(_ captures: [DemoCall], under directory: URL) throws {
        let prefix = "/var/www/pbx-aseeva.vistep.ru/callme/records/"
        for capture in captures {
            for message in capture.messages where message["Variable"] == "MIXMONITOR_FILENAME" {
                guard let path = message["Value"], path.hasPrefix(prefix) else { continue }
                let target = directory.appendingPathComponent("records").appendingPathComponent(
                    String(path.dropFirst(prefix.count)))
                try FileManager.default.createDirectory(
                    at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                FileManager.default.createFile(atPath: target.path, contents: Data(Self.wav(seconds: 2)))
            }
        }
    }

    /// A short WAV file (8 kHz, 16-bit mono, a 425 Hz tone: the Russian dial tone).
    static func wav(seconds: Int) -> [UInt8] {
        let rate = 8000
        var samples = [UInt8]()
        for i in 0..<(rate * seconds) {
            let value = Int16(8000 * sin(2 * Double.pi * 425 * Double(i) / Double(rate)))
            samples += [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)]
        }
        func le32(_ v: Int) -> [UInt8] {
            [UInt8(v & 255), UInt8(v >> 8 & 255), UInt8(v >> 16 & 255), UInt8(v >> 24 & 255)]
        }
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 255), UInt8(v >> 8 & 255)] }
        return Array("RIFF".utf8) + le32(36 + samples.count) + Array("WAVEfmt ".utf8) + le32(16) + le16(1) + le16(1)
            + le32(rate) + le32(rate * 2) + le16(2) + le16(16) + Array("data".utf8) + le32(samples.count) + samples
    }

    /// Plays events as the PBX had them, `speed` times faster, each stamped (`Timestamp:`) with its time moved to
    /// now, so call times and durations are the capture's own.
    static func play(_ messages: [AMIMessage], on pbx: AMIPeer, speed: Double) async {
        var clock = CaptureClock()
        let times = messages.map { clock.time(of: $0) }
        guard let first = times.first(where: { $0 > 0 }) else {
            await pbx.send(messages)
            return
        }
        let base = Date().timeIntervalSince1970
        var previous = first
        for (message, time) in zip(messages, times) {
            let at = max(time, first)
            let gap = (at - previous) / speed
            if gap > 0.001 { try? await Task.sleep(for: .milliseconds(Int64(min(gap, 2) * 1000))) }
            previous = at
            var pairs = message.pairs.filter { $0.key != "Timestamp" }.map { ($0.key, $0.value) }
            pairs.append(("Timestamp", String(format: "%.6f", base + (at - first))))
            await pbx.send([AMIMessage(pairs)])
        }
    }
}

/// Scripted calls (CallScript) for what the captures do not show, numbered like the local portal's clients.
enum DemoCalls {
    static func scripted() -> [DemoCall] {
        let now = Date().timeIntervalSince1970
        var group = CallScript(start: now)
        let trunk = group.incoming(from: "89161234567", did: "74951234567")
        let phones = ["101", "777"].map { group.phone($0, in: trunk) }
        for phone in phones { group.ring(trunk, phone) }
        group.newstate(phones[1], 6, after: 6)
        group.dialEnd(trunk, phones[1], "ANSWER", after: 0)
        group.dialEnd(trunk, phones[0], "CANCEL", after: 0)
        group.hangup(phones[0], cause: 26, after: 0)
        group.bridge(phones[1], "demo-b1")
        group.bridge(trunk, "demo-b1")
        group.hangup(trunk, after: 95)
        group.hangup(phones[1], after: 0)

        var missed = CallScript(start: now + 200)
        missed.missedIncoming(from: "+79035551234", did: "74951234567", extensions: ["101", "7006"], ring: 25)

        var unknown = CallScript(start: now + 400)
        unknown.answeredIncoming(from: "84997001122", did: "74951234567", extension: "101", talk: 48)
        return [
            DemoCall(
                title: "scripted: a ring group",
                about: "Иван Петров (a known client) calls; 101 and 777 ring, 777 answers",
                messages: group.take()),
            DemoCall(
                title: "scripted: a missed call",
                about: "Мария Сидорова calls; 101 and 7006 ring for 25 s, nobody answers: a task for her responsible",
                messages: missed.take()),
            DemoCall(
                title: "scripted: a new client", about: "an unknown number calls 101: a lead is created for it",
                messages: unknown.take()),
        ]
    }

    /// A user clicks a number in the CRM: the portal sends ONEXTERNALCALLSTART to the daemon, the daemon sends
    /// the PBX an Originate, and the PBX (scripted) places the call.
    static func clickToCall(sandbox: Bitrix24Sandbox, pbx: AMIPeer, events: String, speed: Double) async throws {
        await sandbox.bind(event: "ONEXTERNALCALLSTART", handler: events)
        let answer = await sandbox.clickToCall(["USER_ID": 4, "PHONE_NUMBER": "+74957654321"])
        guard let originate = pbx.receivedActions.last(where: { $0["Action"] == "Originate" }),
            let actionID = originate["ActionID"]
        else {
            throw Failure(message: "the click-to-call did not reach the PBX: \(answer.body)")
        }
        var script = CallScript(start: Date().timeIntervalSince1970)
        script.originated(
            actionID: actionID, from: "9170", to: originate["Exten"] ?? "84957654321", ring: 8, talk: 70)
        await DemoCaptures.play(script.take(), on: pbx, speed: speed)
    }
}
