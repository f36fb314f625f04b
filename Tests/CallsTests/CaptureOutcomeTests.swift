import AMI
import Calls
import Foundation
import NIOCore
import TestSupport
import Testing

func replay(_ name: String, _ configuration: CallTrackerConfiguration = CallTrackerConfiguration(timeZone: "UTC"))
    throws -> (calls: [Call], replay: CaptureReplay)
{
    var replay = CaptureReplay(configuration: configuration)
    var buffer = ByteBuffer(bytes: try Fixtures.data("ami/\(name)"))
    let calls = replay.feed(&buffer, atEOF: true)
    return (calls, replay)
}

func numbers(_ parties: [Party]) -> [String] { parties.map(\.number) }

/// Real captures through the decoder and the tracker. Each expectation is what a person reading the capture
/// says happened, written down from the events, not from the code's output.
@Suite struct CaptureOutcomeTests {
    /// pyfreepbx answered.txt: 7001 dials 7002, 7002 rings and answers, they talk (one bridge), 7001 hangs up.
    @Test func answeredInternalCall() throws {
        let (calls, replay) = try replay("pyfreepbx_answered.ami")
        #expect(replay.tracker.callsInProgress == 0)
        let call = try #require(calls.first)
        #expect(calls.count == 1)
        #expect(call.id == "1781704172.3807878")
        #expect(call.type == .internal)
        #expect((call.from, call.to) == ("7001", "7002"))
        #expect(call.fromLocal && call.toLocal)
        #expect(call.wasAnswered)
        #expect(numbers(call.rang) == ["7002"])
        #expect(numbers(call.talked) == ["7001", "7002"])
        #expect(call.talked.map(\.channel) == ["PJSIP/7001-001600e9", "PJSIP/7002-001600ea"])
        #expect(call.statusCode == "200")
        #expect(call.hangupCause == 16)
        #expect(call.conversations.map(\.channelID) == ["1781704172.3807879"])
        #expect(call.trunk == "")
    }

    /// pyfreepbx missed.txt: 7003 dials 7004; 7004 rings and rejects (cause 21 Call Rejected); the caller is sent
    /// to voicemail (its own channel goes Up in macro-vm, which is not an answer) and hangs up.
    @Test func rejectedCallIsNotAnsweredAndDeclined() throws {
        let (calls, _) = try replay("pyfreepbx_missed.ami")
        let call = try #require(calls.first)
        #expect(call.type == .internal)
        #expect((call.from, call.to) == ("7003", "7004"))
        #expect(!call.wasAnswered, "voicemail answering the caller is not the callee answering")
        #expect(numbers(call.rang) == ["7004"])
        #expect(call.talked.isEmpty)
        #expect(call.statusCode == "603")
        #expect(call.billsec == 0)
    }

    /// pyfreepbx abandoned.txt: 7005 dials queue 99; the queue rings agent 7006 five times (through Local
    /// channels), nobody answers; after 70 s on hold the caller gives up (QueueCallerAbandon).
    @Test func abandonedQueueCall() throws {
        let (calls, replay) = try replay("pyfreepbx_abandoned.ami")
        #expect(replay.tracker.callsInProgress == 0)
        let call = try #require(calls.first)
        #expect(calls.count == 1)
        #expect(call.type == .internal)
        #expect((call.from, call.to) == ("7005", "99"))
        #expect(!call.wasAnswered, "the queue answering the caller with music is not an answer")
        #expect(numbers(call.rang) == ["7006"], "one phone rang, five times: it is listed once")
        #expect(call.talked.isEmpty)
        #expect(call.statusCode == "304")
        #expect(call.duration == 72, "Uniqueid seconds 1781704774 to the last ring cycle's 1781704846")
    }

