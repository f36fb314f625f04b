import AMI

/// Follows every call on the PBX from the AMI event stream (Asterisk 12 and later) and says what each call is.
///
/// A call is keyed by the `Linkedid` of its first channel and follows its channels across Local `;1`/`;2` pairs,
/// queues, ring groups, pickups and transfers. A value with no I/O and no clock: its owner feeds it each event
/// with the time it happened and gets back what happened to calls.
///
/// What counts:
/// - a phone **rang** when a channel dialled for it reached the Ringing state;
/// - a party **answered** when a dialled real (non-Local) channel went Up or its DialEnd said ANSWER, or it picked
///   the call up; the caller's own channel going Up (an IVR, a queue's music, voicemail) is not an answer;
/// - a queue leg that was not answered never undoes an answer;
/// - a call **ends** when every channel that belongs to it has hung up.
public struct CallTracker: Sendable {
    public let configuration: CallTrackerConfiguration

    var channels: [String: Channel] = [:]
    var calls: [String: Tracked] = [:]
    /// Uniqueids of channels that hung up lately: late or repeated events for them are ignored.
    var recentlyHungUp = RecentSet(capacity: 8192)
    /// ActionIDs of Originate actions, to mark the calls they place.
    var originateActionIDs = RecentSet(capacity: 1024)
    /// Channels heard of on the current link before its `CoreShowChannels` list was read (nil once it was). The
    /// list may have been made before their first events: they are not judged by it, and their Hangup will come
    /// over this link anyway.
    var seenOnLink: Set<String>?

    public init(configuration: CallTrackerConfiguration = CallTrackerConfiguration()) {
        self.configuration = configuration
    }

    /// Calls that have started and not ended.
    public var callsInProgress: Int { self.calls.count }

    /// Channels the tracker holds.
    public var channelsInProgress: Int { self.channels.count }

    /// Whether a call with this id (Linkedid) is in progress.
    public func isInProgress(_ callID: String) -> Bool { self.calls[callID] != nil }

    /// The number of the first local phone that rang for a call in progress.
    public func firstRang(_ callID: String) -> String? { self.calls[callID]?.rang.first?.number }

    /// Events the tracker reads: anything else (Newexten's neighbours, RTCP, most VarSets) changes nothing, so a
    /// journal of the tracker's input can leave it out.
    public static func isRelevant(_ message: AMIMessage) -> Bool {
        guard message.kind == .event, let name = message.eventName else { return false }
        if name == "VarSet" { return message["Variable"].map(Self.recordingVariables.contains) ?? false }
        return Self.eventsRead.contains(name)
    }

    static let eventsRead: Set<String> = [
        "Newchannel", "Newstate", "NewCallerid", "NewConnectedLine", "Newexten", "DialBegin", "DialState", "DialEnd",
        "BridgeEnter", "BridgeLeave", "Hangup", "Pickup", "BlindTransfer", "AttendedTransfer", "OriginateResponse",
        "AgentConnect", "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentComplete",
        "AgentRingNoAnswer",
    ]

    /// A new AMI link logged in; its `CoreShowChannels` list (`reconcile`) follows.
    public mutating func linkUp() {
        self.seenOnLink = []
    }

    /// Feeds one AMI message that arrived at `time` (Unix seconds).
    public mutating func receive(_ message: AMIMessage, at time: Double) -> [CallEvent] {
        guard message.kind == .event, let name = message.eventName else { return [] }
        if self.seenOnLink != nil {
            for key in ["Uniqueid", "DestUniqueid"] {
                if let uniqueid = message[key] { self.seenOnLink!.insert(uniqueid) }
            }
        }
        var events: [CallEvent] = []
        switch name {
        case "Newchannel":
            self.channelAppeared(message, at: time, &events)
        case "Newstate":
            self.stateChanged(message, at: time, &events)
        case "NewCallerid", "NewConnectedLine", "Newexten":
            self.refresh(message, at: time, &events)
        case "DialBegin":
            self.dialBegan(message, at: time, &events)
        case "DialState":
            self.dialState(message, at: time, &events)
        case "DialEnd":
            self.dialEnded(message, at: time, &events)
        case "BridgeEnter":
            self.bridgeEntered(message, at: time, &events)
        case "BridgeLeave":
            if let uniqueid = message["Uniqueid"] { self.channels[uniqueid]?.bridge = nil }
        case "Hangup":
            self.hungUp(message, at: time, &events)
        case "VarSet":
            self.variableSet(message, at: time, &events)
        case "Pickup":
            self.pickedUp(message, at: time, &events)
        case "BlindTransfer":
            self.blindTransfer(message, at: time, &events)
        case "AttendedTransfer":
            self.attendedTransfer(message, at: time, &events)
        case "OriginateResponse":
            self.originateResponse(message)
        case "AgentConnect":
            // The queue's own moment of connection: later than the phone's answer by the time the bridge took.
            if let uniqueid = self.channel(for: message, at: time, &events),
                let callID = self.channels[uniqueid]?.callID,
                let answered = self.calls[callID]?.answeredAt, time > answered, time - answered < 60
            {
                self.calls[callID]?.answeredAt = time
            }
        case "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentComplete",
            "AgentRingNoAnswer":
            // Queue bookkeeping: the legs they describe are followed through their Dial* and channel events.
            // They still make sure the caller's channel is known (a capture that starts mid-queue).
            _ = self.channel(for: message, at: time, &events)
        default:
            break
        }
        return events
    }

