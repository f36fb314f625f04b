import AMI

/// A channel of a scripted call.
public struct ScriptedChannel: Sendable {
    public var name: String
    public var uniqueid: String
    public var linkedid: String
    public var callerNum: String
    public var exten: String
    public var context: String

    public init(name: String, uniqueid: String, linkedid: String, callerNum: String, exten: String, context: String) {
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.callerNum = callerNum
        self.exten = exten
        self.context = context
    }

    public func fields(_ prefix: String = "", state: Int = 4) -> [(String, String)] {
        let desc = [0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"][state] ?? "Unknown"
        return [
            (prefix + "Channel", self.name), (prefix + "ChannelState", String(state)),
            (prefix + "ChannelStateDesc", desc), (prefix + "CallerIDNum", self.callerNum),
            (prefix + "CallerIDName", "Name \(self.callerNum)"), (prefix + "ConnectedLineNum", "<unknown>"),
            (prefix + "ConnectedLineName", "<unknown>"), (prefix + "Language", "en"), (prefix + "AccountCode", ""),
            (prefix + "Context", self.context), (prefix + "Exten", self.exten), (prefix + "Priority", "1"),
            (prefix + "Uniqueid", self.uniqueid), (prefix + "Linkedid", self.linkedid),
        ]
    }
}

/// Writes AMI events the way Asterisk 13+ emits them for common call flows (FreePBX contexts, PJSIP channels),
/// each with a `Timestamp` (Asterisk's `timestampevents = yes`) from a clock that advances as the script says.
/// Tests, the pipeline benchmark and the crash test use it for the calls the public captures do not cover.
public struct CallScript: Sendable {
    public var time: Double
    public private(set) var messages: [AMIMessage] = []
    private var nextID = 1

    public init(start: Double) {
        self.time = start
    }

    /// Takes the messages written so far.
    public mutating func take() -> [AMIMessage] {
        defer { self.messages.removeAll(keepingCapacity: true) }
        return self.messages
    }

    /// A new channel of `linked`'s call (its own call when nil).
    public mutating func channel(
        _ name: String, caller: String, exten: String, context: String, linked: ScriptedChannel? = nil
    ) -> ScriptedChannel {
        // As Asterisk makes them: the Unix time the channel was made, then a counter.
        let uniqueid = "\(Int(self.time)).\(self.nextID)"
        self.nextID += 1
        return ScriptedChannel(
            name: name, uniqueid: uniqueid, linkedid: linked?.linkedid ?? uniqueid, callerNum: caller, exten: exten,
            context: context)
    }

    /// An incoming call from `caller` to the DID `did` on the trunk `trunk`: its channel, announced.
    public mutating func incoming(from caller: String, did: String, trunk: String = "mts") -> ScriptedChannel {
        let channel = self.channel(
            "PJSIP/\(trunk)-\(Self.hex(self.nextID))", caller: caller, exten: did, context: "from-pstn")
        self.newchannel(channel)
        return channel
    }

    /// Office phone `number`'s channel in `call` (not announced yet).
    public mutating func phone(_ number: String, in call: ScriptedChannel, dialling exten: String = "s")
        -> ScriptedChannel
    {
        self.channel(
            "PJSIP/\(number)-\(Self.hex(self.nextID))", caller: number, exten: exten, context: "from-internal",
            linked: call)
    }

    /// An office phone starting a call of its own to `number` (announced).
    public mutating func dialOut(from number: String, to dialled: String) -> ScriptedChannel {
        let channel = self.channel(
            "PJSIP/\(number)-\(Self.hex(self.nextID))", caller: number, exten: dialled, context: "from-internal")
        self.newchannel(channel)
        return channel
    }

    /// The trunk leg of an outgoing call.
    public mutating func trunkLeg(_ trunk: String, to dialled: String, in call: ScriptedChannel) -> ScriptedChannel {
        self.channel(
            "PJSIP/\(trunk)-\(Self.hex(self.nextID))", caller: dialled, exten: dialled, context: "from-trunk",
            linked: call)
    }

