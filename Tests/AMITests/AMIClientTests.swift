import AMI
import AMIClient
import Calls
import Foundation
import InMemoryLogging
import Logging
import NIOCore
import Sandboxes
import Synchronization
import TestSupport
import Testing

/// Collects what a stream yields, for tests to wait on.
final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    func append(_ item: Element) { self.items.withLock { $0.append(item) } }

    var all: [Element] { self.items.withLock { $0 } }

    /// Waits until `condition` holds for what was recorded, for at most `timeout`; returns the recording.
    @discardableResult
    func wait(
        for timeout: Duration = .seconds(10), until condition: ([Element]) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> [Element] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let now = self.all
            if condition(now) { return now }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting; recorded: \(self.all)", sourceLocation: sourceLocation)
        return self.all
    }
}

struct TCPFixture {
    let peer: AMIPeer
    let client: AMIClient
    let log: InMemoryLogHandler
    let events: Recorder<AMIClientEvent>
}

/// A local AMI peer and a client logged in to it over TCP, for the duration of `body`.
func withPeerAndClient(
    authentication: AMIConnectionStateMachine.Authentication = .md5, secret: String = "callhook",
    pingInterval: Duration = .seconds(20), reconcile: Bool = true,
    _ body: @Sendable (TCPFixture) async throws -> Void
) async throws {
    let log = InMemoryLogHandler()
    let logger = Logger(label: "test", factory: { _ in log })
    let peer = try await AMIPeer.bind(logger: logger)
    let backoff = AMIBackoff(initial: .milliseconds(50), maximum: .milliseconds(200))
    let client = AMIClient(
        configuration: AMIClientConfiguration(
            host: "127.0.0.1", port: peer.port,
            login: .init(username: "callhook", secret: secret, authentication: authentication, backoff: backoff),
            pingInterval: pingInterval, actionTimeout: .seconds(5), reconcileOnConnect: reconcile),
        logger: logger)
    let recorder = Recorder<AMIClientEvent>()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await peer.run() }
        group.addTask { await client.run() }
        group.addTask { for await event in client.events { recorder.append(event) } }
        defer {
            group.cancelAll()
            peer.stop()
        }
        try await body(TCPFixture(peer: peer, client: client, log: log, events: recorder))
    }
}

extension AMIClientEvent {
    var isConnected: Bool { if case .connected = self { return true } else { return false } }
    var isDisconnected: Bool { if case .disconnected = self { return true } else { return false } }
    var reconciledChannels: [AMIMessage]? { if case .reconciled(let c) = self { return c } else { return nil } }
    var message: AMIMessage? { if case .message(let m) = self { return m } else { return nil } }
}

extension Array where Element == AMIClientEvent {
    var connects: Int { self.filter(\.isConnected).count }
    var disconnects: [AMIError] {
        self.compactMap { if case .disconnected(let e) = $0 { return e } else { return nil } }
    }
    var reconciles: [[AMIMessage]] { self.compactMap(\.reconciledChannels) }
    var eventNames: [String] { self.compactMap { $0.message?.eventName } }
}

