import AMI
import ArgumentParser
import Bitrix24
import Calls
import Config
import Daemon
import Foundation
import JSON
import Logging
import NIOCore
import Pipeline
import Sandboxes
import Store
import Synchronization

/// `callhook demo`: the whole product on one machine, with nothing external. A local Bitrix24 and a local AMI
/// server on loopback; the daemon between them with the shipped hooks; real captures of Asterisk calls played
/// over TCP, and a few scripted calls for what the captures do not show. Prints the timeline and what the
/// portal holds at the end.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Callhook end to end against a local Bitrix24 and a local Asterisk (AMI), and show what happens.",
        discussion: """
            Plays real AMI captures (an incoming queue call from Asterisk 13, an outgoing call through a provider,
            an internal call) and scripted calls (a ring group, a missed call, a click-to-call) through the daemon
            with the hooks in ./hooks, and prints each call's events, the hooks that ran and the CRM requests.
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print the portal's final state (/_sandbox/state) as JSON instead of the timeline.") var json = false
    @Flag(help: "Keep the local Bitrix24 and AMI running afterwards, to explore (Ctrl-C to stop).") var keep = false
    @Option(help: "The hooks directory.") var hooks = "hooks"
    @Option(help: "How much faster than real time the captures play.") var speed = 40.0

    func run() async throws {
        self.global.bootstrapLogging(defaultLevel: .error)
        var logger = Logger(label: "callhook.demo")
        logger.logLevel = self.global.logLevel ?? .error
        // The local servers' own chatter (their shutdown at the end) only when asked for.
        var serverLogger = Logger(label: "callhook.demo.servers")
        serverLogger.logLevel = self.global.logLevel ?? .critical
        let printer = Timeline(enabled: !self.json)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { if !self.keep { try? FileManager.default.removeItem(at: directory) } }

        let sandbox = Bitrix24Sandbox(configuration: Bitrix24SandboxConfiguration(), logger: serverLogger)
        let pbx = try await AMIPeer.bind(logger: serverLogger)
        let captures = try DemoCaptures.load()
        try DemoCaptures.writeRecords(captures, under: directory)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sandbox.run() }
            group.addTask { try await pbx.run() }
            while sandbox.port == nil { try await Task.sleep(for: .milliseconds(5)) }
            let portal = "http://127.0.0.1:\(sandbox.port!)"
            let configuration = try self.daemonConfiguration(
                portal: portal, sandbox: sandbox, pbx: pbx, directory: directory)
            let server = Mutex<Int?>(nil)
            let daemon = CallhookDaemon(
                configuration: configuration, logger: logger,
                observer: DaemonObserver(
                    call: { printer.call($0) }, delivery: { printer.delivery($0) },
                    started: { endpoints in server.withLock { $0 = endpoints.serverPort } }))
            group.addTask { try await daemon.run() }
            while pbx.loggedInConnections == 0 || server.withLock({ $0 }) == nil {
                try await Task.sleep(for: .milliseconds(5))
            }
            printer.line(
                """
                Callhook demo: local Bitrix24 on \(portal), local Asterisk AMI on 127.0.0.1:\(pbx.port)
                hooks: \(configuration.hooks.directory ?? "none"), store: \(configuration.store.path)\(
                    FileManager.default.fileExists(atPath: self.hooks)
                        ? "" : "\n(no \(self.hooks) here: the built-in defaults run; --hooks DIR for the examples)")

                """)
            let store = try CallhookDatabase(path: configuration.store.path)
            for capture in captures {
                printer.section("\(capture.title)\n   \(capture.about)")
                await DemoCaptures.play(capture.messages, on: pbx, speed: self.speed)
                try await Self.settle(store)
            }
            for call in DemoCalls.scripted() {
                printer.section("\(call.title)\n   \(call.about)")
                await DemoCaptures.play(call.messages, on: pbx, speed: self.speed)
                try await Self.settle(store)
            }
            printer.section("click-to-call (scripted): Дмитрий (9170) clicks ООО «Ромашка»'s number in the CRM")
            try await DemoCalls.clickToCall(
                sandbox: sandbox, pbx: pbx, events: "http://127.0.0.1:\(server.withLock { $0! })/bitrix24/events",
                speed: self.speed)
            try await Self.settle(store)

            let state = await sandbox.state()
            if self.json {
                Output.json(state)
            } else {
                printer.summary(state, store: try await store.read { db in try db.outboxCounts() })
            }
            if self.keep {
                Output.err(
                    "Still running: local Bitrix24 on \(portal) (state: \(portal)/_sandbox/state); Ctrl-C to stop.")
                try await group.next()
            }
            group.cancelAll()
        }
    }

    private func daemonConfiguration(portal: String, sandbox: Bitrix24Sandbox, pbx: AMIPeer, directory: URL) throws
        -> CallhookConfiguration
    {
        let scripted = FileManager.default.fileExists(atPath: self.hooks)
        let hooks = scripted ? self.hooks : directory.appendingPathComponent("no-hooks").path
        // Without the example scripts the recordings stay where the capture put them (on its PBX, not here):
        // the calls finish without them after a moment instead of the daemon's default wait.
        let recordWait = scripted ? "" : "\n  record_wait_s: 1"
        let webhook = "\(portal)/rest/\(sandbox.configuration.webhookUserID)/\(sandbox.configuration.webhookCode)/"
        var configuration = try CallhookConfiguration.parse(
            yaml: """
                ami: {host: 127.0.0.1, port: \(pbx.port), username: callhook, secret: callhook}
                calls: {timezone: Europe/Moscow}
                hooks:
                  directory: \(hooks)
                  settings:
                    phone_format: "+7"
                    lines: {"888999": {title: "Демо-линия", source: "CALL"}}
                    records: {from: "/var/www/pbx-aseeva.vistep.ru/callme/records/", to: "\(directory.path)/records/"}
                    tasks: {deadline_hours: 2, workday_start: 9, workday_end: 18}
                store: {path: \(directory.appendingPathComponent("callhook.sqlite").path)}
                server: {host: 127.0.0.1, port: 0}
                bitrix24:
                  webhook: \(webhook)
                  application_token: \(sandbox.configuration.applicationToken)
                  show_debounce_ms: 100
                  record_settle_s: 0\(recordWait)
                """, baseDirectory: FileManager.default.currentDirectoryPath)
        configuration.hooks.directory = hooks
        return configuration
    }

    /// Waits until the PBX's calls are over and the outbox has nothing left to send.
    static func settle(_ store: CallhookDatabase) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        try await Task.sleep(for: .milliseconds(300))
        while ContinuousClock.now < deadline {
            let (active, pending) = try await store.read { db in
                (try db.calls(state: "active").count, try db.operations(status: .pending).count)
            }
            if active == 0, pending == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(message: "the demo's calls did not settle within a minute")
    }
}

/// Prints what happens, one line per step, grouped under each call's first appearance.
final class Timeline: Sendable {
    let enabled: Bool
    private let started = Mutex<Set<String>>([])

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func line(_ text: String) {
        if self.enabled { Output.out(text) }
    }

    func section(_ title: String) {
        self.line("\n▶ \(title)")
    }

    func call(_ event: CallEvent) {
        switch event {
        case .started(let call):
            let direction = call.type == .incoming ? "incoming" : call.type == .outgoing ? "outgoing" : "internal"
            let line = call.trunk.isEmpty ? "" : ", line \(call.trunk)"
            self.line("  PBX   \(call.id)  \(direction) call \(call.from) → \(call.to)\(line)")
        case .ringing(_, let party, _): self.line("  PBX   ringing \(party.number)")
        case .ringStopped(_, let party): self.line("  PBX   stopped ringing \(party.number)")
        case .answered(_, let party, _): self.line("  PBX   answered by \(party.number)")
        case .transferred(_, _, let to, let kind): self.line("  PBX   \(kind.rawValue) transfer to \(to)")
        case .recording(_, let path): self.line("  PBX   recording to \((path as NSString).lastPathComponent)")
        case .ended(let call):
            self.line(
                "  PBX   ended: \(call.wasAnswered ? "answered, talked \(call.billsec) s" : "not answered"), status \(call.statusCode)"
            )
        case .absorbed(_, let into): self.line("  PBX   became part of call \(into)")
        }
    }

    func delivery(_ event: DeliveryEvent) {
        switch event {
        case .hook(_, let hook, let source, let decision):
            let outcome =
                (hook == .getUpdatedActivityFields || hook == .getUpdatedEntityFields) && decision == "cancel"
                ? "nothing to change" : decision
            self.line("  hook  \(hook.rawValue) (\(source)) → \(outcome)")
        case .request(_, let method, let params, let outcome):
            let shown = Self.brief(params)
            switch outcome {
            case .success(let result): self.line("  CRM   \(method) \(shown) → \(Self.brief(result))")
            case .failure(let error): self.line("  CRM   \(method) \(shown) → error \(error.code): \(error.message)")
            }
        case .operation(_, let kind, let status, let note):
            if status != "done" { self.line("  outbox \(kind): \(status)\(note.map { " (\($0))" } ?? "")") }
        case .registeredAfterRing(_, let seconds):
            self.line("  CRM   registered \(String(format: "%.1f", seconds * 1000)) ms after the ring")
        }
    }

    /// A short, readable form of parameters and results.
    static func brief(_ value: JSONValue) -> String {
        switch value {
        case .object(let members):
            let parts = members.members.prefix(8).map { "\($0.key)=\(self.brief($0.value))" }
            return "{" + parts.joined(separator: " ") + (members.count > 8 ? " …" : "") + "}"
        case .array(let items):
            if items.count > 3 { return "[\(items.count) items]" }
            return "[" + items.map(self.brief).joined(separator: ", ") + "]"
        case .string(let text):
            return text.count > 40 ? String(text.prefix(37)) + "…" : text
        default:
            return value.scalarText ?? "null"
        }
    }

    func summary(_ state: JSONValue, store: [OutboxOperation.Status: Int]) {
        self.line("\n■ What the portal holds")
        for call in state["calls"]?.arrayValue ?? [] {
            let finish = call["finish"] ?? .null
            let entity =
                call["CRM_ENTITY_TYPE"]?.stringValue.map { "\($0) \(call["CRM_ENTITY_ID"]?.scalarText ?? "")" }
                ?? "no client"
            let outcome =
                finish.isNull
                ? "not finished"
                : "status \(finish["STATUS_CODE"]?.scalarText ?? "?"), \(finish["DURATION"]?.scalarText ?? "0") s"
            let record = call["record"]?["FILENAME"]?.stringValue.map { ", record \($0)" } ?? ""
            self.line(
                "  \(call["TYPE"] == 1 ? "outgoing" : "incoming") \(call["PHONE_NUMBER"]?.scalarText ?? "")  user \(call["USER_ID"]?.scalarText ?? "")  \(entity)  shown to \(Self.brief(call["shown_to"] ?? []))  \(outcome)\(record)"
            )
        }
        let count = { (key: String) in state[key]?.arrayValue?.count ?? 0 }
        self.line(
            "  leads \(count("leads")), activities \(count("activities")), tasks \(count("tasks")); requests \(state["limits"]?["requests"]?.scalarText ?? "?"), refused for the rate limit \(state["limits"]?["query_limit_exceeded"]?.scalarText ?? "?")"
        )
        for task in state["tasks"]?.arrayValue ?? [] {
            self.line(
                "  task \(task["id"]?.scalarText ?? ""): \(task["title"]?.scalarText ?? "") → user \(task["responsibleId"]?.scalarText ?? ""), due \(task["deadline"]?.scalarText ?? "")"
            )
        }
        self.line(
            "  outbox: \(store[.done] ?? 0) done, \(store[.cancelled] ?? 0) not needed, \(store[.failed] ?? 0) failed, \(store[.pending] ?? 0) pending"
        )
    }
}
