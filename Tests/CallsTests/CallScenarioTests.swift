import AMI
import Calls
import Testing

/// Call flows real offices make, written as Asterisk 13+ emits them (see Scenario), for the cases the public
/// captures do not cover.
@Suite struct CallScenarioTests {
    /// Incoming call to a ring-all group: 101 and 102 ring, 102 answers, 101 stops ringing.
    @Test func ringAllGroup() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        let p102 = s.phone("102", in: trunk)
        s.newchannel(p101, state: 0)
        s.newchannel(p102, state: 0)
        s.dialBegin(trunk, p101)
        s.dialBegin(trunk, p102)
        s.newstate(p101, 5)
        s.newstate(p102, 5)
        s.newstate(p102, 6, after: 8)
        s.dialEnd(trunk, p102, "ANSWER", after: 0)
        s.dialEnd(trunk, p101, "CANCEL", after: 0)
        s.hangup(p101, cause: 26, after: 0)
        s.bridge(p102, "b1")
        s.bridge(trunk, "b1")
        s.hangup(trunk, after: 60)
        s.hangup(p102, after: 0)
        #expect(
            s.story == [
                "started", "ringing 101", "ringing 102", "answered 102", "ringStopped 101", "ended",
            ])
        let call = try #require(s.ended.first)
        #expect(call.type == .incoming)
        #expect((call.from, call.to, call.trunk) == ("79161234567", "74951234567", "74951234567"))
        #expect(numbers(call.rang) == ["101", "102"])
        #expect(numbers(call.talked) == ["102"])
        #expect(call.statusCode == "200")
        #expect(call.duration == 77, "from the trunk channel's Uniqueid second to the last hangup")
        #expect(call.billsec == 62)
        #expect(call.conversations.map(\.to) == ["101", "102"])
        #expect(call.conversations.map(\.wasAnswered) == [false, true])
    }

    /// A sequential (hunt) group: 101 rings unanswered, then 102 rings and answers.
    @Test func sequentialGroup() {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.newchannel(p101, state: 0)
        s.dialBegin(trunk, p101)
        s.newstate(p101, 5)
        s.dialEnd(trunk, p101, "NOANSWER", after: 15)
        s.hangup(p101, cause: 19, after: 0)
        let p102 = s.phone("102", in: trunk)
        s.ringAndAnswer(trunk, p102, bridge: "b2")
        s.hangup(p102, after: 30)
        s.hangup(trunk, after: 0)
        #expect(s.story == ["started", "ringing 101", "ringStopped 101", "ringing 102", "answered 102", "ended"])
        #expect(s.ended.first?.statusCode == "200")
    }

    /// Nobody picks up an incoming call; the caller hangs up while 101 rings: a missed call.
    @Test func missedIncomingCall() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.newchannel(p101, state: 0)
        s.dialBegin(trunk, p101)
        s.newstate(p101, 5)
        s.hangup(trunk, after: 20)
        s.dialEnd(trunk, p101, "CANCEL", after: 0)
        s.hangup(p101, cause: 16, after: 0)
        let call = try #require(s.ended.first)
        #expect(!call.wasAnswered)
        #expect(call.statusCode == "304")
        #expect(numbers(call.rang) == ["101"])
    }

    /// An outgoing call to a busy number.
    @Test func outgoingBusy() throws {
        var s = Scenario()
        let p101 = s.channel("PJSIP/101-00000001", caller: "101", exten: "89161234567", context: "from-internal")
        s.newchannel(p101)
        let out = s.channel(
            "PJSIP/mts-00000002", caller: "89161234567", exten: "s", context: "from-internal", linked: p101)
        s.newchannel(out, state: 0)
        s.dialBegin(p101, out)
        s.dialEnd(p101, out, "BUSY")
        s.hangup(out, cause: 17, after: 0)
        s.hangup(p101, cause: 17)
        let call = try #require(s.ended.first)
        #expect(call.type == .outgoing)
        #expect((call.from, call.to, call.trunk) == ("101", "89161234567", "mts"))
        #expect(!call.wasAnswered)
        #expect(call.statusCode == "486")
        #expect(call.rang.isEmpty, "an outside line is not an office phone")
    }

    /// An outgoing call answered by the client and recorded by MixMonitor.
    @Test func outgoingAnsweredAndRecorded() throws {
        var s = Scenario()
        let p101 = s.channel("PJSIP/101-00000001", caller: "101", exten: "89161234567", context: "from-internal")
        s.newchannel(p101)
        s.varSet(
            p101, "MIXMONITOR_FILENAME",
            "/var/spool/asterisk/monitor/2026/11/24/out-89161234567-101-20261124-101500-1764058500.1.wav")
        let out = s.channel(
            "PJSIP/mts-00000002", caller: "89161234567", exten: "s", context: "from-internal", linked: p101)
        s.ringAndAnswer(p101, out, bridge: "b1", ring: 10)
        s.hangup(p101, after: 95)
        s.hangup(out, after: 0)
        #expect(s.story == ["started", "recording", "answered 89161234567", "ended"])
        let call = try #require(s.ended.first)
        #expect(call.wasAnswered)
        #expect(numbers(call.talked) == ["101"])
        #expect(
            call.records == [
                "/var/spool/asterisk/monitor/2026/11/24/out-89161234567-101-20261124-101500-1764058500.1.wav"
            ])
        #expect(call.billsec == 97)
    }

    /// 101 answers an incoming call, then blind-transfers it to 102, who answers.
    @Test func blindTransfer() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.ringAndAnswer(trunk, p101, bridge: "b1")
        s.feed(
            [("Event", "BlindTransfer"), ("Result", "Success")]
                + p101.fields("Transferer", state: 6) + trunk.fields("Transferee", state: 6)
                + [("IsExternal", "No"), ("Context", "from-internal"), ("Extension", "102"), ("BridgeUniqueid", "b1")])
        s.hangup(p101, after: 0)
        let p102 = s.phone("102", in: trunk)
        s.ringAndAnswer(trunk, p102, bridge: "b2")
        s.hangup(trunk, after: 40)
        s.hangup(p102, after: 0)
        #expect(
            s.story == [
                "started", "ringing 101", "answered 101", "transferred blind 102", "ringing 102", "answered 102",
                "ended",
            ])
        let call = try #require(s.ended.first)
        #expect(s.ended.count == 1)
        #expect(numbers(call.talked) == ["101", "102"])
        #expect(numbers(call.rang) == ["101", "102"])
    }

    /// 101 answers an incoming call, calls 102 to consult, then completes an attended transfer: the client talks
    /// to 102. The consultation is an internal call of its own.
    @Test func attendedTransfer() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.ringAndAnswer(trunk, p101, bridge: "bA")
        let consult = s.channel("PJSIP/101-00000003", caller: "101", exten: "102", context: "from-internal")
        s.newchannel(consult)
        let p102 = s.channel("PJSIP/102-00000004", caller: "102", exten: "s", context: "from-internal", linked: consult)
        s.ringAndAnswer(consult, p102, bridge: "bB")
        s.feed(
            [("Event", "AttendedTransfer"), ("Result", "Success")]
                + p101.fields("OrigTransferer", state: 6) + consult.fields("SecondTransferer", state: 6)
                + trunk.fields("Transferee", state: 6) + p102.fields("TransferTarget", state: 6)
                + [("DestType", "Bridge"), ("DestBridgeUniqueid", "bA"), ("IsExternal", "No")])
        s.hangup(p101, after: 0)
        s.hangup(consult, after: 0)
        s.bridge(p102, "bA")
        s.hangup(trunk, after: 30)
        s.hangup(p102, after: 0)
        let byID = Dictionary(uniqueKeysWithValues: s.ended.map { ($0.id, $0) })
        #expect(s.ended.count == 2)
        let client = try #require(byID[trunk.linkedid])
        #expect(client.type == .incoming)
        #expect(numbers(client.talked) == ["101", "102"])
        #expect(client.statusCode == "200")
        let consultation = try #require(byID[consult.linkedid])
        #expect(consultation.type == .internal)
        #expect((consultation.from, consultation.to) == ("101", "102"))
        #expect(s.ended.last?.id == trunk.linkedid, "the client's call ends when the client and 102 hang up")
    }

    /// 101's phone rings; 103 picks the call up with *8.
    @Test func pickup() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.newchannel(p101, state: 0)
        s.dialBegin(trunk, p101)
        s.newstate(p101, 5)
        let p103 = s.channel("PJSIP/103-00000003", caller: "103", exten: "*8", context: "from-internal")
        s.newchannel(p103)
        s.feed([("Event", "Pickup")] + p103.fields(state: 6) + p101.fields("Target", state: 5))
        s.hangup(p101, cause: 26, after: 0)
        s.bridge(p103, "b1")
        s.bridge(trunk, "b1")
        s.hangup(trunk, after: 25)
        s.hangup(p103, after: 0)
        let call = try #require(s.ended.first { $0.id == trunk.linkedid })
        #expect(s.ended.count == 1)
        #expect(call.wasAnswered)
        #expect(numbers(call.rang) == ["101"])
        #expect(numbers(call.talked) == ["103"])
        #expect(s.story.contains("absorbed"), "103's own *8 call becomes part of the client's call")
    }

    /// The call is forwarded to a mobile: a Local channel dials out through the trunk, the mobile answers.
    @Test func forwardedToAMobile() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let local1 = s.channel(
            "Local/89031234567@from-internal-00000001;1", caller: "79161234567", exten: "89031234567",
            context: "from-internal", linked: trunk)
        let local2 = s.channel(
            "Local/89031234567@from-internal-00000001;2", caller: "79161234567", exten: "89031234567",
            context: "from-internal", linked: trunk)
        s.newchannel(local1, state: 0)
        s.newchannel(local2)
        s.dialBegin(trunk, local1)
        let mobile = s.channel(
            "PJSIP/mts-00000004", caller: "89031234567", exten: "s", context: "from-internal", linked: trunk)
        s.ringAndAnswer(local2, mobile, bridge: "b1")
        s.dialEnd(trunk, local1, "ANSWER", after: 0)
        s.hangup(trunk, after: 50)
        s.hangup(local1, after: 0)
        s.hangup(local2, after: 0)
        s.hangup(mobile, after: 0)
        let call = try #require(s.ended.first)
        #expect(s.ended.count == 1)
        #expect(call.wasAnswered)
        #expect(call.talked.isEmpty, "no office phone talked")
        #expect(call.conversations.first?.to == "89031234567")
        #expect(
            call.conversations.first?.parentChannelID == trunk.uniqueid, "through the Local pair, the trunk placed it")
        #expect(call.statusCode == "200")
    }

    /// 101 has Do Not Disturb: the dial fails at once with BUSY; the caller hears the busy tone and hangs up.
    @Test func doNotDisturb() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.newchannel(p101, state: 0)
        s.dialBegin(trunk, p101)
        s.dialEnd(trunk, p101, "BUSY")
        s.hangup(p101, cause: 17, after: 0)
        s.hangup(trunk, after: 3)
        let call = try #require(s.ended.first)
        #expect(call.statusCode == "486")
        #expect(call.rang.isEmpty, "a phone on DND does not ring")
    }

    /// A queue leg that did not answer, reported after another leg answered, does not undo the answer.
    @Test func lateNoAnswerKeepsTheAnswer() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let a = s.phone("101", in: trunk)
        let b = s.phone("102", in: trunk)
        s.newchannel(b, state: 0)
        s.dialBegin(trunk, b)
        s.newstate(b, 5)
        s.ringAndAnswer(trunk, a, bridge: "b1")
        s.dialEnd(trunk, b, "NOANSWER", after: 0)
        s.hangup(b, cause: 19, after: 0)
        s.hangup(trunk, after: 30)
        s.hangup(a, after: 0)
        let call = try #require(s.ended.first)
        #expect(call.wasAnswered)
        #expect(call.statusCode == "200")
        #expect(numbers(call.talked) == ["101"])
    }

    /// Click-to-call the way Callhook places it: Originate of Local/101@from-internal, which rings 101 first;
    /// when 101 picks up, the dialplan dials the client through the trunk; the client answers.
    @Test func clickToCallThroughALocalOriginate() throws {
        var s = Scenario()
        s.tracker.originateSent(actionID: "callhook-9")
        let l1 = s.channel(
            "Local/101@from-internal-00000001;1", caller: "89161234567", exten: "101", context: "from-internal")
        let l2 = s.channel(
            "Local/101@from-internal-00000001;2", caller: "89161234567", exten: "101", context: "from-internal",
            linked: l1)
        s.newchannel(l1, state: 0)
        s.newchannel(l2)
        let p101 = s.phone("101", in: l1)
        s.ringAndAnswer(l2, p101, bridge: "b1")
        s.feed([
            ("Event", "OriginateResponse"), ("ActionID", "callhook-9"), ("Response", "Success"), ("Channel", l1.name),
            ("Uniqueid", l1.uniqueid),
        ])
        let out = s.channel(
            "PJSIP/mts-00000009", caller: "89161234567", exten: "s", context: "from-internal", linked: l1)
        s.newchannel(out, state: 0)
        s.feed(
            [("Event", "DialBegin")] + l1.fields(state: 6) + out.fields("Dest", state: 0) + [
                ("DialString", "mts/89161234567")
            ])
        #expect(s.tracker.callsInProgress == 1)
        s.newstate(out, 6, after: 9)
        s.dialEnd(l1, out, "ANSWER", after: 0)
        s.hangup(p101, after: 120)
        s.hangup(out, after: 0)
        s.hangup(l1, after: 0)
        s.hangup(l2, after: 0)
        let call = try #require(s.ended.first)
        #expect(s.ended.count == 1)
        #expect(call.type == .outgoing)
        #expect((call.from, call.to, call.trunk) == ("101", "89161234567", "mts"))
        #expect(call.originated)
        #expect(call.wasAnswered, "the client answered")
        #expect(call.billsec == 120, "counted from the client's answer, not the employee's")
        #expect(numbers(call.talked) == ["101"])
        #expect(call.statusCode == "200")
    }

    /// Click-to-call where the employee picks up but the client does not answer.
    @Test func clickToCallNotAnsweredByTheClient() throws {
        var s = Scenario()
        let p101 = s.channel("PJSIP/101-00000001", caller: "101", exten: "s", context: "from-internal")
        s.newchannel(p101, state: 6)
        let out = s.channel(
            "PJSIP/mts-00000002", caller: "89161234567", exten: "s", context: "from-internal", linked: p101)
        s.newchannel(out, state: 0)
        s.feed(
            [("Event", "DialBegin")] + p101.fields(state: 6) + out.fields("Dest", state: 0) + [
                ("DialString", "mts/89161234567")
            ])
        s.dialEnd(p101, out, "NOANSWER", after: 30)
        s.hangup(out, cause: 19, after: 0)
        s.hangup(p101, after: 0)
        let call = try #require(s.ended.first)
        #expect(call.type == .outgoing)
        #expect(call.to == "89161234567")
        #expect(!call.wasAnswered)
        #expect(call.statusCode == "480")
    }

    /// Click-to-call: the tracker marks the call the Originate placed.
    @Test func originatedCallIsMarked() throws {
        var s = Scenario()
        s.tracker.originateSent(actionID: "callhook-7")
        let p101 = s.channel(
            "PJSIP/101-00000001", caller: "89161234567", exten: "89161234567", context: "from-internal")
        s.newchannel(p101)
        s.feed([
            ("Event", "OriginateResponse"), ("ActionID", "callhook-7"), ("Response", "Success"), ("Channel", p101.name),
            ("Uniqueid", p101.uniqueid),
        ])
        s.hangup(p101)
        #expect(s.ended.first?.originated == true)
    }
}

