/// A phone in the office or the outside line that took part in a call.
public struct Party: Sendable, Hashable, Codable {
    /// The extension (local parties) or the number/trunk (external ones).
    public var number: String
    /// The Asterisk channel, e.g. `PJSIP/7006-00160231`.
    public var channel: String

    public init(number: String, channel: String) {
        self.number = number
        self.channel = channel
    }
}

/// Direction, as Itgrix customisations number it.
public enum CallType: Int, Sendable, Codable {
    case `internal` = 1
    case incoming = 2
    case outgoing = 3

    public var code: String {
        switch self {
        case .internal: return "internal"
        case .incoming: return "incoming"
        case .outgoing: return "outgoing"
        }
    }
}

/// Where a call or leg stands: 1 ringing, 2 talking, 3 over.
public enum CallState: Int, Sendable, Codable {
    case ring = 1
    case up = 2
    case hung = 3

    public var code: String {
        switch self {
        case .ring: return "ring"
        case .up: return "up"
        case .hung: return "hung"
        }
    }
}

/// One leg of a call: the call's origin reaching one destination phone or line.
public struct Conversation: Sendable, Equatable {
    public var callID: String
    /// The destination channel's Uniqueid.
    public var channelID: String
    /// The channel that placed this leg (the caller's, through any Local channels).
    public var parentChannelID: String
    public var from: String
    public var to: String
    public var fromLocal: Bool
    public var toLocal: Bool
    public var trunk: String
    public var type: CallType
    public var startedAt: Double
    public var answeredAt: Double?
    public var endedAt: Double?
    public var destination: Party

    public var state: CallState {
        if self.endedAt != nil { return .hung }
        return self.answeredAt == nil ? .ring : .up
    }

    public var wasAnswered: Bool { self.answeredAt != nil }
}

/// A call as the tracker understood it from the AMI events: who called whom, whose phones rang, who talked, when,
/// how it ended, and where its recording is.
public struct Call: Sendable, Equatable {
    /// The call's id: the Asterisk `Linkedid` of its first channel.
    public var id: String
    /// The Uniqueid of the call's first real channel (the caller's).
    public var channelID: String
    /// The calling number as the PBX saw it.
    public var from: String
    /// The dialled number (for incoming calls, the number dialled from outside: the DID).
    public var to: String
    public var fromLocal: Bool
    public var toLocal: Bool
    /// The external line: the DID of an incoming call, the trunk an outgoing call left through; "" if internal.
    public var trunk: String
    public var type: CallType
    public var startedAt: Double
    public var answeredAt: Double?
    public var endedAt: Double?
    /// Local phones that rang, in the order they started ringing.
    public var rang: [Party]
    /// Local parties that were in conversation, in order.
    public var talked: [Party]
    /// Every leg, in the order they started.
    public var conversations: [Conversation]
    /// Recording files named by the PBX (MixMonitor/Monitor).
    public var records: [String]
    /// The Q.850 hangup cause that best describes how the call ended.
    public var hangupCause: Int?
    /// The call's outcome as a SIP status, as Bitrix24 wants it: 200 talked, 304 missed, 486 busy, ...
    public var statusCode: String
    /// Whether this call was placed by an AMI Originate (click-to-call).
    public var originated: Bool
    /// Set when the call's end was not seen but inferred (its channels were gone after a reconnect).
    public var endInferred: Bool

    public var wasAnswered: Bool { self.answeredAt != nil }

    public var state: CallState {
        if self.endedAt != nil { return .hung }
        return self.answeredAt == nil ? .ring : .up
    }

    /// Seconds from start to end.
    public var duration: Int {
        guard let end = self.endedAt else { return 0 }
        return max(0, Int((end - self.startedAt).rounded()))
    }

    /// Seconds of conversation: from answer to end.
    public var billsec: Int {
        guard let end = self.endedAt, let answered = self.answeredAt else { return 0 }
        return max(0, Int((end - answered).rounded()))
    }
}