    /// Tells the tracker about an Originate it sent, so the call it places is marked as click-to-call.
    public mutating func originateSent(actionID: String) {
        self.originateActionIDs.insert(actionID)
    }

    // MARK: - Channels

    struct Channel: Sendable {
        var uniqueid: String
        var name: String
        var callID: String
        var kind: ChannelKind
        var callerNum: String
        var connectedNum: String
        /// Exten and context when the channel appeared: what was dialled, and where.
        var exten: String
        var context: String
        var createdAt: Double
        var state: Int
        /// The channel that dialled this one (DialBegin), if any.
        var dialledBy: String?
        var answered = false
        var rang = false
        var ended = false
        var bridge: String?
        var cause: Int?

        var isReal: Bool { self.kind != .virtual }
        var isLocalPhone: Bool {
            if case .phone = self.kind { return true }
            return false
        }
        var number: String {
            switch self.kind {
            case .phone(let extensionNumber): return extensionNumber
            case .trunk: return self.connectedNumberOrExten
            case .virtual: return self.exten
            }
        }
        var connectedNumberOrExten: String {
            Channel.isKnown(self.callerNum) ? self.callerNum : self.exten
        }
        var party: Party { Party(number: self.number, channel: self.name) }

        static func isKnown(_ number: String) -> Bool {
            !number.isEmpty && number != "<unknown>" && number != "s"
        }
    }

    enum ChannelKind: Sendable, Equatable {
        /// An office phone with this extension.
        case phone(String)
        /// An outside line; the endpoint (trunk) name.
        case trunk(String)
        /// A Local channel: a half of a pair that the dialplan uses to reach something else.
        case virtual
    }

    /// Classifies a channel by its name, the context it appeared in and its caller number.
    func kind(name: String, context: String, callerNum: String) -> ChannelKind {
        let parsed = ChannelName(name)
        if parsed.isLocal { return .virtual }
        let endpoint = parsed.endpoint
        if self.configuration.isTrunk(endpoint) { return .trunk(endpoint) }
        if CallTrackerConfiguration.contextMatches(context, self.configuration.trunkContexts) {
            return .trunk(endpoint)
        }
        if self.configuration.isExtension(endpoint) { return .phone(endpoint) }
        if CallTrackerConfiguration.contextMatches(context, self.configuration.internalContexts),
            self.configuration.isExtension(callerNum)
        {
            return .phone(callerNum)
        }
        return .trunk(endpoint)
    }

    /// The channel an event is about, created from the event's own fields if this is the first the tracker hears
    /// of it (a capture that starts mid-call, a reconnect). `nil` for a channel that already hung up.
    mutating func channel(for message: AMIMessage, prefix: String = "", at time: Double, _ events: inout [CallEvent])
        -> String?
    {
        guard let uniqueid = message[prefix + "Uniqueid"], !uniqueid.isEmpty else { return nil }
        if self.channels[uniqueid] != nil { return uniqueid }
        if self.recentlyHungUp.contains(uniqueid) { return nil }
        guard let name = message[prefix + "Channel"] else { return nil }
        let linkedid = message[prefix + "Linkedid"].flatMap { $0.isEmpty ? nil : $0 } ?? uniqueid
        let context = message[prefix + "Context"] ?? ""
        let callerNum = message[prefix + "CallerIDNum"] ?? ""
        let channel = Channel(
            uniqueid: uniqueid, name: name, callID: linkedid,
            kind: self.kind(name: name, context: context, callerNum: callerNum), callerNum: callerNum,
            connectedNum: message[prefix + "ConnectedLineNum"] ?? "", exten: message[prefix + "Exten"] ?? "",
            context: context, createdAt: min(time, Self.uniqueidTime(uniqueid) ?? time),
            state: Int(message[prefix + "ChannelState"] ?? "") ?? 0)
        self.add(channel, at: time, &events)
        return uniqueid
    }

