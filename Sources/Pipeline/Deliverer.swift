import Bitrix24
import Calls
import GRDB
import Hooks
import JSON
import Logging
import Store
import Synchronization

/// What happened to an operation, for observers (the demo's timeline, tests, `callhook bench`).
public enum DeliveryEvent: Sendable {
    /// A hook ran for a call (script or built-in) and what it decided.
    case hook(callID: String, hook: HookPoint, source: String, decision: String)
    /// A request to the portal and its outcome (`result` or `error`).
    case request(callID: String, method: String, params: JSONValue, outcome: Result<JSONValue, Bitrix24Error>)
    /// An operation settled: done, cancelled, failed, or retried later.
    case operation(callID: String, kind: String, status: String, note: String?)
    /// A call registered while its first phone was ringing: how long from the ring's arrival at the daemon to the
    /// portal's answer to `register` (the card on the user's screen, if it is shown).
    case registeredAfterRing(callID: String, seconds: Double)
}

/// Delivers the outbox: each call's operations in order, calls side by side (up to `concurrency`), every request
/// through the client's limiter. An operation is marked done only with the portal's answer, in the same
/// transaction as what the answer changes (the call's CRM state, the operations that follow from it).
///
/// Failures: a retryable one (limit, overload, network, 5xx) waits and tries again, with a growing pause (up to
/// five minutes) or the time the portal gave; a permanent one (rights, auth type, invalid data) marks the
/// operation failed, which holds the call's later operations until an admin retries or drops it.
public final class Deliverer: Sendable {
    let runner: OperationRunner
    private let settings: Bitrix24Settings
    private let logger: Logger
    private let inFlight = Mutex<Set<String>>([])
    private let wakeup = Wakeup()
    /// What the wake-ups asked for: calls with new operations (started without reading the whole outbox), or a
    /// look at the whole outbox.
    private let nudges = Mutex<(calls: [String], scan: Bool)>(([], true))
    /// Operations waiting out a failure of the whole portal (down, overloaded, refusing for the rate): the first
    /// answer after it brings them forward, so calls flow again as soon as the portal is back rather than each at
    /// the end of its own growing pause. The limiter still paces them.
    private let waitingOnPortal = Mutex<Set<Int64>>([])

    public init(
        database: CallhookDatabase, client: Bitrix24Client, hooks: HookEngine, users: UserDirectory,
        settings: Bitrix24Settings, timeFormat: CallTimeFormat, logger: Logger,
        observer: (@Sendable (DeliveryEvent) -> Void)? = nil
    ) {
        self.settings = settings
        self.logger = logger
        // Read before anything is queued by this process; unreadable, every operation counts as maybe tried.
        let lastOperation = (try? database.readNow { db in try db.lastOperationID() }) ?? .max
        self.runner = OperationRunner(
            database: database, client: client, hooks: hooks, users: users, settings: settings, format: timeFormat,
            logger: logger, observer: observer, lastOperationAtStart: lastOperation)
    }

    /// Operations were queued for `calls` (none named: look at the whole outbox).
    ///
    /// A call whose ring's look-up runs on a lane (`RingHeadStart`) is worked on there, from here: the `register`
    /// it just got goes on from the look-up on the same thread, without the hand-overs to the delivery loop and
    /// to a worker on the way.
    public func wake(calls: [String] = [], snapshots: [String: CallSnapshot] = [:]) {
        var others: [String] = []
        for callID in calls {
            let snapshot = snapshots[callID]
            let followed = self.runner.headStart.follow(callID, if: { self.claim(callID) }) {
                await self.workClaimed(callID, snapshot: snapshot)
            }
            if !followed { others.append(callID) }
        }
        guard calls.isEmpty || !others.isEmpty else { return }
        self.nudges.withLock { nudges in
            if others.isEmpty { nudges.scan = true } else { nudges.calls.append(contentsOf: others) }
        }
        self.wakeup.signal()
    }

    /// What the intake read and is committing: an incoming call's arrival starts its client search ahead
    /// (`SearchAhead`); the first ring's registration starts its look-up now (`RingHeadStart`).
    public func lookAhead(_ event: LookAhead) {
        switch event {
        case .arrived(let callID, let conversation):
            // Not while operations wait out a failure of the whole portal: a search ahead would only hang there.
            guard self.settings.searchAhead, self.waitingOnPortal.withLock({ $0.isEmpty }) else { return }
            Task { await self.runner.searchAhead(conversation: conversation, callID: callID) }
        case .ringing(let callID, let party, let conversation):
            self.runner.searchesAhead.rang(callID)
            self.runner.headStart.start(callID: callID, conversation: conversation, party: party, runner: self.runner)
        }
    }

    /// Calls being delivered right now.
    public var busyCalls: Int { self.inFlight.withLock { $0.count } }

