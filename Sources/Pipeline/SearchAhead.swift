import Bitrix24
import JSON
import Synchronization

/// Client searches made ahead of the ring. An incoming call is known from its arrival on the trunk, while the
/// PBX still runs its dialplan (a greeting, a menu, a queue's first announcement) and before any phone rings: the
/// search the ring's registration will need is started then (`OperationRunner.searchAhead`), and the ring's
/// look-up takes its answer instead of waiting for a round trip to the portal.
///
/// The answer is used only for exactly the request the ring's look-up makes (method and parameters, after its
/// hooks ran on the ringing call), once, and only while fresh; anything else is a request of its own, as
/// without this. A request ahead goes only while the portal's limit has room and nothing waits for it, so it never
/// delays the work that is due: when the portal is busy, the ring searches as it would have.
///
/// A registration of a call from a number drops the answers ahead for that number that were asked before it:
/// the registration may have created the client (a lead for a new number), and a second call from the same number
/// must find it rather than create another. The number is compared as the CRM compares it (its last ten digits),
/// whatever format a hook gave it.
final class SearchAhead: Sendable {
    private struct Entry {
        /// The number searched for, as `subscriber` gives it.
        var phone: String
        var startedAt: Double
        /// The answer; nil when the request was not made (no room) or failed (the ring's look-up tries itself).
        var answer: Task<JSONValue?, Never>
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Calls whose ring's look-up has begun, and when.
        var rung: [String: Double] = [:]

        /// Forgets what is too old to matter, once there is enough of it to be worth a look.
        mutating func prune(now: Double) {
            guard self.entries.count + self.rung.count >= 256 else { return }
            self.entries = self.entries.filter { now - $0.value.startedAt < SearchAhead.freshness }
            self.rung = self.rung.filter { now - $0.value < SearchAhead.freshness }
        }
    }

    /// How old an answer may be when the ring's look-up comes to use it.
    static let freshness: Double = 30
    private let state = Mutex(State())

    /// Starts the request `method(params)`, a search for `phone` for the call `callID`, through `send`, unless the
    /// same one was started and is still fresh, or the call rings already (its look-up searches for itself).
    func start(
        _ method: String, _ params: JSONValue, phone: String, callID: String,
        send: @escaping @Sendable () async -> JSONValue?
    ) {
        let key = Self.key(method, params)
        let now = RingHeadStart.now()
        self.state.withLock { state in
            state.prune(now: now)
            guard state.rung[callID] == nil else { return }
            if let entry = state.entries[key], now - entry.startedAt < Self.freshness { return }
            state.entries[key] = Entry(phone: Self.subscriber(phone), startedAt: now, answer: Task { await send() })
        }
    }

    /// The ring's look-up of `callID` begins: a search for it started from now on would come after the look-up
    /// looked for one, and be made twice.
    func rang(_ callID: String) {
        let now = RingHeadStart.now()
        self.state.withLock { state in
            state.prune(now: now)
            state.rung[callID] = now
        }
    }

    /// Whether the ring's look-up of `callID` has begun (nothing is worth starting ahead for it any more).
    func rings(_ callID: String) -> Bool {
        self.state.withLock { $0.rung[callID] != nil }
    }

    /// The answer to `method(params)` made ahead, waiting for it if it is still on its way; nil if there is none
    /// (or it is stale, or failed). Used up either way.
    func take(_ method: String, _ params: JSONValue) async -> JSONValue? {
        let key = Self.key(method, params)
        guard let entry = self.state.withLock({ $0.entries.removeValue(forKey: key) }),
            RingHeadStart.now() - entry.startedAt < Self.freshness
        else { return nil }
        return await entry.answer.value
    }

    /// A call from `phone` was registered: what was searched for it ahead until now may be out of date.
    func forget(phone: String) {
        let phone = Self.subscriber(phone)
        self.state.withLock { state in
            guard state.entries.values.contains(where: { $0.phone == phone }) else { return }
            state.entries = state.entries.filter { $0.value.phone != phone }
        }
    }

    /// A number as Bitrix24 compares numbers: its digits, the last ten of a longer one (+7 495…, 8 495…, 495…).
    static func subscriber(_ phone: String) -> String {
        let digits = phone.filter(\.isNumber)
        return digits.count > 10 ? String(digits.suffix(10)) : digits
    }

    private static func key(_ method: String, _ params: JSONValue) -> String {
        method + "\u{1}" + params.serializedString(options: [.sortedKeys])
    }
}
