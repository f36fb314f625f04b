import AMI
import Bitrix24
import Config
import Daemon
import Foundation
import Hooks
import JSON
import Logging
import Pipeline
import SandboxSupport
import Sandboxes
import Store
import Synchronization
import Testing

/// A whole installation on loopback: a local Bitrix24, a scripted PBX speaking AMI over TCP, and the daemon
/// between them with its own SQLite file and hooks directory.
struct Rig: Sendable {
    let portal: LocalBitrix24
    let pbx: AMIPeer
    let directory: URL
    let configuration: CallhookConfiguration
    let deliveries: Deliveries
    let server: ServerPort

    /// The daemon's events server, `http://127.0.0.1:<port>`.
    var serverURL: String { "http://127.0.0.1:\(self.server.port ?? 0)" }

    var databasePath: String { self.configuration.store.path }

    /// Plays AMI events to the daemon.
    func play(_ messages: [AMIMessage]) async {
        await self.pbx.send(messages)
    }

    /// Plays what the script wrote since the last call.
    func play(_ script: inout CallScript) async {
        await self.pbx.send(script.take())
    }

    func state() async -> JSONValue { await self.portal.state() }

    /// Waits until `condition` holds for the portal's state.
    @discardableResult
    func waitFor(
        _ what: String, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: (JSONValue) -> Bool
    ) async -> JSONValue {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let state = await self.state()
            if condition(state) { return state }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let state = await self.state()
        Issue.record(
            "timed out waiting for \(what); portal calls: \(state["calls"] ?? .null)", sourceLocation: sourceLocation)
        return state
    }

    /// Waits until the outbox has nothing pending, and has had nothing new for a while: the events played last
    /// may still be on their way into the store (an event that changes nothing waits for the next one up to
    /// 20 ms), and a call's register can be done before its hangup is read.
    func settled(timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> [OutboxOperation]
    {
        let database = try CallhookDatabase(path: self.databasePath)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var quiet: (count: Int, since: ContinuousClock.Instant)?
        while ContinuousClock.now < deadline {
            let operations = try await database.read { db in try db.operations(status: nil) }
            if !operations.isEmpty, !operations.contains(where: { $0.status == .pending }) {
                if let quiet, quiet.count == operations.count {
                    if ContinuousClock.now - quiet.since >= .milliseconds(150) { return operations }
                } else {
                    quiet = (operations.count, ContinuousClock.now)
                }
            } else {
                quiet = nil
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let operations = try await database.read { db in try db.operations(status: nil) }
        Issue.record(
            "the outbox did not settle: \(operations.map { "\($0.kind) \($0.status) \($0.lastError ?? "")" })",
            sourceLocation: sourceLocation)
        return operations
    }

    /// The portal's calls.
    static func calls(_ state: JSONValue) -> [JSONValue] { state["calls"]?.arrayValue ?? [] }

    /// Requests the portal carried out for `method`: on their own, or as commands of a batch none of whose
    /// commands failed.
    static func requests(_ state: JSONValue, _ method: String) -> [JSONValue] {
        var found: [JSONValue] = []
        for request in state["requests"]?.arrayValue ?? [] where request["status"] == 200 {
            if request["method"]?.stringValue == method {
                found.append(request)
            } else if request["method"] == "batch", request["command_errors"] == nil,
                case .object(let commands)? = request["params"]?["cmd"]
            {
                for case .string(let command) in commands.values {
                    let parts = command.split(separator: "?", maxSplits: 1)
                    guard parts.first?.lowercased() == method else { continue }
                    let params = parts.count > 1 ? PHPQuery.decode(parts[1]) : .object(JSONObject())
                    found.append(["method": .string(method), "params": params, "status": 200])
                }
            }
        }
        return found
    }
}

/// Runs `body` with a fresh installation. `hooks` are Lua scripts by hook point name; `settings` adjusts the
/// `bitrix24` section.
func withRig<T: Sendable>(
    hooks: [String: String] = [:], hookSettings: JSONObject = [:],
    portal portalConfiguration: Bitrix24SandboxConfiguration = Bitrix24SandboxConfiguration(),
    settings: @Sendable (inout Bitrix24Settings) -> Void = { _ in },
    _ body: @Sendable (Rig) async throws -> T
) async throws -> T {
    try await withLocalBitrix24(portalConfiguration) { portal in
        var logger = Logger(label: "test.pipeline")
        logger.logLevel = ProcessInfo.processInfo.environment["CALLHOOK_TEST_LOG"] == nil ? .critical : .debug
        let pbx = try await AMIPeer.bind(logger: logger)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-rig-\(UUID().uuidString)")
        let hooksDirectory = directory.appendingPathComponent("hooks")
        try FileManager.default.createDirectory(at: hooksDirectory, withIntermediateDirectories: true)
        for (name, source) in hooks {
            try source.write(
                to: hooksDirectory.appendingPathComponent("\(name).lua"), atomically: true, encoding: .utf8)
        }
        var configuration = try CallhookConfiguration.parse(
            yaml: """
                ami: {host: 127.0.0.1, port: \(pbx.port), username: callhook, secret: callhook, reconnect_max_s: 1}
                calls: {timezone: UTC}
                hooks: {directory: \(hooksDirectory.path), reload_interval_ms: 100}
                store: {path: \(directory.appendingPathComponent("callhook.sqlite").path)}
                server: {host: 127.0.0.1, port: 0}
                bitrix24:
                  webhook: \(portal.webhookURL)
                  application_token: \(portal.sandbox.configuration.applicationToken)
                  show_debounce_ms: 30
                  record_settle_s: 0
                  record_wait_s: 5
                """)
        settings(&configuration.bitrix24)
        if !hookSettings.isEmpty { configuration.hooks.settings = try HookSettings(raw: .object(hookSettings)) }
        if !hookSettings.isEmpty { configuration.hooks.settings = try HookSettings(raw: .object(hookSettings)) }
        let deliveries = Deliveries()
        let server = ServerPort()
        let rig = Rig(
            portal: portal, pbx: pbx, directory: directory, configuration: configuration, deliveries: deliveries,
            server: server)
        let daemon = CallhookDaemon(
            configuration: configuration, logger: logger,
            observer: DaemonObserver(
                delivery: { event in deliveries.append(event) },
                started: { endpoints in server.set(endpoints.serverPort) }))
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await pbx.run()
                return nil
            }
            group.addTask {
                try await daemon.run()
                return nil
            }
            let deadline = ContinuousClock.now.advanced(by: .seconds(10))
            while pbx.loggedInConnections == 0 || server.port == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            // The users are loaded before anything is delivered.
            while await portal.requests("user.get").isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let result = try await body(rig)
            pbx.stop()
            group.cancelAll()
            return result
        }
    }
}

/// What the deliverer reported, in order.
final class Deliveries: Sendable {
    private let items = Mutex<[DeliveryEvent]>([])

    func append(_ event: DeliveryEvent) { self.items.withLock { $0.append(event) } }

    var all: [DeliveryEvent] { self.items.withLock { $0 } }

    /// The hooks that ran, as "hook decision" lines.
    var hooks: [String] {
        self.all.compactMap { event in
            if case .hook(_, let hook, _, let decision) = event { return "\(hook.rawValue) \(decision)" }
            return nil
        }
    }
}

final class ServerPort: Sendable {
    private let value = Mutex<Int?>(nil)
    func set(_ port: Int?) { self.value.withLock { $0 = port } }
    var port: Int? { self.value.withLock { $0 } }
}