    /// pyfreepbx queue.txt: 7007 dials queue 88; the queue tries 7008 (whose Local leg ends in followme-check,
    /// its phone never rings) and 7006 (rings, no answer), then again; 7006 answers on the second round after
    /// 28 s of hold (AgentConnect), they talk 12 s (AgentComplete), the caller hangs up.
    @Test func answeredQueueCall() throws {
        let (calls, _) = try replay("pyfreepbx_queue.ami")
        let call = try #require(calls.first)
        #expect(calls.count == 1)
        #expect((call.from, call.to) == ("7007", "88"))
        #expect(call.wasAnswered)
        #expect(numbers(call.rang) == ["7006"])
        #expect(numbers(call.talked) == ["7007", "7006"])
        #expect(call.talked.last?.channel == "PJSIP/7006-001600eb", "the phone of the round that answered")
        #expect(call.statusCode == "200")
        #expect(call.duration == 40)
        #expect(call.billsec == 12)
        let answeredLegs = call.conversations.filter(\.wasAnswered).map(\.channelID)
        #expect(answeredLegs == ["1781704173.3807884"], "the first round's unanswered leg stays unanswered")
    }

    /// goami2: SIP peer 9170 dials 9898, which goes out through the provider okon.ferry.sip.com; answered, bridged,
    /// 9170 hangs up.
    @Test func outgoingCallThroughAProvider() throws {
        let (calls, _) = try replay("goami2_call_flow_sip_dial_bridge_hangup.ami")
        let call = try #require(calls.first)
        #expect(call.type == .outgoing)
        #expect((call.from, call.to) == ("9170", "9898"))
        #expect(call.fromLocal && !call.toLocal)
        #expect(call.trunk == "okon.ferry.sip.com")
        #expect(call.wasAnswered)
        #expect(call.rang.isEmpty, "no office phone rang")
        #expect(numbers(call.talked) == ["9170"])
        #expect(call.statusCode == "200")
        #expect(call.conversations.first?.toLocal == false)
    }

    /// ViStepRU/callme: an Asterisk 13 debug log. 123 calls the DID 888999 through SIP peer toOurAster (context
    /// incoming), goes through an IVR into queue Q1, agent SIP/777 answers, they talk, the caller hangs up. The
    /// log repeats some blocks and has CLI output between them; MixMonitor writes a recording.
    @Test func incomingQueueCallFromADebugLog() throws {
        let (calls, replay) = try replay("vistep_queue_call_debug.log")
        #expect(calls.count == 1, "repeated blocks do not make a second call")
        let call = try #require(calls.first)
        #expect(call.type == .incoming)
        #expect((call.from, call.to) == ("123", "888999"))
        #expect(call.trunk == "888999")
        #expect(!call.fromLocal)
        #expect(call.wasAnswered)
        #expect(numbers(call.rang) == ["777"])
        #expect(numbers(call.talked) == ["777"])
        #expect(call.statusCode == "200")
        #expect(call.records.count == 1)
        #expect(call.records.first?.hasSuffix("1514295827.372-2017-12-26-14_43-123-888999.wav") == true)
        #expect(replay.malformed.count == 1, "the CLI's closing lines at the end of the log")
    }

    /// pyfreepbx originate.txt: an Originate of Local/*43@from-internal (echo test); the capture ends before any
    /// hangup, so the call is still going on.
    @Test func originatedCallInProgress() throws {
        let (calls, replay) = try replay("pyfreepbx_originate.ami")
        #expect(calls.isEmpty)
        #expect(replay.tracker.callsInProgress == 1)
    }

    @Test func replayPrintsTheSeedShape() throws {
        let (calls, _) = try replay("pyfreepbx_queue.ami")
        let json = try #require(calls.first).json(.utc)
        for key in [
            "id", "channel_id", "parent_channel_id", "from", "to", "from_local", "to_local", "trunk", "type",
            "type_code",
            "started_at", "answered_at", "ended_at", "state", "state_code", "was_answered", "conversations", "rang",
            "talked", "status_code", "duration", "billsec", "records",
        ] {
            #expect(json[key] != nil, "\(key)")
        }
        #expect(json["started_at"] == "2026-06-17T13:49:12+00:00")
        #expect(json["state_code"] == "hung")
        #expect(json["type_code"] == "internal")
        #expect(json["talked"]?[1]?["channel"] == "PJSIP/7006-001600eb")
        #expect(json["conversations"]?["1781704173.3807884"]?["was_answered"] == true)
    }
}
