import AMI
import ArgumentParser
import Bitrix24
import Config
import Daemon
import Foundation
import HTTPClient
import Hooks
import JSON
import Logging
import Sandboxes
import Store
import Synchronization

/// `callhook bench pipeline`: the daemon's whole path on loopback, timed from the outside.
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Ring-to-register latency (p50/p99) and the delivery rate against the portal's rate limit.",
        discussion: """
            Runs `callhook run` as its own process between a local Asterisk (AMI over TCP) and a local Bitrix24
            (HTTP), both in this process, with a Lua script at every one of the twelve hook points and its SQLite
            store on disk.

            Latency: calls one after another, from new numbers, then from a known client. Each call arrives on
            the trunk, and --dialplan-ms later the test PBX rings a phone (0 sends the ring with the arrival). The
            clock starts when the test PBX's event loop writes the ring's events to the AMI socket and stops when
            the local portal's event loop reads the telephony.externalcall.register request's head off its
            socket: the AMI read, the call tracker, the SQLite transaction, the hooks need_registration,
            process_phone_number, process_search_params, get_search_filter, process_entity_creation_params and
            process_registration_params are all inside it; for a new number the lead travels in the register's
            batch. The client search is made when the call arrives (bitrix24.search_ahead), so it is inside only
            if the dialplan takes less time than the search (--dialplan-ms 0). --samples writes every call's
            figure to a CSV file.

            The floor: the same bench with a bare client in the daemon's place (`bench floor-client`): one thread
            that reads the PBX's events with blocking reads, sends the same search when the call arrives and the
            same registration at the ring with blocking libcurl transfers, and nothing else. What the machine, the
            loopback and the local portal cost; the difference is Callhook's.

            Delivery rate: --backlog calls played at once against a portal whose leaky bucket is --burst and
            --rate per second (Callhook configured with the same). The HTTP requests the portal receives from the
            first to the last are divided by what its bucket allows in that time (burst + rate × time); every
            answer QUERY_LIMIT_EXCEEDED is counted.
            """)

    @Option(help: "Calls timed for the latency.") var calls = 300
    @Option(help: "Milliseconds from the call's arrival on the trunk to the first ring (the dialplan's run).")
    var dialplanMs = 10
    @Option(help: "Write each timed call's latency to this CSV file (kind, call, microseconds).") var samples: String?
    @Option(help: "The callhook binary to run as the daemon (another build, to compare; default: this one).")
    var daemon: String?
    @Option(help: "Calls queued at once for the delivery rate.") var backlog = 1000
    @Option(help: "The portal's bucket size for the delivery rate.") var burst = 50
    @Option(help: "The portal's drain rate (requests per second) for the delivery rate.") var rate = 20.0

    func run() async throws {
        LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
        Output.out("callhook bench pipeline: local Asterisk (AMI/TCP) → callhook daemon → local Bitrix24 (HTTP)")
        Output.out("all twelve hook points scripted in Lua; SQLite store in WAL mode on disk")
        Output.out("")
        Output.out(
            "ring → register, \(self.calls) calls one after another, each rung \(self.dialplanMs) ms after it arrived:")
        var csv = "kind,call,microseconds,read_microseconds\n"
        var rows: [(label: String, samples: [Arrival])] = []
        for (kind, known, floor, label) in [
            ("new", false, false, "new numbers (search, lead, register)"),
            ("known", true, false, "a known client (search, register)"),
            ("floor", true, true, "the floor: a bare client (search, register)"),
        ] {
            let samples = try await self.latency(
                knownClient: known, floor: floor, dialplan: .milliseconds(self.dialplanMs))
            for (index, arrival) in samples.enumerated() {
                csv += "\(kind),\(index),\(arrival.sent.map { String($0 / 1000) } ?? ""),\(arrival.received / 1000)\n"
            }
            rows.append((label, samples))
        }
        // The target is on the request as it leaves Callhook; what the local portal adds to read it (its event
        // loop's wake-up on a busy machine) is shown apart.
        for (title, sent) in [
            ("the request leaving (libcurl writes it to the portal's connection):", true),
            ("the request read by the local portal off its socket:", false),
        ] {
            Output.out("  \(title)")
            for (index, row) in rows.enumerated() {
                if index == rows.count - 1, sent { Output.out("    (target p99 < 2 ms)") }
                let values = row.samples.compactMap { sent ? $0.sent : $0.received }
                let label = row.label.padding(toLength: 43, withPad: " ", startingAt: 0)
                guard values.count == row.samples.count else {
                    Output.out("    \(label) (not stamped: a build without \(CurlHTTPClient.sentStampField))")
                    continue
                }
                let latency = LatencySample(values, total: values.reduce(0, +))
                Output.out(
                    "    \(label) p50 \(Self.ms(latency.percentile(0.5)))   "
                        + "p90 \(Self.ms(latency.percentile(0.9)))   p99 \(Self.ms(latency.percentile(0.99)))   "
                        + "max \(Self.ms(latency.percentile(1)))")
            }
        }
        Output.out(
            "  (the search is made when the call arrives, as the PBX runs its dialplan; the floor: one thread that\n"
                + "   reads the PBX's events with blocking reads and sends the same search at the arrival and the same\n"
                + "   registration at the ring with blocking libcurl transfers, no tracker, store, hooks or hand-over\n"
                + "   between threads, on the same bench: what the machine, the loopback and the local portal cost\n"
                + "   before Callhook does anything)")
        if let path = self.samples { try csv.write(toFile: path, atomically: true, encoding: .utf8) }
        Output.out("")
        let delivery = try await self.delivery()
        Output.out(
            "delivery of \(self.backlog) calls at once, portal limit: burst \(self.burst), \(Self.number(self.rate)) requests/s:"
        )
        Output.out(
            "  \(delivery.requests) HTTP requests carrying \(delivery.commands) CRM commands in "
                + String(format: "%.1f s", delivery.seconds))
        let allowed = Double(self.burst) + self.rate * delivery.seconds
        Output.out(
            "  the limit allows \(Int(allowed)) requests in that time (burst + rate × time): "
                + String(format: "%.1f %% of it used (target ≥ 95 %%)", Double(delivery.requests) / allowed * 100))
        Output.out(
            "  after the burst: " + String(format: "%.2f requests/s", delivery.sustained)
                + ", \(delivery.refused) answered QUERY_LIMIT_EXCEEDED (target 0)")
    }

    // MARK: - Latency

    /// Each timed call's latency in nanoseconds from its ring, in the order the calls were made.
    private func latency(knownClient: Bool, floor: Bool, dialplan: Duration) async throws -> [Arrival] {
        let arrivals = Arrivals()
        var samples: [Arrival] = []
        try await self.withInstallation(burst: 10_000, rate: 1000, floor: floor, arrivals: arrivals) { pbx, store in
            var script = CallScript(start: Date().timeIntervalSince1970)
            // A few calls to warm the Lua states, the statement cache and the HTTP connections.
            let warmup = 20
            for index in 0..<(warmup + self.calls) {
                // The local portal knows +79161234567 (a contact); the others are new, and get a lead each.
                let number = knownClient ? "+79161234567" : "+7999\(3_000_000 + index)"
                let trunk = script.incoming(from: number, did: "74951234567")
                if dialplan > .zero {
                    // The call arrives on the trunk; the PBX runs its dialplan before it dials a phone.
                    await pbx.send(script.take())
                    try await Task.sleep(for: dialplan)
                }
                let phone = script.phone(["101", "777", "7006", "9170"][index % 4], in: trunk)
                script.ring(trunk, phone)
                let ring = script.take()
                guard let sent = await pbx.sendTimed(ring) else {
                    throw Failure(message: "the daemon is not connected to the test PBX")
                }
                guard let arrived = await arrivals.register(of: trunk.linkedid, within: .seconds(10)) else {
                    throw Failure(message: "call \(trunk.linkedid) was not registered within ten seconds")
                }
                if index >= warmup {
                    samples.append(Arrival(received: arrived.received - sent, sent: arrived.sent.map { $0 - sent }))
                }
                script.answer(trunk, phone, bridge: "b-\(trunk.linkedid)", after: 2)
                script.hangup(trunk, after: 15)
                script.hangup(phone, after: 0)
                await pbx.send(script.take())
                try await Self.settle(store)
            }
        }
        return samples
    }

    // MARK: - Delivery rate

    struct Delivery {
        var requests: Int
        var commands: Int
        var seconds: Double
        var sustained: Double
        var refused: Int
    }

    private func delivery() async throws -> Delivery {
        let arrivals = Arrivals()
        var result = Delivery(requests: 0, commands: 0, seconds: 0, sustained: 0, refused: 0)
        try await self.withInstallation(burst: self.burst, rate: self.rate, floor: false, arrivals: arrivals) {
            pbx, store in
            arrivals.reset()
            var script = CallScript(start: Date().timeIntervalSince1970)
            for index in 0..<self.backlog {
                let number = "+7999\(4_000_000 + index)"
                if index % 3 == 1 {
                    script.missedIncoming(from: number, did: "74951234567", extensions: ["101", "777"], ring: 10)
                } else {
                    script.answeredIncoming(
                        from: number, did: "74951234567", extension: ["101", "777", "7006"][index % 3], talk: 30)
                }
            }
            await pbx.send(script.take())
            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            while try await store.read({ db in try db.callCount() }) < self.backlog, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Self.settle(store, timeout: .seconds(Double(self.backlog) * 10 / self.rate + 60))
            let times = arrivals.times
            guard let first = times.first, let last = times.last, times.count > self.burst else { return }
            result.requests = times.count
            result.commands = arrivals.commands
            result.seconds = Double(last - first) / 1e9
            let afterBurst = times[self.burst - 1]
            let window = Double(last - afterBurst) / 1e9
            result.sustained = window > 0 ? Double(times.count - self.burst) / window : 0
        } portalState: { state in
            result.refused = state["limits"]?["query_limit_exceeded"]?.integerValue.map(Int.init) ?? -1
        }
        return result
    }

    // MARK: - The installation

    /// A local portal, a test PBX and the daemon between them, with the bench's hooks; `body` runs while they do.
    /// With `floor`, the bare client (`FloorClient`) takes the daemon's place.
    private func withInstallation(
        burst: Int, rate: Double, floor: Bool, arrivals: Arrivals,
        _ body: (AMIPeer, CallhookDatabase) async throws -> Void,
        portalState: (JSONValue) -> Void = { _ in }
    ) async throws {
        let logger = Logger(label: "callhook.bench")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-bench-\(UUID().uuidString)")
        let hooks = directory.appendingPathComponent("hooks")
        try FileManager.default.createDirectory(at: hooks, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (hook, source) in Self.scripts {
            try source.write(to: hooks.appendingPathComponent(hook.fileName), atomically: true, encoding: .utf8)
        }
        let sandbox = Bitrix24Sandbox(
            configuration: Bitrix24SandboxConfiguration(burst: burst, rate: rate, requestLogLimit: 10), logger: logger)
        sandbox.observeArrivals { method, params, received, sent in
            arrivals.arrived(method, params, at: received, sent: sent)
        }
        let pbx = try await AMIPeer.bind(logger: logger)
        let warnings = DaemonLog()
        defer { Self.report(warnings.lines) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sandbox.run() }
            group.addTask { try await pbx.run() }
            while sandbox.port == nil { try await Task.sleep(for: .milliseconds(5)) }
            let storePath = directory.appendingPathComponent("callhook.sqlite").path
            let configPath = directory.appendingPathComponent("callhook.yaml")
            try """
            ami: {host: 127.0.0.1, port: \(pbx.port), username: callhook, secret: callhook, auth: \(floor ? "plain" : "md5")}
            calls: {timezone: Europe/Moscow}
            hooks: {directory: \(hooks.path), settings: {phone_format: "+7"}}
            store: {path: \(storePath)}
            server: {host: 127.0.0.1, port: 0}
            bitrix24:
              webhook: http://127.0.0.1:\(sandbox.port!)/rest/\(sandbox.configuration.webhookUserID)/\(sandbox.configuration.webhookCode)/
              rate: {burst: \(burst), per_second: \(rate)}
              show_debounce_ms: 100
              record_settle_s: 0
            """.write(to: configPath, atomically: true, encoding: .utf8)
            // The daemon runs as `callhook run` does in production: a process of its own, so that the test PBX,
            // the local portal and the bench's clock do not share its threads.
            let daemon = try DaemonProcess(
                binary: floor ? nil : self.daemon,
                arguments: floor
                    ? ["bench", "floor-client", "--config", configPath.path]
                    : ["run", "--config", configPath.path, "--log-level", "warning"],
                warnings: warnings)
            defer { daemon.stop() }
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while pbx.loggedInConnections == 0 {
                guard daemon.isRunning, ContinuousClock.now < deadline else {
                    throw Failure(message: "the daemon did not log in to the test PBX: \(warnings.lines.prefix(5))")
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            let store = try CallhookDatabase(path: storePath)
            try await Self.settle(store)
            try await body(pbx, store)
            portalState(await sandbox.state())
            // The daemon goes first, as an admin stops it: the PBX closing under it would be logged as a lost link.
            daemon.stop()
            group.cancelAll()
        }
    }

    /// Waits until no call is in progress and the outbox is empty.
    static func settle(_ store: CallhookDatabase, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let (active, pending) = try await store.read { db in
                (try db.callCount(state: "active"), try db.pendingCount())
            }
            if active == 0, pending == 0 { return }
            // Not too often: the bench shares the machine with the daemon it measures.
            try await Task.sleep(for: .milliseconds(5))
        }
        let stuck = try await store.read { db in
            try db.operations(status: nil).filter { $0.status == .pending || $0.status == .failed }.prefix(5).map {
                "\($0.kind) \($0.status) (\($0.lastError ?? "waiting"))"
            }
        }
        throw Failure(message: "the bench's calls did not settle within \(timeout); pending: \(stuck)")
    }

    /// The daemon runs at warning level: anything it logged (a script that failed and fell back to the built-in,
    /// a hooks directory it did not find, a CRM error) means the figures are not those of the path described.
    static func report(_ warnings: [String]) {
        guard !warnings.isEmpty else { return }
        Output.err(
            "warning: the daemon logged \(warnings.count) warnings or errors; the figures may not be what they claim:")
        for line in warnings.prefix(5) { Output.err("  \(line)") }
    }

    static func ms(_ nanoseconds: Double) -> String { String(format: "%.3f ms", nanoseconds / 1e6) }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// What each hook point runs: small scripts doing what integrators' scripts do (rewrite a number, filter by
    /// line, add a comment, pick fields), so that every hook of the path is a real Lua call.
    static let scripts: [(HookPoint, String)] = [
        (
            .processPhoneNumber,
            """
            return function(input)
              local digits = input.params.phone:gsub("%D", "")
              if #digits == 11 and digits:sub(1, 1) == "8" then digits = "7" .. digits:sub(2) end
              if #digits == 11 then return {data = {phone = "+" .. digits}, state = "success"} end
              return {data = {phone = input.params.phone}, state = "success"}
            end
            """
        ),
        (
            .needRegistration,
            """
            return function(input)
              local c = input.params.conversation
              return {data = {result = c.type ~= 1 and c.from ~= "100"}, state = "success"}
            end
            """
        ),
        (
            .processSearchParams,
            """
            return function(input)
              local p = input.params
              if p.conversation.trunk == "74957654321" then p.CRM_CREATE = 0 end
              p.conversation, p.user = nil, nil
              return {data = p, state = "success"}
            end
            """
        ),
        (
            .getSearchFilter,
            """
            return function(input)
              local kept = {}
              for _, entity in ipairs(input.params.entities) do
                if entity.CRM_ENTITY_TYPE ~= "COMPANY" or #kept == 0 then kept[#kept + 1] = entity end
              end
              return {data = {entities = callhook.array(kept)}, state = "success"}
            end
            """
        ),
        (
            .processEntityCreationParams,
            """
            return function(input)
              local p = input.params
              p.TITLE = "Звонок с " .. (p.conversation.from or "")
              p.COMMENTS = "линия " .. (p.conversation.trunk or "")
              p.conversation = nil
              return {data = p, state = "success"}
            end
            """
        ),
        (
            .processRegistrationParams,
            """
            return function(input)
              local p = input.params
              if p.conversation.trunk == "74951234567" then p.LINE_NUMBER = "74951234567" end
              p.conversation = nil
              return {data = p, state = "success"}
            end
            """
        ),
        (.processOriginateParams, "return function(input) return {data = input.params, state = \"success\"} end"),
        (
            .processFinalParams,
            """
            return function(input)
              local p = input.params
              if p.DURATION and p.DURATION < 0 then p.DURATION = 0 end
              p.conversation = nil
              return {data = p, state = "success"}
            end
            """
        ),
        (
            .processRecordFilePath,
            """
            return function(input)
              return {data = {path = input.params.path:gsub("^/var/spool/asterisk/", "/mnt/records/")}, state = "success"}
            end
            """
        ),
        (
            .processTaskCreationParams,
            """
            return function(input)
              local p = input.params
              p.arNewTaskData.TITLE = "Перезвонить: " .. (p.conversation.from or "")
              p.conversation = nil
              return {data = p, state = "success"}
            end
            """
        ),
        (
            .getUpdatedActivityFields,
            "return function(input) return {data = {}, state = \"success\"} end"
        ),
        (
            .getUpdatedEntityFields,
            "return function(input) return {data = {}, state = \"success\"} end"
        ),
    ]
}