    /// Delivers until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            var nextScan = ContinuousClock.now
            while !Task.isCancelled {
                let (calls, scan) = self.nudges.withLock { nudges in
                    defer { nudges = ([], false) }
                    return nudges
                }
                // A call the intake just gave operations to starts at once; its work reads what is due.
                for callID in calls { self.start(callID, in: &group) }
                if scan || ContinuousClock.now >= nextScan {
                    nextScan = ContinuousClock.now.advanced(by: await self.dispatch(into: &group))
                }
                await self.wakeup.wait(timeout: max(.milliseconds(1), nextScan - ContinuousClock.now))
            }
            group.cancelAll()
        }
    }

    /// Starts work on a call unless it is already being worked on or the concurrency is used up (a scan after a
    /// work ends finds it then).
    private func start(_ callID: String, in group: inout DiscardingTaskGroup) {
        guard self.claim(callID) else { return }
        group.addTask { await self.workClaimed(callID) }
    }

    /// Marks the call as worked on, unless it is already or the concurrency is used up.
    private func claim(_ callID: String) -> Bool {
        self.inFlight.withLock { busy -> Bool in
            guard busy.count < self.settings.concurrency, !busy.contains(callID) else { return false }
            busy.insert(callID)
            return true
        }
    }

    /// Works on a claimed call, then lets it go and looks for what became due meanwhile.
    private func workClaimed(_ callID: String, snapshot: CallSnapshot? = nil) async {
        await self.work(callID, snapshot: snapshot)
        self.inFlight.withLock { _ = $0.remove(callID) }
        self.wake()
    }

    /// Starts work on every call whose next operation is due; returns how long until one may become due.
    private func dispatch(into group: inout DiscardingTaskGroup) async -> Duration {
        let heads: [OutboxOperation]
        do {
            heads = try await self.runner.database.read { db in try db.headOperations() }
        } catch is CancellationError {
            return .seconds(1)  // the daemon is stopping
        } catch {
            self.logger.error("cannot read the outbox", metadata: ["error": "\(error)"])
            return .seconds(1)
        }
        let now = unixNow()
        var soonest = 1.0
        for head in heads where head.status == .pending {
            guard head.notBefore <= now else {
                soonest = min(soonest, head.notBefore - now)
                continue
            }
            self.start(head.callID, in: &group)
        }
        return .milliseconds(Int64(max(0.001, soonest) * 1000))
    }

    /// Runs a call's due operations one after another, until none is due or one has to wait. The first from
    /// `snapshot` if the intake gave one, the rest as the store has them.
    private func work(_ callID: String, snapshot: CallSnapshot? = nil) async {
        var snapshot = snapshot
        while !Task.isCancelled {
            let loaded: (StoredCall?, [OutboxOperation])
            do {
                // Taken at the ring's commit and used only for the register that ring queued: no one can have
                // run it since (whoever does claims the ring's look-up first, and `wake` follows only unclaimed ones).
                if let taken = snapshot.take(), taken.operations.first?.kind == "register" {
                    loaded = (taken.call, taken.operations)
                } else {
                    loaded = try self.runner.database.readNow { db in
                        (try db.call(callID), try db.openOperations(callID: callID))
                    }
                }
            } catch {
                self.logger.error("cannot read the outbox", metadata: ["call.id": "\(callID)", "error": "\(error)"])
                return
            }
            guard let head = loaded.1.first, head.status == .pending, head.notBefore <= unixNow() else { return }
            guard let call = loaded.0 else {
                _ = try? await self.runner.database.write { db in
                    try db.cancelOpenOperations(callID: callID, reason: "the call is not in the database")
                }
                return
            }
            let outcome = await self.runner.execute(head, queue: loaded.1, call: call)
            guard await self.settle(outcome, head, call: call) else { return }
        }
    }

    /// Records an outcome. Returns whether the call's next operation may go now.
    private func settle(_ outcome: Outcome, _ head: OutboxOperation, call: StoredCall) async -> Bool {
        let runner = self.runner
        do {
            switch outcome {
            case .done(let ids, let note, let effects):
                let waiting = self.waitingOnPortal.withLock { waiting in
                    defer { waiting.removeAll() }
                    return Array(waiting.subtracting(ids))
                }
                try await runner.database.write { db in
                    for id in ids { try db.markDone(id, note: note) }
                    try effects(db)
                    try db.expedite(waiting)
                }
                runner.observe(.operation(callID: call.id, kind: head.kind, status: "done", note: note))
                if !waiting.isEmpty {
                    self.logger.info(
                        "the portal answers again; operations waiting for it go now",
                        metadata: ["op.count": "\(waiting.count)"])
                    self.wake()
                }
                return true
            case .cancelled(let ids, let reason, let effects):
                try await runner.database.write { db in
                    for id in ids { try db.markCancelled(id, reason: reason) }
                    try effects(db)
                }
                runner.observe(.operation(callID: call.id, kind: head.kind, status: "cancelled", note: reason))
                return true
            case .skipCall(let reason):
                try await runner.database.write { db in
                    try db.updateCRM(callID: call.id) { $0["skipped"] = .string(reason) }
                    try db.cancelOpenOperations(callID: call.id, reason: reason)
                    if try db.call(call.id)?.state == "active" { try db.setCallState(call.id, "skipped") }
                }
                self.logger.info(
                    "call left out of the CRM", metadata: ["call.id": "\(call.id)", "reason": "\(reason)"])
                runner.observe(.operation(callID: call.id, kind: head.kind, status: "skipped", note: reason))
                return false
            case .postpone(let until, let note):
                try await runner.database.write { db in try db.postpone(head.id, until: until, note: note) }
                return false
            case .failure(let error):
                let attempts = head.attempts + 1
                let text = error.description
                switch error.disposition {
                case .permanent:
                    try await runner.database.write { db in try db.markFailed(head.id, error: text) }
                    self.logger.error(
                        "CRM operation failed for good; the call's next operations wait for an admin",
                        metadata: [
                            "call.id": "\(call.id)", "op.id": "\(head.id)", "op.kind": "\(head.kind)",
                            "crm.error": "\(error.code)", "error": "\(error.message)",
                        ])
                    runner.observe(.operation(callID: call.id, kind: head.kind, status: "failed", note: text))
                case .retry(let after):
                    let backoff = min(300, Double(1 << min(attempts - 1, 9)))
                    let wait = max(after?.seconds ?? 0, backoff) * Double.random(in: 0.9...1.1)
                    try await runner.database.write { db in
                        try db.markRetry(head.id, error: text, retryAt: unixNow() + wait)
                    }
                    if error.isPortalWide { self.waitingOnPortal.withLock { _ = $0.insert(head.id) } }
                    self.logger.warning(
                        "CRM operation will be retried",
                        metadata: [
                            "call.id": "\(call.id)", "op.kind": "\(head.kind)", "op.attempts": "\(attempts)",
                            "crm.error": "\(error.code)", "retry.in_s": "\(Int(wait.rounded()))",
                        ])
                    runner.observe(.operation(callID: call.id, kind: head.kind, status: "retry", note: text))
                case .refreshToken:
                    // The client renews the token itself; still expired means the renewal failed.
                    try await runner.database.write { db in
                        try db.markRetry(head.id, error: text, retryAt: unixNow() + 30)
                    }
                }
                return false
            }
        } catch {
            self.logger.error(
                "cannot record a CRM operation's outcome", metadata: ["call.id": "\(call.id)", "error": "\(error)"])
            return false
        }
    }
}

