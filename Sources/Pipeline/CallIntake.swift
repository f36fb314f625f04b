import AMI
import Calls
import Foundation
import GRDB
import JSON
import Logging
import NIOCore
import Store

/// What the intake tells as it reads an event, before the event is committed: work for the CRM that only reads
/// may start at once.
public enum LookAhead: Sendable {
    /// A call from outside arrived on a trunk; no phone rings yet. `conversation`: the call from the caller to the
    /// number dialled.
    case arrived(callID: String, conversation: JSONValue)
    /// The first phone to ring for a call with an outside party (the ring that registers it).
    case ringing(callID: String, party: String, conversation: JSONValue)
}

/// A call's row and open operations as the transaction that queued them left them (kept as it wrote them, or read
/// back in it).
public struct CallSnapshot: Sendable {
    public var call: StoredCall
    public var operations: [OutboxOperation]
}

/// Where the PBX's events enter the pipeline. Each AMI event the call tracker reads is written to the journal in
/// the same SQLite transaction as everything it caused: the calls' facts and the CRM operations queued in the
/// outbox. So after a crash nothing is half-done: every journalled event had its effect, and replaying the
/// journal into a fresh tracker (`restore()`) puts it back where it was, without queuing anything twice.
public actor CallIntake {
    private let database: CallhookDatabase
    private var tracker: CallTracker
    private let encoding: AMITextEncoding
    private let timeFormat: CallTimeFormat
    private let logger: Logger
    /// Told which calls got operations queued (an empty list: some did, look at the whole outbox), with the
    /// snapshots of those whose ring registers them.
    private let wake: @Sendable ([String], [String: CallSnapshot]) -> Void
    /// Told of the arrivals and first rings of calls with an outside party, before they are committed.
    private let lookAhead: (@Sendable (LookAhead) -> Void)?
    private var sinceJournalPrune = 0
    private var pending: [Step] = []
    private var flushing: Task<Void, Never>?
    /// A flush of steps that changed nothing, due in `settleDelay` unless a step with effects takes them first.
    private var deferred: Settle?
    /// Tells a due flush from one cancelled after its timer had fired.
    private var settles = 0
    private static let settleDelay: Duration = .milliseconds(20)
    /// Where the timer of the deferred flush runs: the event loop the intake is fed on, if any.
    private let timerLoop: (any EventLoop)?
    private var failure: (any Error)?
    /// Observers of what the tracker reported (the demo's timeline, tests).
    private let observer: (@Sendable (CallEvent) -> Void)?

    public init(
        database: CallhookDatabase, configuration: CallTrackerConfiguration, encoding: AMITextEncoding = .cp1251,
        logger: Logger, observer: (@Sendable (CallEvent) -> Void)? = nil,
        lookAhead: (@Sendable (LookAhead) -> Void)? = nil, timerLoop: (any EventLoop)? = nil,
        wake: @escaping @Sendable ([String], [String: CallSnapshot]) -> Void
    ) {
        self.timerLoop = timerLoop
        self.database = database
        self.tracker = CallTracker(configuration: configuration)
        self.encoding = encoding
        self.timeFormat = CallTimeFormat(timeZone: configuration.timeZone)
        self.logger = logger
        self.observer = observer
        self.wake = wake
        self.lookAhead = lookAhead
    }

    /// Rebuilds the tracker from the journal after a restart. Nothing is queued: the journal's effects are already
    /// in the database. Returns how many entries were replayed.
    @discardableResult
    public func restore() async throws -> Int {
        let entries = try await self.database.read { db in try db.journal() }
        for entry in entries {
            let messages = Self.messages(in: entry.bytes, encoding: self.encoding)
            switch entry.kind {
            case .message:
                for message in messages {
                    _ = self.tracker.receive(message, at: Self.time(of: message, arrival: entry.at))
                }
            case .reconcile:
                _ = self.tracker.reconcile(channels: messages, at: entry.at)
            case .originate:
                self.tracker.originateSent(actionID: String(decoding: entry.bytes, as: UTF8.self))
            case .linkUp:
                self.tracker.linkUp()
            }
        }
        if !entries.isEmpty {
            self.logger.info(
                "call tracker restored from the journal",
                metadata: [
                    "journal.entries": "\(entries.count)", "calls.in_progress": "\(self.tracker.callsInProgress)",
                ])
        }
        return entries.count
    }

    /// One AMI message as it arrived.
    public func receive(_ message: AMIMessage, at arrival: Double) async throws {
        guard CallTracker.isRelevant(message) else { return }
        let events = self.tracker.receive(message, at: Self.time(of: message, arrival: arrival))
        var registers: [String] = []
        if let lookAhead = self.lookAhead {
            for event in events {
                switch event {
                case .started(let call) where call.type == .incoming && !call.from.isEmpty:
                    lookAhead(.arrived(callID: call.id, conversation: call.arrival.json(self.timeFormat)))
                // The first phone's ring is the one that registers the call (a call between extensions registers
                // at its end).
                case .ringing(let callID, let party, let conversation)
                where conversation.type != .internal && self.tracker.firstRang(callID) == party.number:
                    lookAhead(
                        .ringing(callID: callID, party: party.number, conversation: conversation.json(self.timeFormat)))
                    registers.append(callID)
                default: break
                }
            }
        }
        let bytes = Array(buffer: message.bytes)
        try self.commit(events, now: registers) { db in try db.appendJournal(.message, at: arrival, bytes: bytes) }
    }

    /// A new AMI link logged in: its `CoreShowChannels` list follows.
    public func linkUp(at time: Double) async throws {
        self.tracker.linkUp()
        try self.commit([]) { db in try db.appendJournal(.linkUp, at: time, bytes: []) }
    }

    /// The channels `CoreShowChannels` listed after a (re)connect.
    public func reconciled(_ channels: [AMIMessage], at time: Double) async throws {
        let events = self.tracker.reconcile(channels: channels, at: time)
        var bytes = ByteBuffer()
        for channel in channels { channel.write(into: &bytes) }
        let recorded = Array(buffer: bytes)
        let tracker = self.tracker
        // The tracker's own ends (events) carry what it knew of those calls; the sweep below is for the others.
        let endedByTracker = Set(events.map(\.callID))
        try self.commit(events, sweeps: true) { db in
            let seq = try db.appendJournal(.reconcile, at: time, bytes: recorded)
            // Calls the database thinks are going on but neither the PBX nor the tracker knows any more: their end
            // was missed (the journal did not have them). They end now, with what is known.
            for call in try db.calls(state: "active")
            where !tracker.isInProgress(call.id) && !endedByTracker.contains(call.id) {
                try CallEventRecorder.endOrphan(call, at: time, in: db, format: self.timeFormat)
            }
            return seq
        }
    }

    /// An Originate Callhook sent (click-to-call): its call is marked as placed from the CRM.
    public func originateSent(actionID: String, at time: Double) async throws {
        self.tracker.originateSent(actionID: actionID)
        try self.commit([]) { db in try db.appendJournal(.originate, at: time, bytes: Array(actionID.utf8)) }
    }

    public var callsInProgress: Int { self.tracker.callsInProgress }

    /// One journal entry and the tracker's events it caused, waiting to be committed.
    private struct Step: Sendable {
        var events: [CallEvent]
        /// Whether the journal entry itself queues operations (the reconnect's sweep of orphaned calls).
        var sweeps: Bool
        /// Calls whose state the transaction reads back for the deliverer (`CallSnapshot`).
        var snapshots: [String] = []
        var journal: @Sendable (Database) throws -> Int64

        var urgent: Bool { self.sweeps || !self.events.isEmpty }
    }

    /// Queues a journal entry with its effects. Steps are committed in order, and those that gather while a
    /// transaction is being written go together in the next one (group commit): each still lands whole with
    /// its effects, and a burst of AMI events costs one SQLite transaction instead of one each.
    ///
    /// A step that changed nothing (most AMI events: a channel created, a dialplan step) waits up to
    /// `settleDelay` for one that did, and goes in its transaction; so the ring that follows a channel's creation
    /// does not queue behind a transaction of its own. Losing such a step in a crash is the same as crashing a
    /// moment earlier: the journal is still a prefix of what the PBX said, and had no effect to lose.
    ///
    /// With calls in `now`, the step (with what is pending) is written before this returns, unless a transaction
    /// is being written already (the step goes in the next one): for a ring whose registration's look-up has
    /// started (`RingHeadStart`), the `register` operation waits for this commit, and the writer's queue and back
    /// would be two more hand-overs between threads on its way. The transaction hands those calls and their
    /// operations to the deliverer as it wrote them, which then does not read them.
    private func commit(
        _ events: [CallEvent], sweeps: Bool = false, now: [String] = [],
        journal: @escaping @Sendable (Database) throws -> Int64
    ) throws {
        if let failure = self.failure { throw failure }
        let step = Step(events: events, sweeps: sweeps, snapshots: now, journal: journal)
        self.pending.append(step)
        guard self.flushing == nil else { return }
        if !now.isEmpty {
            self.cancelDeferredFlush()
            let (steps, transaction) = self.transaction()
            self.committed(steps, Result { try self.database.writeNow(transaction) })
            if let failure = self.failure { throw failure }
        } else if step.urgent {
            self.startFlush()
        } else {
            self.deferFlush()
        }
    }

    private func startFlush() {
        self.cancelDeferredFlush()
        self.flushing = Task { await self.flush() }
    }

    /// The timer of a deferred flush.
    private enum Settle {
        /// On the event loop the intake is fed on (`timerLoop`).
        case timer(Scheduled<Void>)
        /// A task that sleeps, without an event loop.
        case task(Task<Void, Never>)
    }

    /// The steps waiting for the deferred flush go in the transaction starting now.
    private func cancelDeferredFlush() {
        switch self.deferred {
        case .timer(let scheduled): scheduled.cancel()
        case .task(let task): task.cancel()
        case nil: break
        }
        self.deferred = nil
    }

    /// Arms the deferred flush. On the event loop the intake is fed on, arming it is a timer in the loop's own
    /// queue; a task would be created and run, and its sleep armed through the global executor, between two
    /// events of the same read (~40 µs on the ring's path, measured).
    private func deferFlush() {
        guard self.deferred == nil else { return }
        self.settles &+= 1
        let settle = self.settles
        if let loop = self.timerLoop {
            let (seconds, attoseconds) = Self.settleDelay.components
            let delay = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            self.deferred = .timer(loop.scheduleTask(in: delay) { Task { await self.settled(settle) } })
        } else {
            self.deferred = .task(
                Task {
                    try? await Task.sleep(for: Self.settleDelay)
                    guard !Task.isCancelled else { return }
                    self.settled(settle)
                })
        }
    }

    /// The deferred flush is due, unless it was cancelled or another one armed since.
    private func settled(_ settle: Int) {
        guard settle == self.settles, self.deferred != nil else { return }
        self.deferred = nil
        if self.flushing == nil, !self.pending.isEmpty { self.startFlush() }
    }

    /// Commits what is pending, and what gathers meanwhile as long as some of it has effects.
    private func flush() async {
        var first = true
        while first || self.pending.contains(where: \.urgent) {
            first = false
            let (steps, transaction) = self.transaction()
            do {
                self.committed(steps, .success(try await self.database.write(transaction)))
            } catch {
                self.committed(steps, .failure(error))
            }
        }
        self.flushing = nil
        if !self.pending.isEmpty, self.failure == nil { self.deferFlush() }
    }

    /// Takes what is pending, and the transaction that writes it.
    private func transaction() -> ([Step], @Sendable (Database) throws -> Committed) {
        let steps = self.pending
        self.pending.removeAll()
        let format = self.timeFormat
        self.sinceJournalPrune += steps.count
        let prune = self.sinceJournalPrune >= 500
        if prune { self.sinceJournalPrune = 0 }
        return (
            steps,
            { db in
                var calls: [String] = []
                var sweep = false
                var seq: Int64 = 0
                var written = CallEventRecorder.Written()
                for step in steps {
                    seq = try step.journal(db)
                    sweep = sweep || step.sweeps
                    for event in step.events
                    where try CallEventRecorder.apply(event, seq: seq, in: db, format: format, written: &written) {
                        calls.append(event.callID)
                    }
                }
                var snapshots: [String: CallSnapshot] = [:]
                for step in steps {
                    for id in step.snapshots where calls.contains(id) {
                        // The call and its operations as this transaction wrote them, when it wrote them all (a
                        // reconnect's sweep writes calls of its own).
                        if !sweep, let call = written.calls[id], let operations = written.operations[id] {
                            snapshots[id] = CallSnapshot(call: call, operations: operations)
                        } else if let call = try db.call(id) {
                            snapshots[id] = CallSnapshot(call: call, operations: try db.openOperations(callID: id))
                        }
                    }
                }
                if prune {
                    // Entries before the oldest call in progress, and older than ten minutes, rebuild nothing.
                    let keep = try db.oldestActiveSeq() ?? seq
                    try db.execute(
                        sql: "DELETE FROM journal WHERE seq < ? AND at < ?", arguments: [keep, unixNow() - 600])
                }
                return Committed(calls: calls, sweep: sweep, snapshots: snapshots)
            }
        )
    }

    /// What a transaction did: the calls that got operations, whether the whole outbox needs a look, and the
    /// snapshots asked for.
    private struct Committed: Sendable {
        var calls: [String]
        var sweep: Bool
        var snapshots: [String: CallSnapshot]
    }

    /// Tells the observers and the deliverer what a transaction committed.
    private func committed(_ steps: [Step], _ result: Result<Committed, any Error>) {
        switch result {
        case .success(let committed):
            if let observer = self.observer {
                for step in steps { for event in step.events { observer(event) } }
            }
            if committed.sweep {
                self.wake([], [:])
            } else if !committed.calls.isEmpty {
                self.wake(committed.calls, committed.snapshots)
            }
        case .failure(let error):
            // The journal would lie from here on: the next event received throws, which stops the daemon.
            self.failure = error
            self.pending.removeAll()
            self.logger.critical("cannot write the call journal", metadata: ["error": "\(error)"])
        }
    }

    /// Waits until everything received so far is committed (also when the caller is cancelled: the daemon calls
    /// it as it stops); throws if the database could not be written.
    public func drained() async throws {
        if self.flushing == nil, !self.pending.isEmpty { self.startFlush() }
        while let flushing = self.flushing { await flushing.value }
        if let failure = self.failure { throw failure }
    }

    static func time(of message: AMIMessage, arrival: Double) -> Double {
        message["Timestamp"].flatMap(Double.init) ?? arrival
    }

    static func messages(in bytes: [UInt8], encoding: AMITextEncoding) -> [AMIMessage] {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = AMIFrameDecoder(encoding: encoding)
        var messages: [AMIMessage] = []
        while let frame = try? decoder.decodeLast(buffer: &buffer, seenEOF: true) {
            if case .message(let message) = frame { messages.append(message) }
        }
        return messages
    }
}

/// Unix time now.
func unixNow() -> Double { Date().timeIntervalSince1970 }
