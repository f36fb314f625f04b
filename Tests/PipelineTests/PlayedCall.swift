import AMI
import Foundation
import Sandboxes

/// One call's AMI events, in the steps the PBX sends them (ring; answer; hang up).
struct PlayedCall {
    var id: String
    var steps: [[AMIMessage]]
    /// The conversation's length, as `finish` must report it (0 for a missed call).
    var duration: Int
    /// Whether nobody answered (a missed-call task is due).
    var missed: Bool { self.duration == 0 }
}

extension PlayedCall {
    /// `count` calls from new numbers: answered incoming, missed incoming and answered outgoing in turn.
    static func calls(_ count: Int, start: Double, numberBase: Int = 1_000_000) -> [PlayedCall] {
        var script = CallScript(start: start)
        var calls: [PlayedCall] = []
        let extensions = ["101", "777", "7006", "9170"]
        for index in 0..<count {
            let number = "+7999\(String(format: "%07d", numberBase + index))"
            let ext = extensions[index % extensions.count]
            var steps: [[AMIMessage]] = []
            let id: String
            let duration: Int
            switch index % 3 {
            case 0:  // answered incoming
                let trunk = script.incoming(from: number, did: "74951234567")
                id = trunk.linkedid
                let phone = script.phone(ext, in: trunk)
                script.ring(trunk, phone)
                steps.append(script.take())
                script.answer(trunk, phone, bridge: "b-\(id)", after: 3)
                steps.append(script.take())
                script.hangup(trunk, after: 20)
                script.hangup(phone, after: 0)
                steps.append(script.take())
                duration = 20
            case 1:  // missed incoming
                let trunk = script.incoming(from: number, did: "74951234567")
                id = trunk.linkedid
                let phone = script.phone(ext, in: trunk)
                script.ring(trunk, phone)
                steps.append(script.take())
                script.hangup(trunk, after: 15)
                script.dialEnd(trunk, phone, "CANCEL", after: 0)
                script.hangup(phone, after: 0)
                steps.append(script.take())
                duration = 0
            default:  // outgoing, answered
                let phone = script.dialOut(from: ext, to: number)
                id = phone.linkedid
                let leg = script.trunkLeg("mts", to: number, in: phone)
                script.newchannel(leg, state: 0)
                script.dialBegin(phone, leg)
                steps.append(script.take())
                script.answer(phone, leg, bridge: "b-\(id)", after: 4)
                steps.append(script.take())
                script.hangup(phone, after: 30)
                script.hangup(leg, after: 0)
                steps.append(script.take())
                duration = 30
            }
            calls.append(PlayedCall(id: id, steps: steps, duration: duration))
        }
        return calls
    }
}