    /// The Unix time a Uniqueid (`1781704172.3807878`) was made at, when it has that shape.
    static func uniqueidTime(_ uniqueid: String) -> Double? {
        // "[systemname-]1781704172.3807878": the digits before the dot, after any system name. Read byte by
        // byte: this runs for every event of a replay.
        var seconds: Int64 = 0
        var digits = 0
        for byte in uniqueid.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard digits < 12 else { return nil }
                seconds = seconds * 10 + Int64(byte - UInt8(ascii: "0"))
                digits += 1
            case UInt8(ascii: "."):
                return digits > 0 ? Double(seconds) : nil
            case UInt8(ascii: "-"):
                seconds = 0
                digits = 0
            default:
                seconds = 0
                digits = 0
            }
        }
        return nil
    }

    mutating func add(_ channel: Channel, at time: Double, _ events: inout [CallEvent]) {
        self.channels[channel.uniqueid] = channel
        if self.calls[channel.callID] == nil {
            self.calls[channel.callID] = Tracked(id: channel.callID, startedAt: channel.createdAt)
        }
        self.calls[channel.callID]!.members.insert(channel.uniqueid)
        if channel.isReal { self.considerOrigin(channel, at: time, &events) }
    }

    /// The first real channel of a call is its origin: it says who called, what was dialled, and the direction.
    mutating func considerOrigin(_ channel: Channel, at time: Double, _ events: inout [CallEvent]) {
        guard var call = self.calls[channel.callID], call.origin == nil, channel.dialledBy == nil else { return }
        call.origin = channel.uniqueid
        call.startedAt = min(call.startedAt, channel.createdAt)
        call.from = channel.isLocalPhone ? channel.number : channel.callerNum
        call.fromLocal = channel.isLocalPhone
        call.to = Channel.isKnown(channel.exten) ? channel.exten : ""
        switch channel.kind {
        case .trunk(let endpoint):
            call.type = .incoming
            call.toLocal = self.configuration.isExtension(call.to)
            call.trunk = call.to.isEmpty || call.toLocal ? endpoint : call.to
        case .phone, .virtual:
            let dialsOut = !call.to.isEmpty && !self.configuration.isExtension(call.to) && Self.isDialNumber(call.to)
            call.type = dialsOut ? .outgoing : .internal
            call.toLocal = !dialsOut
        }
        self.calls[channel.callID] = call
        events.append(.started(call.snapshot(self)))
    }

    /// Whether a dialled string is a phone number rather than a feature code (`*43`) or `s`.
    static func isDialNumber(_ exten: String) -> Bool {
        let digits = exten.filter { $0.isNumber }
        return digits.count >= 3 && exten.allSatisfy { $0.isNumber || $0 == "+" || $0 == "#" }
    }

    mutating func channelAppeared(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard let uniqueid = message["Uniqueid"] else { return }
        if self.channels[uniqueid] != nil {
            self.refresh(message, at: time, &events)
            return
        }
        _ = self.channel(for: message, at: time, &events)
    }

    mutating func refresh(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard let uniqueid = self.channel(for: message, at: time, &events) else { return }
        if let callerNum = message["CallerIDNum"] { self.channels[uniqueid]?.callerNum = callerNum }
        if let connected = message["ConnectedLineNum"] { self.channels[uniqueid]?.connectedNum = connected }
        // An origin that appeared with `s` learns the dialled number when the dialplan moves on.
        if let channel = self.channels[uniqueid], var call = self.calls[channel.callID], call.origin == uniqueid,
            call.to.isEmpty, let exten = message["Exten"], Channel.isKnown(exten), exten != "h"
        {
            call.to = exten
            if call.type == .internal && !self.configuration.isExtension(exten) && Self.isDialNumber(exten) {
                call.type = .outgoing
                call.toLocal = false
            }
            self.calls[channel.callID] = call
        }
    }

    mutating func stateChanged(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard let uniqueid = self.channel(for: message, at: time, &events),
            let state = Int(message["ChannelState"] ?? "")
        else { return }
        self.channels[uniqueid]?.state = state
        guard let channel = self.channels[uniqueid], channel.isReal, channel.dialledBy != nil else { return }
        if state == 5 { self.markRinging(uniqueid, at: time, &events) }
        if state == 6 { self.markAnswered(uniqueid, at: time, &events) }
    }

    // MARK: - Dialling

    mutating func dialBegan(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        let caller = self.channel(for: message, at: time, &events)
        guard let destination = self.channel(for: message, prefix: "Dest", at: time, &events) else { return }
        guard var channel = self.channels[destination] else { return }
        if channel.dialledBy == nil, let caller, caller != destination {
            channel.dialledBy = caller
            // A channel that was dialled is a leg of the caller's call, whatever its Linkedid says.
            self.move(destination, to: self.channels[caller]?.callID ?? channel.callID, &events)
            channel.callID = self.channels[destination]!.callID
            self.channels[destination] = channel
        }
        guard channel.isReal, var call = self.calls[channel.callID], call.legs[destination] == nil else { return }
        let parent = self.realAncestor(of: destination) ?? call.origin ?? destination
        let leg = Conversation(
            callID: call.id, channelID: destination, parentChannelID: parent, from: call.from,
            to: channel.number, fromLocal: call.fromLocal, toLocal: channel.isLocalPhone,
            trunk: self.trunkName(channel) ?? call.trunk, type: call.type, startedAt: time, answeredAt: nil,
            endedAt: nil, destination: channel.party)
        call.legs[destination] = leg
        call.legOrder.append(destination)
        if case .trunk(let endpoint) = channel.kind, call.type == .outgoing, call.trunk.isEmpty {
            call.trunk = endpoint
        }
        if call.type == .internal, case .trunk(let endpoint) = channel.kind, call.fromLocal,
            let origin = call.origin, parent == origin
        {
            // A local phone dialled straight out through a trunk (or, after a click-to-call Originate reached it,
            // the dialplan dialled the client for it).
            call.type = .outgoing
            call.toLocal = false
            if call.trunk.isEmpty { call.trunk = endpoint }
        }
        if call.type == .outgoing && (call.to.isEmpty || self.configuration.isExtension(call.to)),
            case .trunk = channel.kind
        {
            // The number dialled out: the end of the dial string (`mts/89161234567`), else the line's caller id.
            let dialled = message["DialString"].map { Self.number(inDialString: $0) } ?? ""
            call.to = !dialled.isEmpty ? dialled : channel.number
            call.legs[destination]?.to = call.to
        }
        self.calls[channel.callID] = call
    }

    /// `PJSIP/89161234567@mts` or `mts/89161234567` → `89161234567`; "" when the string names no number.
    static func number(inDialString dialString: String) -> String {
        var part = Substring(dialString)
        if let slash = part.lastIndex(of: "/") { part = part[part.index(after: slash)...] }
        if let at = part.firstIndex(of: "@") {
            let user = part[..<at]
            part = user.contains(where: \.isNumber) ? user : part[part.index(after: at)...]
        }
        let number = part.prefix { $0.isNumber || $0 == "+" || $0 == "#" || $0 == "*" }
        return number.filter(\.isNumber).count >= 3 ? String(number) : ""
    }

    func trunkName(_ channel: Channel) -> String? {
        if case .trunk(let endpoint) = channel.kind { return endpoint }
        return nil
    }

    /// The nearest real channel that (through Local pairs) dialled this one.
    func realAncestor(of uniqueid: String) -> String? {
        var current = self.channels[uniqueid]?.dialledBy
        var hops = 0
        while let id = current, hops < 16 {
            hops += 1
            guard let channel = self.channels[id] else { return nil }
            if channel.isReal { return id }
            // The ;2 half of a Local pair was reached through its ;1 half.
            if let partner = self.localPartner(of: channel), let up = self.channels[partner]?.dialledBy {
                current = up
            } else {
                current = channel.dialledBy
            }
        }
        return nil
    }

    /// The other half of a Local channel pair (`…;1` ↔ `…;2`).
    func localPartner(of channel: Channel) -> String? {
        let parsed = ChannelName(channel.name)
        guard parsed.isLocal, let other = parsed.localPartnerName else { return nil }
        guard let call = self.calls[channel.callID] else { return nil }
        return call.members.first { self.channels[$0]?.name == other }
    }

    mutating func dialState(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard message.has("DialStatus", equalTo: "RINGING") || message.has("DialStatus", equalTo: "PROCEEDING"),
            let destination = self.channel(for: message, prefix: "Dest", at: time, &events),
            let channel = self.channels[destination], channel.isReal, message.has("DialStatus", equalTo: "RINGING")
        else { return }
        self.markRinging(destination, at: time, &events)
    }

    mutating func dialEnded(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard let destination = self.channel(for: message, prefix: "Dest", at: time, &events),
            let status = message["DialStatus"], let channel = self.channels[destination]
        else { return }
        if status == "ANSWER" {
            if channel.isReal { self.markAnswered(destination, at: time, &events) }
            return
        }
        guard channel.isReal, var call = self.calls[channel.callID] else { return }
        if status == "CANCEL" {
            // The caller's side stopped the dial: the caller gave up (unless someone else answered).
            if call.answeredAt == nil { call.callerGaveUp = true }
        } else {
            call.signals.append(.dialStatus(status))
        }
        self.calls[channel.callID] = call
        self.stopRinging(destination, at: time, &events)
    }

    mutating func markRinging(_ uniqueid: String, at time: Double, _ events: inout [CallEvent]) {
        guard var channel = self.channels[uniqueid], !channel.rang, !channel.answered, channel.isLocalPhone else {
            return
        }
        channel.rang = true
        self.channels[uniqueid] = channel
        guard var call = self.calls[channel.callID] else { return }
        let party = channel.party
        if !call.rang.contains(where: { $0.number == party.number }) { call.rang.append(party) }
        self.calls[channel.callID] = call
        if let leg = call.legs[uniqueid] {
            events.append(.ringing(callID: call.id, party: party, conversation: leg))
        } else {
            let leg = Conversation(
                callID: call.id, channelID: uniqueid, parentChannelID: call.origin ?? "", from: call.from,
                to: party.number, fromLocal: call.fromLocal, toLocal: true, trunk: call.trunk, type: call.type,
                startedAt: time, answeredAt: nil, endedAt: nil, destination: party)
            events.append(.ringing(callID: call.id, party: party, conversation: leg))
        }
    }

    mutating func stopRinging(_ uniqueid: String, at time: Double, _ events: inout [CallEvent]) {
        guard var channel = self.channels[uniqueid], channel.rang, !channel.answered else { return }
        channel.rang = false
        self.channels[uniqueid] = channel
        events.append(.ringStopped(callID: channel.callID, party: channel.party))
        if var call = self.calls[channel.callID], call.legs[uniqueid] != nil, call.legs[uniqueid]?.endedAt == nil {
            call.legs[uniqueid]?.endedAt = time
            self.calls[channel.callID] = call
        }
    }

    mutating func markAnswered(_ uniqueid: String, at time: Double, _ events: inout [CallEvent]) {
        guard var channel = self.channels[uniqueid], !channel.answered, channel.isReal else { return }
        channel.answered = true
        self.channels[uniqueid] = channel
        guard var call = self.calls[channel.callID] else { return }
        // The caller's own phone picking up (a click-to-call rings the employee first) is not the call's answer.
        let isCaller = uniqueid == call.origin
        if call.answeredAt == nil && !isCaller {
            call.answeredAt = time
            call.callerGaveUp = false
        }
        if call.legs[uniqueid] != nil && call.legs[uniqueid]!.answeredAt == nil {
            call.legs[uniqueid]!.answeredAt = time
        }
        // The caller talked too, if it is an office phone.
        if let origin = call.origin, let caller = self.channels[origin], caller.isLocalPhone,
            !call.talked.contains(where: { $0.number == caller.number })
        {
            call.talked.append(caller.party)
        }
        if channel.isLocalPhone, !call.talked.contains(where: { $0.number == channel.number }) {
            call.talked.append(channel.party)
        }
        self.calls[channel.callID] = call
        events.append(.answered(callID: call.id, party: channel.party, local: channel.isLocalPhone))
    }

    // MARK: - Bridges, pickups, transfers

    mutating func bridgeEntered(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard let uniqueid = self.channel(for: message, at: time, &events),
            let bridge = message["BridgeUniqueid"]
        else { return }
        self.channels[uniqueid]?.bridge = bridge
        // Two real channels of one call in one bridge are talking; a dialled one among them answered
        // (covers flows without a DialEnd, such as a transfer target joining).
        guard let channel = self.channels[uniqueid], channel.isReal else { return }
        let partners = self.channels.values.filter { $0.bridge == bridge && $0.uniqueid != uniqueid && $0.isReal }
        guard !partners.isEmpty else { return }
        for member in [channel] + partners where member.dialledBy != nil && !member.answered {
            self.markAnswered(member.uniqueid, at: time, &events)
        }
    }

    mutating func pickedUp(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        // Pickup: Channel is the phone that picked up, Target* the ringing channel it took the call from.
        guard let picker = self.channel(for: message, at: time, &events),
            let target = self.channel(for: message, prefix: "Target", at: time, &events),
            let targetChannel = self.channels[target]
        else { return }
        self.move(picker, to: targetChannel.callID, &events)
        let dialler = self.channels[target]?.dialledBy ?? self.calls[targetChannel.callID]?.origin
        self.channels[picker]?.dialledBy = dialler
        self.stopRinging(target, at: time, &events)
        self.markAnswered(picker, at: time, &events)
    }

    mutating func blindTransfer(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard message["Result"].map({ $0 == "Success" }) ?? true else { return }
        let transferer = self.channel(for: message, prefix: "Transferer", at: time, &events)
        guard let transferee = self.channel(for: message, prefix: "Transferee", at: time, &events),
            let callID = self.channels[transferee]?.callID
        else { return }
        let extensionNumber = message["Extension"] ?? ""
        let from = transferer.flatMap { self.channels[$0]?.party }
        self.calls[callID]?.transfers += 1
        events.append(.transferred(callID: callID, from: from, to: extensionNumber, kind: .blind))
    }

    mutating func attendedTransfer(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard message["Result"].map({ $0 == "Success" }) ?? true else { return }
        let transferer = self.channel(for: message, prefix: "OrigTransferer", at: time, &events)
        let transferee = self.channel(for: message, prefix: "Transferee", at: time, &events)
        let target = self.channel(for: message, prefix: "TransferTarget", at: time, &events)
        guard let transferee, let callID = self.channels[transferee]?.callID else { return }
        var to = ""
        if let target, var targetChannel = self.channels[target] {
            // The target now talks with the transferee: it becomes a leg of the transferee's call.
            self.move(target, to: callID, &events)
            targetChannel = self.channels[target]!
            to = targetChannel.number
            if var call = self.calls[callID], call.legs[target] == nil, targetChannel.isReal {
                call.legs[target] = Conversation(
                    callID: callID, channelID: target, parentChannelID: transferee, from: call.from,
                    to: targetChannel.number, fromLocal: call.fromLocal, toLocal: targetChannel.isLocalPhone,
                    trunk: call.trunk, type: call.type, startedAt: time, answeredAt: nil, endedAt: nil,
                    destination: targetChannel.party)
                call.legOrder.append(target)
                self.calls[callID] = call
            }
            if targetChannel.answered || targetChannel.state == 6 {
                self.channels[target]?.answered = false
                self.channels[target]?.dialledBy = transferee
                self.markAnswered(target, at: time, &events)
            } else {
                self.channels[target]?.dialledBy = transferee
            }
        }
        let from = transferer.flatMap { self.channels[$0]?.party }
        self.calls[callID]?.transfers += 1
        events.append(.transferred(callID: callID, from: from, to: to, kind: .attended))
    }

    /// Moves a channel into another call (a dialled leg, a pickup, a transfer target). A call left with nothing
    /// is absorbed into the other.
    mutating func move(_ uniqueid: String, to callID: String, _ events: inout [CallEvent]) {
        guard var channel = self.channels[uniqueid], channel.callID != callID, self.calls[callID] != nil else { return }
        let previous = channel.callID
        self.calls[previous]?.members.remove(uniqueid)
        channel.callID = callID
        self.channels[uniqueid] = channel
        self.calls[callID]!.members.insert(uniqueid)
        if let old = self.calls[previous], old.members.isEmpty {
            // A call made of nothing but this channel was never a call of its own.
            self.calls[previous] = nil
            if old.origin != nil { events.append(.absorbed(callID: previous, into: callID)) }
        }
    }

    // MARK: - Recording, originate

    static let recordingVariables: Set<String> = ["MIXMONITOR_FILENAME", "MONITOR_FILENAME", "__MIXMONITOR_FILENAME"]

    mutating func variableSet(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard let variable = message["Variable"], Self.recordingVariables.contains(variable),
            let path = message["Value"], !path.isEmpty,
            let uniqueid = self.channel(for: message, at: time, &events), let callID = self.channels[uniqueid]?.callID,
            var call = self.calls[callID], !call.records.contains(path)
        else { return }
        call.records.append(path)
        self.calls[callID] = call
        events.append(.recording(callID: callID, path: path))
    }

    mutating func originateResponse(_ message: AMIMessage) {
        guard let uniqueid = message["Uniqueid"], let callID = self.channels[uniqueid]?.callID else { return }
        if let actionID = message["ActionID"], self.originateActionIDs.contains(actionID) {
            self.calls[callID]?.originated = true
        } else if message["ActionID"] != nil {
            self.calls[callID]?.originated = true
        }
    }

    // MARK: - Hangup and the end of a call

    mutating func hungUp(_ message: AMIMessage, at time: Double, _ events: inout [CallEvent]) {
        guard let uniqueid = self.channel(for: message, at: time, &events), var channel = self.channels[uniqueid] else {
            return
        }
        let cause = Int(message["Cause"] ?? "")
        channel.cause = cause
        channel.ended = true
        self.channels[uniqueid] = channel
        if channel.rang && !channel.answered { self.stopRinging(uniqueid, at: time, &events) }
        if var call = self.calls[channel.callID] {
            if call.legs[uniqueid] != nil && call.legs[uniqueid]!.endedAt == nil { call.legs[uniqueid]!.endedAt = time }
            if let cause, channel.dialledBy != nil, !channel.answered, ![0, 16, 26].contains(cause) {
                call.signals.append(.cause(cause))
            }
            if uniqueid == call.origin {
                call.originCause = cause
                if call.answeredAt == nil && call.legs.values.contains(where: { $0.endedAt == nil }) {
                    call.callerGaveUp = true
                }
            }
            self.calls[channel.callID] = call
        }
        self.finish(uniqueid, at: time, &events)
    }

    /// Removes a hung-up channel; ends its call if it was the last one.
    mutating func finish(_ uniqueid: String, at time: Double, _ events: inout [CallEvent], inferred: Bool = false) {
        guard let channel = self.channels.removeValue(forKey: uniqueid) else { return }
        self.recentlyHungUp.insert(uniqueid)
        guard var call = self.calls[channel.callID] else { return }
        call.members.remove(uniqueid)
        call.lastChannelEnded = time
        if inferred { call.endInferred = true }
        // Over when nothing is left, or when the caller is gone and no real phone or line remains: Local
        // channels left behind hang up an instant later (or their Hangup was filtered out of the stream).
        let realLeft = call.members.contains { self.channels[$0]?.isReal == true }
        let originGone = call.origin.map { self.channels[$0] == nil } ?? false
        if call.members.isEmpty || (!realLeft && originGone) {
            for leftover in call.members {
                self.channels[leftover] = nil
                self.recentlyHungUp.insert(leftover)
            }
            self.calls[channel.callID] = nil
            if call.origin != nil {
                var finished = call
                finished.endedAt = time
                events.append(.ended(finished.snapshot(self)))
            }
            return
        }
        self.calls[channel.callID] = call
    }

    // MARK: - Reconnect

    /// After a reconnect: `channels` are the `CoreShowChannel` events of the PBX's channels in progress. Calls the
    /// tracker held whose channels are all gone ended while the link was down: they end now (marked inferred).
    /// Channels the tracker did not know are added, so their calls are followed from here; none is duplicated.
    /// Channels the new link already spoke of (`linkUp`) are left alone: the list may be older than they are.
    public mutating func reconcile(channels present: [AMIMessage], at time: Double) -> [CallEvent] {
        var events: [CallEvent] = []
        let live = Set(present.compactMap { $0["Uniqueid"] })
        let heard = self.seenOnLink ?? []
        self.seenOnLink = nil
        for uniqueid in self.channels.keys.sorted() where !live.contains(uniqueid) && !heard.contains(uniqueid) {
            self.finish(uniqueid, at: time, &events, inferred: true)
        }
        for message in present {
            guard let uniqueid = message["Uniqueid"] else { continue }
            if let known = self.channels[uniqueid] {
                // The list knows what the lost events said: a channel that is up now was answered (when is lost; at
                // the latest, it answered when it appeared), and the bridge it is in.
                if !heard.contains(uniqueid) {
                    if message["ChannelState"] == "6" { self.markAnswered(uniqueid, at: known.createdAt, &events) }
                    if let bridge = message["BridgeId"], !bridge.isEmpty { self.channels[uniqueid]?.bridge = bridge }
                }
                continue
            }
            // CoreShowChannel has the channel fields, plus Duration (HH:MM:SS) and the bridge it is in.
            var start = time
            if let duration = message["Duration"] {
                let parts = duration.split(separator: ":").compactMap { Double($0) }
                if parts.count == 3 { start = time - (parts[0] * 3600 + parts[1] * 60 + parts[2]) }
            }
            guard let id = self.channel(for: message, at: start, &events) else { continue }
            if let bridge = message["BridgeId"], !bridge.isEmpty { self.channels[id]?.bridge = bridge }
        }
        // Channels found sharing a bridge are talking.
        var byBridge: [String: [String]] = [:]
        for channel in self.channels.values where channel.bridge != nil && channel.isReal {
            byBridge[channel.bridge!, default: []].append(channel.uniqueid)
        }
        for members in byBridge.values where members.count > 1 {
            for id in members.sorted() {
                guard let channel = self.channels[id], let callID = Optional(channel.callID) else { continue }
                if self.calls[callID]?.answeredAt == nil { self.calls[callID]?.answeredAt = channel.createdAt }
                if channel.isLocalPhone,
                    self.calls[callID]?.talked.contains(where: { $0.number == channel.number }) == false
                {
                    self.calls[callID]?.talked.append(channel.party)
                }
            }
        }
        return events
    }
}