@Suite struct ReconcileTests {
    /// The link was down while a call ended: after the reconnect, CoreShowChannels no longer lists its channels.
    @Test func callsThatEndedDuringAnOutageEndOnce() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.ringAndAnswer(trunk, p101, bridge: "b1")
        #expect(s.tracker.callsInProgress == 1)
        let events = s.tracker.reconcile(channels: [], at: s.time + 120)
        let ended = events.compactMap { if case .ended(let c) = $0 { return c } else { return nil } }
        #expect(ended.count == 1)
        #expect(ended.first?.endInferred == true)
        #expect(ended.first?.wasAnswered == true)
        #expect(s.tracker.callsInProgress == 0)
        // Late events of those channels do not bring the call back.
        s.hangup(trunk)
        #expect(s.ended.isEmpty)
        #expect(s.tracker.callsInProgress == 0)
    }

    /// A call still going on after the reconnect is kept, not duplicated; a call that began during the outage is
    /// picked up from the channel list.
    @Test func callsInProgressAreKeptAndNewOnesAdded() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.ringAndAnswer(trunk, p101, bridge: "b1")
        let newcomer = s.channel("PJSIP/102-00000009", caller: "102", exten: "89031234567", context: "from-internal")
        func show(_ c: Chan, bridge: String) -> AMIMessage {
            AMIMessage(
                [("Event", "CoreShowChannel"), ("ActionID", "callhook-3")] + c.fields(state: 6)
                    + [("Application", "Dial"), ("Duration", "00:00:42"), ("BridgeId", bridge)])
        }
        let events = s.tracker.reconcile(
            channels: [show(trunk, bridge: "b1"), show(p101, bridge: "b1"), show(newcomer, bridge: "")], at: s.time + 5)
        #expect(events.filter { if case .ended = $0 { return true } else { return false } }.isEmpty)
        #expect(
            events.filter { if case .started = $0 { return true } else { return false } }.count == 1,
            "only the new call starts")
        #expect(s.tracker.callsInProgress == 2)
        s.hangup(trunk)
        s.hangup(p101)
        #expect(s.ended.count == 1)
        #expect(numbers(s.ended[0].talked) == ["101"])
    }

    /// The channel list of a new link can be older than the first events that link brings: a call that began
    /// between the login and the list is not ended by it. Its hangup comes over the same link.
    @Test func aCallHeardOnTheNewLinkIsNotEndedByAnOlderList() throws {
        var s = Scenario()
        s.tracker.linkUp()
        let trunk = s.incoming()
        let p101 = s.phone("101", in: trunk)
        s.newchannel(p101, state: 0)
        s.dialBegin(trunk, p101)
        let events = s.tracker.reconcile(channels: [], at: s.time)
        #expect(events.isEmpty)
        #expect(s.tracker.callsInProgress == 1)
        // The next link's list judges every channel again.
        s.tracker.linkUp()
        let later = s.tracker.reconcile(channels: [], at: s.time + 60)
        #expect(later.contains { if case .ended = $0 { return true } else { return false } })
    }

    /// The answer was lost with the link: the list shows the phone's channel up, in a bridge. The call is answered
    /// (not missed) and counted from when that channel appeared.
    @Test func aLostAnswerIsReadFromTheChannelList() throws {
        var s = Scenario()
        let trunk = s.incoming()
        let appeared = s.time  // its uniqueid's time
        let p101 = s.phone("101", in: trunk)
        s.newchannel(p101, state: 0)
        s.dialBegin(trunk, p101)
        s.newstate(p101, 5)
        func show(_ c: Chan) -> AMIMessage {
            AMIMessage(
                [("Event", "CoreShowChannel")] + c.fields(state: 6)
                    + [("Application", "Dial"), ("Duration", "00:00:40"), ("BridgeId", "b1")])
        }
        s.tracker.linkUp()
        s.events += s.tracker.reconcile(channels: [show(trunk), show(p101)], at: s.time + 30)
        #expect(s.story.contains("answered 101"))
        s.hangup(trunk, after: 30)
        s.hangup(p101, after: 0)
        #expect(s.ended.count == 1)
        #expect(s.ended.first?.wasAnswered == true)
        #expect(numbers(s.ended.first?.talked ?? []) == ["101"])
        #expect(s.ended.first?.answeredAt == appeared)
    }
}
