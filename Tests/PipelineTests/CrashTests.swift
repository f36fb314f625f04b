import AMI
import Foundation
import JSON
import Logging
import SandboxSupport
import Sandboxes
import Store
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Hundreds of calls while the daemon (`callhook run`, a separate process) is killed with SIGKILL at random
/// moments and started again. The portal must end with every call registered once and finished once, and no lead
/// or task made twice.
///
/// The test PBX holds its timeline while no client is logged in: calls that begin and end entirely while
/// Callhook is down are beyond what any AMI client can know (Asterisk does not replay events). What a kill can
/// lose is what was in flight: events sent but not yet committed. The tracker adopts channels it meets in later
/// events and the reconnect's CoreShowChannels ends those whose hangup was lost, so those calls still arrive.
@Suite(.serialized) struct CrashTests {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("callhook")

    /// Steps of `calls`, interleaved: a window of calls in progress at once, as on a busy PBX.
    static func interleave(_ calls: [PlayedCall], window: Int) -> [[AMIMessage]] {
        var ordered: [[AMIMessage]] = []
        var active: [(call: PlayedCall, next: Int)] = []
        var pending = calls[...]
        while !active.isEmpty || !pending.isEmpty {
            while active.count < window, let call = pending.popFirst() { active.append((call, 0)) }
            var still: [(call: PlayedCall, next: Int)] = []
            for (call, next) in active {
                ordered.append(call.steps[next])
                if next + 1 < call.steps.count { still.append((call, next + 1)) }
            }
            active = still
        }
        return ordered
    }

    final class Daemon: Sendable {
        let configPath: String
        private let process = Mutex<Process?>(nil)

        init(configPath: String) {
            self.configPath = configPath
        }

        func start() throws {
            let process = Process()
            process.executableURL = CrashTests.binary
            let debug = ProcessInfo.processInfo.environment["CALLHOOK_TEST_LOG"] != nil
            process.arguments = ["run", "--config", self.configPath, "--log-level", debug ? "info" : "critical"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = debug ? FileHandle.standardError : FileHandle.nullDevice
            try process.run()
            self.process.withLock { $0 = process }
        }

        var isRunning: Bool { self.process.withLock { $0?.isRunning ?? false } }

        func kill() {
            guard let process = self.process.withLock({ $0 }) else { return }
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            guard let process = self.process.withLock({ $0 }) else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    @Test(.timeLimit(.minutes(5))) func killedAtRandomMomentsAndRestarted() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build the callhook binary first")
        let count = ProcessInfo.processInfo.environment["CALLHOOK_CRASH_CALLS"].flatMap { Int($0) } ?? 300
        let played = PlayedCall.calls(count, start: 1_764_100_000)
        let steps = Self.interleave(played, window: 8)
        let quiet = { () -> Logger in
            var logger = Logger(label: "test.crash")
            logger.logLevel = .critical
            return logger
        }()
        let portalConfiguration = Bitrix24SandboxConfiguration(burst: 100_000, rate: 100_000)
        try await withLocalBitrix24(portalConfiguration) { portal in
            let pbx = try await AMIPeer.bind(logger: quiet)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "callhook-crash-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer {
                if ProcessInfo.processInfo.environment["CALLHOOK_TEST_KEEP"] == nil {
                    try? FileManager.default.removeItem(at: directory)
                }
            }
            let config = directory.appendingPathComponent("callhook.yaml")
            try """
            ami: {host: 127.0.0.1, port: \(pbx.port), username: callhook, secret: callhook, reconnect_max_s: 1}
            calls: {timezone: UTC}
            hooks: {directory: \(directory.appendingPathComponent("hooks").path)}
            store: {path: \(directory.appendingPathComponent("callhook.sqlite").path)}
            bitrix24:
              webhook: \(portal.webhookURL)
              rate: {burst: 10000, per_second: 1000}
              show_debounce_ms: 20
              missed_call_tasks: true
            """.write(to: config, atomically: true, encoding: .utf8)
            let daemon = Daemon(configPath: config.path)
            try daemon.start()
            defer { daemon.stop() }
            let kills = Counter()

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await pbx.run() }
                // A daemon that cannot start (a bad configuration) would leave the player waiting for a login.
                let loginDeadline = ContinuousClock.now.advanced(by: .seconds(20))
                while pbx.loggedInConnections == 0, ContinuousClock.now < loginDeadline, daemon.isRunning {
                    try await Task.sleep(for: .milliseconds(20))
                }
                guard pbx.loggedInConnections > 0 else {
                    pbx.stop()
                    group.cancelAll()
                    Issue.record("callhook run did not log in to the test PBX")
                    return
                }
                let player = Task {
                    for step in steps {
                        while pbx.loggedInConnections == 0 { try await Task.sleep(for: .milliseconds(2)) }
                        await pbx.send(step)
                        try await Task.sleep(for: .milliseconds(12))
                    }
                }
                let killer = Task {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(Int64.random(in: 300...900)))
                        if Task.isCancelled { break }
                        daemon.kill()
                        kills.add()
                        try await Task.sleep(for: .milliseconds(Int64.random(in: 0...150)))
                        try daemon.start()
                    }
                }
                try await player.value
                killer.cancel()
                _ = try? await killer.value
                // Whatever state the killer left it in, the daemon runs now.
                if pbx.loggedInConnections == 0 {
                    daemon.kill()
                    try daemon.start()
                }