/// How an operation went.
enum Outcome: Sendable {
    /// These operations (the head, or the head and the show/hide requests merged with it) are done; `effects`
    /// runs in the same transaction.
    case done(ids: [Int64], note: String?, effects: @Sendable (Database) throws -> Void)
    case cancelled(ids: [Int64], reason: String, effects: @Sendable (Database) throws -> Void)
    /// The call is left out of the CRM (need_registration, an ignore action, a cancelled registration).
    case skipCall(String)
    /// Not yet (a recording still being written): try again at `until`, without counting an attempt.
    case postpone(until: Double, note: String)
    case failure(Bitrix24Error)

    static func done(
        _ id: Int64, note: String? = nil, effects: @escaping @Sendable (Database) throws -> Void = { _ in }
    )
        -> Outcome
    {
        .done(ids: [id], note: note, effects: effects)
    }

    static func cancelled(
        _ id: Int64, _ reason: String, effects: @escaping @Sendable (Database) throws -> Void = { _ in }
    )
        -> Outcome
    {
        .cancelled(ids: [id], reason: reason, effects: effects)
    }
}

/// A wake-up call that is not lost when nobody waits yet, with a timeout.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Each wait's number, so that its timer ends that wait and no later one.
        var generation = 0
        var released = -1
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Ends wait number `generation` (its time is up, or it was cancelled) without leaving a signal behind for
    /// the next wait to find: a spurious signal would cost a look at the outbox on every wake-up.
    private func release(_ generation: Int) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            state.released = generation
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait(timeout: Duration) async {
        let generation = self.state.withLock { state -> Int? in
            if state.pending {
                state.pending = false
                return nil
            }
            state.generation += 1
            return state.generation
        }
        guard let generation else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.state.withLock { state -> Bool in
                        if state.released == generation { return true }
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
            group.addTask {
                // Ends the wait when the time is up, and also when cancelled: the waiter above cannot be cancelled
                // otherwise.
                try? await Task.sleep(for: timeout)
                self.release(generation)
            }
            await group.next()
            group.cancelAll()
        }
    }
}