/// When a request left its client (if the client said so) and when the local portal read it.
struct Arrival: Sendable {
    var received: UInt64
    var sent: UInt64?
}

/// The requests the local portal received, with their arrival times.
final class Arrivals: Sendable {
    private struct State {
        var registers: [String: Arrival] = [:]
        var waiting: [String: CheckedContinuation<Arrival?, Never>] = [:]
        var times: [UInt64] = []
        var commands = 0
    }
    private let state = Mutex(State())

    func reset() { self.state.withLock { $0 = State() } }

    /// When each request came off the portal's socket (`MonotonicClock` nanoseconds), in order.
    var times: [UInt64] { self.state.withLock { $0.times }.sorted() }
    var commands: Int { self.state.withLock { $0.commands } }

    func arrived(_ method: String, _ params: JSONValue, at now: UInt64, sent: UInt64? = nil) {
        var registered: [String] = []
        var commands = 1
        if method == "telephony.externalcall.register", let id = params["EXTERNAL_CALL_ID"]?.scalarText {
            registered.append(id)
        } else if method == "batch" {
            let cmd: [JSONValue]
            switch params["cmd"] {
            case .object(let members)?: cmd = members.values
            case .array(let items)?: cmd = items
            default: cmd = []
            }
            commands = cmd.count
            for case .string(let command) in cmd where command.hasPrefix("telephony.externalcall.register?") {
                let query = command.dropFirst("telephony.externalcall.register?".count)
                if let id = PHPQuery.decode(query)["EXTERNAL_CALL_ID"]?.scalarText { registered.append(id) }
            }
        }
        let resumed = self.state.withLock { state in
            state.times.append(now)
            state.commands += commands
            return registered.compactMap { id -> CheckedContinuation<Arrival?, Never>? in
                state.registers[id] = Arrival(received: now, sent: sent)
                return state.waiting.removeValue(forKey: id)
            }
        }
        for continuation in resumed { continuation.resume(returning: Arrival(received: now, sent: sent)) }
    }

