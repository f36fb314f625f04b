import Bitrix24
import JSON
import Store
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the registration of a ringing call works out, in the order of the Itgrix scheme.
enum RingLookup: Sendable {
    /// A hook left the call out of the CRM.
    case skip(String)
    /// The call is a click-to-call the portal registered itself.
    case clickToCall(PendingOriginate, phone: String, userID: Int)
    case found(Found)

    struct Found: Sendable {
        /// The client's number as process_phone_number made it, and as process_search_params left it.
        var phone: String
        var userID: Int
        /// The registration's parameters so far (after process_search_params).
        var params: JSONObject
        var phoneForSearch: String
        /// The client's entity the search found (after get_search_filter), or null.
        var entity: JSONValue
    }
}

/// The look-up part of an incoming call's registration, started by the ring itself, as the intake receives it and
/// before it is committed: need_registration, process_phone_number, process_search_params, the client search and
/// get_search_filter run, in their order and on the very input the `register` operation will have, while the ring
/// is written to the store and the operation read back. The operation then takes the result instead of running
/// them again; what creates or registers anything (the entity, the registration) still runs only from the
/// operation, after the ring is committed.
///
/// Nothing here is written down: after a crash the operation does the look-up itself. A result is used once, only
/// for the same conversation and phone, only if the call has not ended meanwhile, and only while fresh; a call
/// whose ring never becomes an operation (a call between extensions, a second ring) is forgotten after a minute.
final class RingHeadStart: Sendable {
    private struct Entry {
        var key: String
        var startedAt: Double
        var task: Task<Result<RingLookup, Bitrix24Error>, Never>
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Calls that had their head start (a call's first ring only).
        var seen: [String: Double] = [:]
    }

    /// How old a look-up may be when its operation comes to use it.
    private let freshness: Double = 30
    private let state = Mutex(State())

    /// The ring of `callID` at `party`: starts the look-up unless the call had one already.
    func start(callID: String, conversation: JSONValue, party: String, runner: OperationRunner) {
        // A click-to-call claims its originate in the look-up: that write stays with the operation.
        guard conversation["from_local"]?.boolValue != true else { return }
        let now = Self.now()
        let key = Self.key(conversation: conversation, party: party)
        let fresh = self.state.withLock { state -> Bool in
            if state.seen.count > 1000 {
                state.seen = state.seen.filter { now - $0.value < 60 }
                state.entries = state.entries.filter { now - $0.value.startedAt < 60 }
            }
            guard state.seen[callID] == nil else { return false }
            state.seen[callID] = now
            return true
        }
        guard fresh else { return }
        let task = Task<Result<RingLookup, Bitrix24Error>, Never> {
            do throws(Bitrix24Error) {
                return .success(
                    try await runner.lookUp(
                        conversation: conversation, party: party, ended: false, known: .null, callID: callID))
            } catch {
                return .failure(error)
            }
        }
        self.state.withLock { $0.entries[callID] = Entry(key: key, startedAt: now, task: task) }
    }

    /// The look-up started for this call and this input, if any and still fresh; used up either way.
    func claim(_ callID: String, conversation: JSONValue, party: String?)
        -> Task<Result<RingLookup, Bitrix24Error>, Never>?
    {
        guard let entry = self.state.withLock({ $0.entries.removeValue(forKey: callID) }) else { return nil }
        guard let party, entry.key == Self.key(conversation: conversation, party: party),
            Self.now() - entry.startedAt < self.freshness
        else { return nil }
        return entry.task
    }

    /// The input as the operation will have it: its payload goes through the store's JSON and back.
    private static func key(conversation: JSONValue, party: String) -> String {
        party + "\u{1}" + conversation.serializedString(options: [.sortedKeys])
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
