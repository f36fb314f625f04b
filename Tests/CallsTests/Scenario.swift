import AMI
import Calls
import Foundation
import Sandboxes

/// A channel in a hand-written scenario: the same as the scripted calls of the pipeline tests and the demo.
typealias Chan = ScriptedChannel

/// Writes AMI events the way Asterisk 13+ emits them for common call flows, and feeds them to a tracker
/// with a clock that advances one second per event unless told otherwise.
struct Scenario {
    var tracker = CallTracker(configuration: CallTrackerConfiguration(timeZone: "UTC"))
    var time: Double = 1_764_058_500
    var events: [CallEvent] = []
    private var nextID = 1

    /// A new channel; `linked` is the call it belongs to (its own id when nil).
    mutating func channel(_ name: String, caller: String, exten: String, context: String, linked: Chan? = nil) -> Chan {
        let uniqueid = "\(Int(self.time)).\(self.nextID)"  // as Asterisk makes them
        self.nextID += 1
        return Chan(
            name: name, uniqueid: uniqueid, linkedid: linked?.linkedid ?? uniqueid, callerNum: caller, exten: exten,
            context: context)
    }

    /// An incoming call from `caller` to the DID `did` on trunk `mts`: the trunk channel, already announced.
    mutating func incoming(from caller: String = "79161234567", did: String = "74951234567") -> Chan {
        let trunk = self.channel(
            "PJSIP/mts-\(String(format: "%08x", self.nextID))", caller: caller, exten: did, context: "from-pstn")
        self.newchannel(trunk)
        return trunk
    }

    /// Office phone `number`'s channel in `call` (not announced yet).
    mutating func phone(_ number: String, in call: Chan, dialling exten: String = "s") -> Chan {
        self.channel(
            "PJSIP/\(number)-\(String(format: "%08x", self.nextID))", caller: number, exten: exten,
            context: "from-internal", linked: call)
    }

    mutating func feed(_ fields: [(String, String)], after seconds: Double = 1) {
        self.time += seconds
        self.events += self.tracker.receive(AMIMessage(fields), at: self.time)
    }

    mutating func newchannel(_ c: Chan, state: Int = 4) {
        self.feed([("Event", "Newchannel")] + c.fields(state: state))
    }
    mutating func newstate(_ c: Chan, _ state: Int, after: Double = 1) {
        self.feed([("Event", "Newstate")] + c.fields(state: state), after: after)
    }
    mutating func dialBegin(_ from: Chan, _ to: Chan) {
        self.feed([("Event", "DialBegin")] + from.fields() + to.fields("Dest", state: 0) + [("DialString", to.exten)])
    }
    mutating func dialEnd(_ from: Chan, _ to: Chan, _ status: String, after: Double = 1) {
        self.feed(
            [("Event", "DialEnd")] + from.fields() + to.fields("Dest", state: 5) + [("DialStatus", status)],
            after: after)
    }
    mutating func bridge(_ c: Chan, _ bridge: String) {
        self.feed([("Event", "BridgeEnter"), ("BridgeUniqueid", bridge)] + c.fields(state: 6))
    }
    mutating func hangup(_ c: Chan, cause: Int = 16, after: Double = 1) {
        self.feed([("Event", "Hangup")] + c.fields(state: 6) + [("Cause", String(cause))], after: after)
    }
    mutating func varSet(_ c: Chan, _ variable: String, _ value: String) {
        self.feed([("Event", "VarSet")] + c.fields(state: 6) + [("Variable", variable), ("Value", value)], after: 0)
    }

    /// The usual: `to` rings, answers, both talk.
    mutating func ringAndAnswer(_ from: Chan, _ to: Chan, bridge: String, ring: Double = 5) {
        self.newchannel(to, state: 0)
        self.dialBegin(from, to)
        self.newstate(to, 5)
        self.newstate(to, 6, after: ring)
        self.dialEnd(from, to, "ANSWER", after: 0)
        self.bridge(to, bridge)
        self.bridge(from, bridge)
    }

    var ended: [Call] { self.events.compactMap { if case .ended(let c) = $0 { return c } else { return nil } } }

    func named(_ filter: (CallEvent) -> String?) -> [String] { self.events.compactMap(filter) }

    /// The events in a short form: "ringing 101", "answered 102", "ringStopped 101", "ended".
    var story: [String] {
        self.events.compactMap { event in
            switch event {
            case .started: return "started"
            case .ringing(_, let party, _): return "ringing \(party.number)"
            case .ringStopped(_, let party): return "ringStopped \(party.number)"
            case .answered(_, let party, _): return "answered \(party.number)"
            case .transferred(_, _, let to, let kind): return "transferred \(kind.rawValue) \(to)"
            case .recording: return "recording"
            case .absorbed: return "absorbed"
            case .ended: return "ended"
            }
        }
    }
}