@Suite(.timeLimit(.minutes(1))) struct AMIClientTests {
    @Test(arguments: [AMIConnectionStateMachine.Authentication.md5, .plain])
    func logsInAndReceivesEvents(authentication: AMIConnectionStateMachine.Authentication) async throws {
        try await withPeerAndClient(authentication: authentication) { f in
            await f.events.wait { $0.connects == 1 }
            let login = f.peer.receivedActions.first { $0["Action"] == "Login" }
            #expect(login?["Username"] == "callhook")
            if authentication == .md5 {
                #expect(login?["Secret"] == nil, "the secret does not cross the wire")
                #expect(login?["Key"]?.count == 32)
            }
            let capture = ByteBuffer(bytes: try Fixtures.data("ami/pyfreepbx_answered.ami"))
            let played = await f.peer.play(capture: capture)
            #expect(played == 20)
            let expected = AMIPeer.events(in: capture).map { $0.eventName ?? "" }
            let recorded = await f.events.wait { $0.eventNames.filter { $0 != "FullyBooted" }.count >= 20 }
            #expect(recorded.eventNames.filter { $0 != "FullyBooted" } == expected)
        }
    }

    @Test func aWrongSecretIsReportedAndRetried() async throws {
        try await withPeerAndClient(secret: "wrong") { f in
            let events = await f.events.wait { !$0.disconnects.isEmpty }
            #expect(events.disconnects.first?.code == .loginRejected)
            #expect(f.log.entries.contains { $0.level == .error && $0.message.description.contains("login rejected") })
            #expect(!f.log.entries.contains { "\($0.metadata)".contains("wrong") }, "the secret is never logged")
        }
    }

    @Test func actionsGetTheirResponsesAndEventLists() async throws {
        try await withPeerAndClient { f in
            await f.events.wait { $0.connects == 1 }
            let pong = try await f.client.send("Ping")
            #expect(pong.message["Ping"] == "Pong")
            let originate = try await f.client.send(
                "Originate",
                [
                    ("Channel", "PJSIP/101"), ("Context", "from-internal"), ("Exten", "89161234567"), ("Priority", "1"),
                    ("Async", "true"),
                ])
            #expect(originate.message["Message"] == "Originate successfully queued")
            #expect(f.peer.receivedActions.last?["Exten"] == "89161234567")
            await f.peer.send([
                AMIMessage([
                    ("Event", "Newchannel"), ("Channel", "PJSIP/101-00000001"), ("Uniqueid", "1700000000.1"),
                    ("Linkedid", "1700000000.1"),
                ])
            ])
            let list = try await f.client.send("CoreShowChannels")
            #expect(list.events.map { $0["Channel"] } == ["PJSIP/101-00000001"])
            await #expect {
                try await f.client.send("NoSuchAction")
            } throws: { ($0 as? AMIError)?.code == .actionFailed }
        }
    }

    @Test func aDroppedLinkReconnectsAndReportsTheChannelsInProgress() async throws {
        try await withPeerAndClient { f in
            await f.events.wait { $0.reconciles.count == 1 }
            await f.peer.send([
                AMIMessage([
                    ("Event", "Newchannel"), ("Channel", "PJSIP/7001-00000001"), ("Uniqueid", "1700000000.1"),
                    ("Linkedid", "1700000000.1"), ("ChannelState", "4"),
                ])
            ])
            await f.events.wait { $0.eventNames.contains("Newchannel") }
            f.peer.dropConnections()
            let events = await f.events.wait { $0.reconciles.count == 2 }
            #expect(events.disconnects.count == 1)
            #expect(events.connects == 2)
            #expect(events.reconciles.last?.map { $0["Uniqueid"] } == ["1700000000.1"])
            #expect(f.peer.receivedActions.filter { $0["Action"] == "Login" }.count == 2)
        }
    }

    @Test func aPeerThatStopsAnsweringPingIsTreatedAsDead() async throws {
        try await withPeerAndClient(pingInterval: .milliseconds(200)) { f in
            await f.events.wait { $0.connects == 1 }
            f.peer.answerPings(false)
            let events = await f.events.wait { !$0.disconnects.isEmpty }
            #expect(events.disconnects.first?.code == .keepaliveTimeout)
            f.peer.answerPings(true)
            await f.events.wait { $0.connects == 2 }
        }
    }

    @Test func sendingWhileDisconnectedFailsClearly() async throws {
        let client = AMIClient(
            configuration: AMIClientConfiguration(host: "127.0.0.1", port: 1, login: .init(username: "u", secret: "s")),
            logger: Logger(label: "t"))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            await #expect {
                try await client.send("Ping")
            } throws: { ($0 as? AMIError)?.code == .notConnected }
            group.cancelAll()
        }
    }
}