                let deadline = ContinuousClock.now.advanced(by: .seconds(120))
                var state = await portal.state()
                while ContinuousClock.now < deadline {
                    state = await portal.state()
                    let calls = state["calls"]?.arrayValue ?? []
                    if calls.count >= played.count, calls.allSatisfy({ $0["finish"].map { !$0.isNull } ?? false }) {
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                pbx.stop()
                group.cancelAll()

                let calls = state["calls"]?.arrayValue ?? []
                let byExternal = Dictionary(grouping: calls) { $0["EXTERNAL_CALL_ID"]?.stringValue ?? "" }
                let missing = played.filter { byExternal[$0.id] == nil }.map(\.id)
                let twice = byExternal.filter { $0.value.count > 1 }.map(\.key)
                let unfinished = calls.filter { $0["finish"]?.isNull ?? true }.compactMap {
                    $0["EXTERNAL_CALL_ID"]?.stringValue
                }
                #expect(kills.value >= 5, "the daemon was killed \(kills.value) times")
                #expect(missing.isEmpty, "calls never registered: \(missing)")
                #expect(twice.isEmpty, "calls registered twice: \(twice)")
                #expect(unfinished.isEmpty, "calls never finished: \(unfinished)")
                #expect(calls.count == played.count)
                // The portal refuses a second finish, so "finished once" is what it holds; what a crash could still
                // get wrong is the finish itself. A talk must not come out as a missed call. Its length is exact
                // unless an event of it was lost in a kill: a lost answer shows in the reconnect's channel list
                // (the channel is up) and the talk is counted from when the channel appeared (its ring, under ten
                // seconds here, is added); a lost hangup ends the call when Callhook is back (marked inferred, and
                // this test's PBX clock runs far ahead of the real one, so only the status is checked then).
                let store = try CallhookDatabase(path: directory.appendingPathComponent("callhook.sqlite").path)
                let inferred = try store.readNow { db in
                    Set(try db.calls(state: "ended").filter { $0.facts["end"]?["end_inferred"] == true }.map(\.id))
                }
                let wrongFinish = played.compactMap { call -> String? in
                    guard let finish = byExternal[call.id]?.first?["finish"], !finish.isNull else { return nil }
                    func text(_ key: String) -> String? {
                        finish[key].flatMap { $0.stringValue ?? $0.integerValue.map(String.init) }
                    }
                    let duration = text("DURATION").flatMap(Int.init) ?? -1
                    let status = text("STATUS_CODE") ?? ""
                    let right =
                        call.duration == 0
                        ? duration == 0 && status != "200"
                        : status == "200"
                            && (inferred.contains(call.id) || (call.duration...call.duration + 10).contains(duration))
                    return right ? nil : "\(call.id): \(status), \(duration) s (talked \(call.duration) s)"
                }
                #expect(wrongFinish.isEmpty, "calls finished wrongly: \(wrongFinish)")
                let leads = state["leads"]?.arrayValue ?? []
                let leadOrigins = leads.compactMap { $0["ORIGIN_ID"]?.stringValue }
                #expect(Set(leadOrigins).count == leadOrigins.count, "a lead made twice for one call")
                #expect(leads.count == played.count, "every number was new: one lead per call")
                let tasks = (state["tasks"]?.arrayValue ?? []).compactMap { $0["xmlId"]?.stringValue }
                #expect(Set(tasks).count == tasks.count, "a task made twice for one call")
                #expect(tasks.count >= played.count / 3, "every missed call has its task")
            }
        }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { self.count.withLock { $0 += 1 } }
    var value: Int { self.count.withLock { $0 } }
}
