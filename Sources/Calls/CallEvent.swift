/// What happened to a call, as the pipeline needs to know it. The tracker emits these in the order they happen.
public enum CallEvent: Sendable, Equatable {
    /// A new call: its first real channel appeared. `call` is a snapshot at that moment.
    case started(Call)
    /// A local phone started ringing.
    case ringing(callID: String, party: Party, conversation: Conversation)
    /// A local phone stopped ringing without answering (another answered, the caller hung up, the ring moved on).
    case ringStopped(callID: String, party: Party)
    /// Someone answered: a local party (its phone) or the outside party of an outgoing call.
    case answered(callID: String, party: Party, local: Bool)
    /// A transfer moved the call to another party.
    case transferred(callID: String, from: Party?, to: String, kind: TransferKind)
    /// The PBX started recording the call into this file.
    case recording(callID: String, path: String)
    /// The call is over: every channel of it hung up.
    case ended(Call)
    /// The call turned out to be part of another (a phone that picked up a ringing call, a transfer target):
    /// it will not end on its own; forget it.
    case absorbed(callID: String, into: String)

    public var callID: String {
        switch self {
        case .started(let call), .ended(let call): return call.id
        case .ringing(let id, _, _), .ringStopped(let id, _), .answered(let id, _, _), .transferred(let id, _, _, _),
            .recording(let id, _), .absorbed(let id, _):
            return id
        }
    }
}

public enum TransferKind: String, Sendable {
    case blind
    case attended
}
