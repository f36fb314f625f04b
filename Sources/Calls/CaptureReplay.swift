import AMI
import NIOCore

/// Plays a raw AMI capture through the decoder and the tracker, as `callhook replay` does: feed bytes as they
/// come, get the calls that ended, in the order they ended.
///
/// Times: an event's `Timestamp:` (Asterisk's `timestampevents = yes`) when it has one; otherwise the time in the
/// Uniqueids the event names (the second each channel was created), never going backwards. A capture without
/// timestamps therefore has call times to the second of channel creation, and ends and answers at the last such
/// second before them.
public struct CaptureReplay: Sendable {
    public private(set) var tracker: CallTracker
    private var decoder: AMIFrameDecoder
    private var clock = CaptureClock()
    public private(set) var eventCount = 0
    public private(set) var malformed: [AMIMalformedBlock] = []
    public private(set) var banner: String?

    public init(
        configuration: CallTrackerConfiguration = CallTrackerConfiguration(), encoding: AMITextEncoding = .cp1251
    ) {
        self.tracker = CallTracker(configuration: configuration)
        self.decoder = AMIFrameDecoder(encoding: encoding)
    }

    /// Decodes what `buffer` holds and returns the calls that ended. At the end of the input pass `atEOF`.
    public mutating func feed(_ buffer: inout ByteBuffer, atEOF: Bool = false) -> [Call] {
        var ended: [Call] = []
        while true {
            let frame: AMIFrame?
            if atEOF {
                frame = try? self.decoder.decodeLast(buffer: &buffer, seenEOF: true)
            } else {
                frame = try? self.decoder.decode(buffer: &buffer)
            }
            guard let frame else { break }
            switch frame {
            case .banner(let version): self.banner = version
            case .malformed(let block): self.malformed.append(block)
            case .message(let message):
                guard message.kind == .event else { continue }
                self.eventCount += 1
                let time = self.time(of: message)
                for event in self.tracker.receive(message, at: time) {
                    if case .ended(let call) = event { ended.append(call) }
                }
            }
        }
        return ended
    }

    /// All calls of a whole capture.
    public static func calls(
        in capture: ByteBuffer, configuration: CallTrackerConfiguration = CallTrackerConfiguration()
    ) -> [Call] {
        var replay = CaptureReplay(configuration: configuration)
        var buffer = capture
        return replay.feed(&buffer, atEOF: true)
    }

    mutating func time(of message: AMIMessage) -> Double {
        self.clock.time(of: message)
    }
}

/// The time of each event of a capture: its `Timestamp:` (Asterisk's `timestampevents = yes`) when it has one;
/// otherwise the time in the Uniqueids the event names (the second each channel was created) and the durations
/// queue events carry, never going backwards.
public struct CaptureClock: Sendable {
    public private(set) var now = 0.0

    public init() {}

    public mutating func time(of message: AMIMessage) -> Double {
        if let stamp = message["Timestamp"].flatMap(Double.init) {
            self.now = max(self.now, stamp)
            return stamp
        }
        // Queue events carry durations counted from the caller's arrival, which its Uniqueid dates: without
        // timestamps they are the best clock there is for answers and ends.
        if let name = message.eventName, let id = message["Uniqueid"], let joined = CallTracker.uniqueidTime(id) {
            let hold = message["HoldTime"].flatMap(Double.init)
            switch name {
            case "AgentConnect", "QueueCallerAbandon":
                if let hold { self.now = max(self.now, joined + hold) }
            case "AgentComplete":
                if let hold, let talk = message["TalkTime"].flatMap(Double.init) {
                    self.now = max(self.now, joined + hold + talk)
                }
            default:
                break
            }
        }
        for key in ["Uniqueid", "DestUniqueid"] {
            if let id = message[key], let t = CallTracker.uniqueidTime(id) { self.now = max(self.now, t) }
        }
        return self.now
    }
}