// MARK: - Per-call state

extension CallTracker {
    struct Tracked: Sendable {
        var id: String
        var origin: String?
        var members: Set<String> = []
        var startedAt: Double
        var answeredAt: Double?
        var lastChannelEnded: Double?
        var from = ""
        var to = ""
        var fromLocal = false
        var toLocal = false
        var trunk = ""
        var type: CallType = .internal
        var rang: [Party] = []
        var talked: [Party] = []
        var legs: [String: Conversation] = [:]
        var legOrder: [String] = []
        var records: [String] = []
        var signals: [HangupCause.Signal] = []
        var callerGaveUp = false
        var originCause: Int?
        var originated = false
        var endInferred = false
        var transfers = 0
        var endedAt: Double?

        init(id: String, startedAt: Double) {
            self.id = id
            self.startedAt = startedAt
        }

        func snapshot(_ tracker: CallTracker) -> Call {
            let answered = self.answeredAt != nil
            let status: String
            if answered {
                status = "200"
            } else if self.callerGaveUp {
                status = "304"
            } else {
                status = HangupCause.statusCode(unanswered: self.signals)
            }
            var cause: Int?
            for signal in self.signals {
                if case .cause(let c) = signal {
                    cause = c
                    break
                }
            }
            // An incoming call that arrived without a DID went to the phones that took it.
            let to = self.to.isEmpty ? (self.talked.first ?? self.rang.first)?.number ?? "" : self.to
            return Call(
                id: self.id, channelID: self.origin ?? "", from: self.from, to: to, fromLocal: self.fromLocal,
                toLocal: self.toLocal, trunk: self.trunk, type: self.type, startedAt: self.startedAt,
                answeredAt: self.answeredAt, endedAt: self.endedAt, rang: self.rang, talked: self.talked,
                conversations: self.legOrder.compactMap { self.legs[$0] }.map { leg in
                    var leg = leg
                    leg.type = self.type
                    if leg.trunk.isEmpty { leg.trunk = self.trunk }
                    if self.endedAt != nil && leg.endedAt == nil { leg.endedAt = self.endedAt }
                    return leg
                },
                records: self.records, hangupCause: cause ?? self.originCause, statusCode: status,
                originated: self.originated, endInferred: self.endInferred)
        }
    }
}

/// A bounded set of recent strings: inserting past the capacity forgets the oldest.
struct RecentSet: Sendable {
    private var set: Set<String> = []
    private var order: [String] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func contains(_ value: String) -> Bool { self.set.contains(value) }

    mutating func insert(_ value: String) {
        guard !self.set.contains(value) else { return }
        if self.order.count < self.capacity {
            self.order.append(value)
        } else {
            self.set.remove(self.order[self.head])
            self.order[self.head] = value
            self.head = (self.head + 1) % self.capacity
        }
        self.set.insert(value)
    }
}
