import Bitrix24
import HTTPClient
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
        /// The registration prepared ahead (`OperationRunner.lookUpAhead`), for a call still ringing and a
        /// registration not tried before.
        var prepared: OperationRunner.PreparedRegistration? = nil
    }
}

/// The look-up part of an incoming call's registration, started by the ring itself, as the intake receives it and
/// before it is committed: need_registration, process_phone_number, process_search_params, the client search and
/// get_search_filter run, in their order and on the very input the `register` operation will have, while the ring
/// is written to the store. The operation then takes the result instead of running them again; what creates or
/// registers anything (the entity, the registration) still runs only from the operation, after the ring is
/// committed.
///
/// The look-up runs on a lane, a thread of its own (`TransferThread`), when one is free: its hooks run there and
/// its search blocks that thread in place, and the operation, once it has the ring committed, goes on there with
/// the entity, process_registration_params and `register` (`Claim.then`). From the ring to the register request
/// the chain takes one hand-over between threads instead of one to the HTTP pool and back for each request.
///
/// Nothing here is written down: after a crash the operation does the look-up itself. A result is used once, only
/// for the same conversation and phone, only if the call has not ended meanwhile, and only while fresh; a call
/// whose ring never becomes an operation (a call between extensions, a second ring) is forgotten after a minute.
final class RingHeadStart: Sendable {
    typealias Lookup = Result<RingLookup, Bitrix24Error>

    private struct Entry {
        /// The input the look-up ran on: a claim takes its result only for the same.
        var party: String
        var conversation: JSONValue
        var startedAt: Double
        var task: Task<Lookup, Never>
        var lane: Int?
        /// The look-up's result, as soon as it has one (the claim takes it without waiting on `task`).
        var result: Lookup?
        /// Work handed to the look-up's own task (`follow`), which runs it when the look-up is done.
        var handOff: (@Sendable () async -> Void)?
        /// The look-up's task takes no more work: `follow` starts a task of its own on the lane.
        var closed = false
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Calls that had their head start (a call's first ring only).
        var seen: [String: Double] = [:]
        /// The chains running on each lane.
        var busy: [Int]
    }

    /// A look-up the operation took over: it goes on from where the look-up ends, on the look-up's lane if it
    /// had one.
    struct Claim: Sendable {
        fileprivate let task: Task<Lookup, Never>
        fileprivate let result: Lookup?
        fileprivate let lane: (thread: TransferThread, index: Int)?
        fileprivate let owner: RingHeadStart
        /// When the intake read the ring (`RingHeadStart.now()`).
        let rangAt: Double

        /// Waits for the look-up and runs `rest` with its result, on the look-up's lane if it had one.
        func then<T: Sendable>(_ rest: @Sendable (RingLookup) async throws(Bitrix24Error) -> T)
            async throws(Bitrix24Error) -> T
        {
            if let lane { self.owner.state.withLock { $0.busy[lane.index] += 1 } }
            defer { if let lane { self.owner.state.withLock { $0.busy[lane.index] -= 1 } } }
            // Handed over to the look-up's own task: on the lane already, with the result at hand.
            if self.result != nil, self.lane?.thread.isCurrentThread ?? true {
                return try await rest(try await self.lookup().get())
            }
            return try await withTaskExecutorPreference(self.lane?.thread) { () async throws(Bitrix24Error) -> T in
                try await rest(try await self.lookup().get())
            }
        }

        /// The result the look-up left for the claim, or its task's once it ends.
        private func lookup() async -> Lookup {
            if let result = self.result { return result }
            return await self.task.value
        }
    }

    /// How old a look-up may be when its operation comes to use it.
    private let freshness: Double = 30
    /// How long a look-up done before its ring is committed keeps its lane's thread running, waiting for the
    /// operation (`follow`). Parking the thread and waking it again costs more than that on a small virtual
    /// machine, where a parked vCPU comes back with cold caches: the wait is the commit's rest, ~0.1–0.3 ms.
    private let handOffWait: Double = 0.002
    private let state: Mutex<State>
    /// Threads of their own for the look-ups and the registrations that follow them (`TransferThread`): one
    /// chain per lane at a time; a ring that finds them all busy runs its look-up on the cooperative threads.
    private let lanes: [TransferThread]

    init(lanes: Int) {
        self.lanes = (0..<lanes).map { _ in TransferThread() }
        self.state = Mutex(State(busy: Array(repeating: 0, count: lanes)))
    }