    static func hex(_ n: Int) -> String {
        let digits = String(n, radix: 16)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    public mutating func event(_ fields: [(String, String)], after seconds: Double = 1) {
        self.time += seconds
        let stamp = String(format6(self.time))
        self.messages.append(AMIMessage(fields + [("Timestamp", stamp)]))
    }

    public mutating func newchannel(_ c: ScriptedChannel, state: Int = 4) {
        self.event([("Event", "Newchannel")] + c.fields(state: state))
    }
    public mutating func newstate(_ c: ScriptedChannel, _ state: Int, after: Double = 1) {
        self.event([("Event", "Newstate")] + c.fields(state: state), after: after)
    }
    public mutating func dialBegin(_ from: ScriptedChannel, _ to: ScriptedChannel) {
        self.event([("Event", "DialBegin")] + from.fields() + to.fields("Dest", state: 0) + [("DialString", to.exten)])
    }
    public mutating func dialEnd(_ from: ScriptedChannel, _ to: ScriptedChannel, _ status: String, after: Double = 1) {
        self.event(
            [("Event", "DialEnd")] + from.fields() + to.fields("Dest", state: 5) + [("DialStatus", status)],
            after: after)
    }
    public mutating func bridge(_ c: ScriptedChannel, _ bridge: String) {
        self.event([("Event", "BridgeEnter"), ("BridgeUniqueid", bridge)] + c.fields(state: 6), after: 0)
    }
    public mutating func hangup(_ c: ScriptedChannel, cause: Int = 16, after: Double = 1) {
        self.event([("Event", "Hangup")] + c.fields(state: 6) + [("Cause", String(cause))], after: after)
    }
    public mutating func varSet(_ c: ScriptedChannel, _ variable: String, _ value: String) {
        self.event([("Event", "VarSet")] + c.fields(state: 6) + [("Variable", variable), ("Value", value)], after: 0)
    }

    /// `to` rings, answers, and both talk.
    public mutating func ringAndAnswer(_ from: ScriptedChannel, _ to: ScriptedChannel, bridge: String, ring: Double = 5)
    {
        self.ring(from, to)
        self.answer(from, to, bridge: bridge, after: ring)
    }

    /// `to`, ringing for `from`, answers `after` seconds later, and both enter `bridge`.
    public mutating func answer(_ from: ScriptedChannel, _ to: ScriptedChannel, bridge: String, after: Double) {
        self.newstate(to, 6, after: after)
        self.dialEnd(from, to, "ANSWER", after: 0)
        self.bridge(to, bridge)
        self.bridge(from, bridge)
    }

    /// `to` starts ringing for `from`.
    public mutating func ring(_ from: ScriptedChannel, _ to: ScriptedChannel) {
        self.newchannel(to, state: 0)
        self.dialBegin(from, to)
        self.newstate(to, 5)
    }

    // MARK: - Whole calls

    /// An incoming call answered by `extension`: it rings, they talk `talk` seconds, the caller hangs up. With
    /// `record`, MixMonitor records it into that file.
    public mutating func answeredIncoming(
        from caller: String, did: String, extension number: String, talk: Double = 30, record: String? = nil
    ) {
        let trunk = self.incoming(from: caller, did: did)
        if let record { self.varSet(trunk, "MIXMONITOR_FILENAME", record) }
        let phone = self.phone(number, in: trunk)
        self.ringAndAnswer(trunk, phone, bridge: "bridge-\(trunk.uniqueid)")
        self.hangup(trunk, after: talk)
        self.hangup(phone, after: 0)
    }

    /// An incoming call nobody answers: `extensions` ring together for `ring` seconds, the caller gives up.
    public mutating func missedIncoming(from caller: String, did: String, extensions: [String], ring: Double = 20) {
        let trunk = self.incoming(from: caller, did: did)
        let phones = extensions.map { self.phone($0, in: trunk) }
        for phone in phones { self.ring(trunk, phone) }
        self.hangup(trunk, after: ring)
        for phone in phones {
            self.dialEnd(trunk, phone, "CANCEL", after: 0)
            self.hangup(phone, cause: 16, after: 0)
        }
    }

    /// An office phone calls out through `trunk`; answered after a few seconds when `answered`.
    public mutating func outgoing(
        from number: String, to dialled: String, trunk: String = "mts", answered: Bool, talk: Double = 20
    ) {
        let phone = self.dialOut(from: number, to: dialled)
        let leg = self.trunkLeg(trunk, to: dialled, in: phone)
        self.newchannel(leg, state: 0)
        self.dialBegin(phone, leg)
        if answered {
            self.answer(phone, leg, bridge: "bridge-\(phone.uniqueid)", after: 4)
            self.hangup(phone, after: talk)
            self.hangup(leg, after: 0)
        } else {
            self.dialEnd(phone, leg, "BUSY", after: 3)
            self.hangup(leg, cause: 17, after: 0)
            self.hangup(phone, cause: 17, after: 0)
        }
    }

    /// A click-to-call as the PBX places it for Callhook's Originate `actionID`: office phone `number` rings and
    /// is picked up, then `dialled` is called through `trunk`, answers `ring` seconds later, and they talk `talk`
    /// seconds until the office phone hangs up.
    public mutating func originated(
        actionID: String, from number: String, to dialled: String, trunk: String = "mts", ring: Double,
        talk: Double
    ) {
        let phone = self.channel(
            "PJSIP/\(number)-\(Self.hex(self.nextID))", caller: number, exten: "s", context: "from-internal")
        self.newchannel(phone, state: 5)
        self.newstate(phone, 6, after: 3)
        self.event([
            ("Event", "OriginateResponse"), ("ActionID", actionID), ("Response", "Success"), ("Channel", phone.name),
            ("Uniqueid", phone.uniqueid),
        ])
        let out = self.channel(
            "PJSIP/\(trunk)-\(Self.hex(self.nextID))", caller: dialled, exten: "s", context: "from-internal",
            linked: phone)
        self.newchannel(out, state: 0)
        self.event(
            [("Event", "DialBegin")] + phone.fields(state: 6) + out.fields("Dest", state: 0) + [
                ("DialString", "\(trunk)/\(dialled)")
            ])
        self.answer(phone, out, bridge: "bridge-\(phone.uniqueid)", after: ring)
        self.hangup(phone, after: talk)
        self.hangup(out, after: 0)
    }
}

/// Seconds with six decimals, as Asterisk writes `Timestamp:`.
private func format6(_ time: Double) -> String {
    let micros = Int64((time * 1_000_000).rounded())
    let fraction = String(micros % 1_000_000)
    return "\(micros / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
}