    /// When the register request of the call `id` arrived (waits for it without polling; nil after `limit`).
    func register(of id: String, within limit: Duration) async -> Arrival? {
        let timeout = Task {
            try await Task.sleep(for: limit)
            let waiting = self.state.withLock { $0.waiting.removeValue(forKey: id) }
            waiting?.resume(returning: nil)
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { continuation in
            let arrived = self.state.withLock { state -> Arrival? in
                if let time = state.registers[id] { return time }
                state.waiting[id] = continuation
                return nil
            }
            if let arrived { continuation.resume(returning: arrived) }
        }
    }
}

extension Duration {
    fileprivate var seconds: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}

/// `callhook run`, started from this very binary with a configuration file; what it writes to stderr is kept.
final class DaemonProcess: Sendable {
    // Foundation's Process is not Sendable: it is only touched under this lock.
    private let process: Mutex<Process>

    init(binary: String?, arguments: [String], warnings: DaemonLog) throws {
        let process = Process()
        process.executableURL = URL(
            fileURLWithPath: binary ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0])
        process.arguments = arguments
        // Its requests say when they left (`CurlHTTPClient.sentStampField`).
        process.environment = ProcessInfo.processInfo.environment.merging(
            [CurlHTTPClient.sentStampEnvironment: "1"], uniquingKeysWith: { $1 })
        process.standardOutput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { warnings.append(data) }
        }
        try process.run()
        self.process = Mutex(process)
    }

    var isRunning: Bool { self.process.withLock { $0.isRunning } }

    /// SIGTERM, as a service manager stops it, and waits.
    func stop() {
        self.process.withLock { process in
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// Lines a child process wrote.
final class DaemonLog: Sendable {
    private let state = Mutex<(partial: [UInt8], lines: [String])>(([], []))

    func append(_ data: Data) {
        self.state.withLock { state in
            state.partial.append(contentsOf: data)
            while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                state.lines.append(String(decoding: state.partial[..<newline], as: UTF8.self))
                state.partial.removeSubrange(...newline)
            }
        }
    }

    var lines: [String] { self.state.withLock { $0.lines } }
}