    /// The ring of `callID` at `party`: starts the look-up unless the call had one already.
    func start(callID: String, conversation: JSONValue, party: String, runner: OperationRunner) {
        // A click-to-call claims its originate in the look-up: that write stays with the operation.
        guard conversation["from_local"]?.boolValue != true else { return }
        let now = Self.now()
        let start = self.state.withLock { state -> (fresh: Bool, lane: Int?) in
            if state.seen.count > 1000 {
                state.seen = state.seen.filter { now - $0.value < 60 }
                state.entries = state.entries.filter { now - $0.value.startedAt < 60 }
            }
            guard state.seen[callID] == nil else { return (false, nil) }
            state.seen[callID] = now
            let lane = state.busy.firstIndex(of: 0)
            if let lane { state.busy[lane] += 1 }
            return (true, lane)
        }
        guard start.fresh else { return }
        // Beside the commit that follows on this thread, not after it (`TransferThread.keepOffCurrentCPU`).
        if let lane = start.lane { self.lanes[lane].keepOffCurrentCPU() }
        // The entry is in place before the task can look for work handed to it.
        self.state.withLock { state in
            // On the lane if one was free; without a preference (nil), on the cooperative threads.
            let task = Task<Lookup, Never>(executorPreference: start.lane.map { self.lanes[$0] }) {
                defer { if let lane = start.lane { self.state.withLock { $0.busy[lane] -= 1 } } }
                let result: Lookup
                do throws(Bitrix24Error) {
                    result = .success(
                        try await runner.lookUpAhead(conversation: conversation, party: party, callID: callID))
                } catch {
                    result = .failure(error)
                }
                if let work = self.handedOff(callID, result: result, wait: start.lane != nil) { await work() }
                return result
            }
            state.entries[callID] = Entry(
                party: party, conversation: conversation, startedAt: now, task: task, lane: start.lane)
        }
    }

    /// The look-up of `callID` is done: its result goes where the claim finds it, and the work `follow` handed to
    /// its task, if any, is returned. On a lane, it waits a moment for that work, keeping the thread running.
    private func handedOff(_ callID: String, result: Lookup, wait: Bool) -> (@Sendable () async -> Void)? {
        let deadline = Self.now() + self.handOffWait
        self.state.withLock { $0.entries[callID]?.result = result }
        while true {
            let (work, open) = self.state.withLock { state -> ((@Sendable () async -> Void)?, Bool) in
                guard var entry = state.entries[callID], !entry.closed else { return (nil, false) }
                let work = entry.handOff
                entry.handOff = nil
                // No work and no more waiting: from now on `follow` starts a task of its own.
                if work == nil, !wait || Self.now() >= deadline { entry.closed = true }
                let open = !entry.closed
                state.entries[callID] = entry
                return (work, open)
            }
            if let work { return work }
            guard open else { return nil }
            sched_yield()
        }
    }

    /// Runs `work` on the lane of `callID`'s look-up, as part of its chain, if the look-up has a lane (and was
    /// not claimed yet) and `admitted` agrees. Returns whether it does.
    ///
    /// The look-up's own task takes the work if it is still running or waiting for it (`handedOff`): the chain
    /// goes on without waking the lane's thread again.
    func follow(_ callID: String, if admitted: () -> Bool, with work: @escaping @Sendable () async -> Void) -> Bool {
        guard let lane = self.state.withLock({ $0.entries[callID]?.lane }), admitted() else { return false }
        let chain: @Sendable () async -> Void = {
            await work()
            self.state.withLock { $0.busy[lane] -= 1 }
        }
        let handedOff = self.state.withLock { state -> Bool in
            state.busy[lane] += 1
            guard state.entries[callID]?.closed == false else { return false }
            state.entries[callID]?.handOff = chain
            return true
        }
        if !handedOff { Task(executorPreference: self.lanes[lane], operation: chain) }
        return true
    }

    /// The look-up started for this call and this input, if any and still fresh; used up either way.
    func claim(_ callID: String, conversation: JSONValue, party: String?) -> Claim? {
        guard let entry = self.state.withLock({ $0.entries.removeValue(forKey: callID) }) else { return nil }
        // The operation's input went through the store's JSON and back, which keeps every value as it was
        // (`JSONValue`): compared as values, in any order of the members.
        guard let party, entry.party == party, entry.conversation == conversation,
            Self.now() - entry.startedAt < self.freshness
        else { return nil }
        return Claim(
            task: entry.task, result: entry.result, lane: entry.lane.map { (self.lanes[$0], $0) }, owner: self,
            rangAt: entry.startedAt)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
