import AMI
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A local stand-in for Asterisk's manager interface, over real TCP: greets with a banner, accepts plain and MD5
/// challenge logins, answers Ping, CoreShowChannels, Originate, Command and Logoff, and sends events — one by one
/// or played from a capture of a real Asterisk. It keeps the channels its events created, so CoreShowChannels
/// answers what a real PBX would after a reconnect. Tests and `callhook demo` use it; admins can run it with
/// `callhook sandbox ami`.
public final class AMIPeer: Sendable {
    public struct Configuration: Sendable {
        public var username: String
        public var secret: String
        /// The protocol version in the banner.
        public var version: String

        public init(username: String = "callhook", secret: String = "callhook", version: String = "5.0.5") {
            self.username = username
            self.secret = secret
            self.version = version
        }
    }

    struct Connection: Sendable {
        var writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
        var channel: any Channel
        var loggedIn = false
        var events = true
        var challenge: String?
    }

    struct State: Sendable {
        var connections: [Int: Connection] = [:]
        var nextConnection = 1
        /// Live channels by Uniqueid: the fields CoreShowChannel reports.
        var channels: [String: [(String, String)]] = [:]
        var channelOrder: [String] = []
        var actions: [AMIMessage] = []
        var answersPing = true
        var holdGreetings = false
        var nextChallenge = 100_000_001
    }

    public let configuration: Configuration
    public let port: Int
    private let server: NIOAsyncChannel<NIOAsyncChannel<AMIFrame, ByteBuffer>, Never>
    private let state = Mutex(State())
    private let logger: Logger

    private init(
        configuration: Configuration, server: NIOAsyncChannel<NIOAsyncChannel<AMIFrame, ByteBuffer>, Never>,
        logger: Logger
    ) {
        self.configuration = configuration
        self.server = server

        self.port = server.channel.localAddress?.port ?? 0
        self.logger = logger
    }

    /// Listens on `host:port` (port 0 picks a free one; see `port`). Call `run()` to serve.
    public static func bind(
        host: String = "127.0.0.1", port: Int = 0, configuration: Configuration = Configuration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) async throws -> AMIPeer {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(AMIFrameDecoder()))
                    return try NIOAsyncChannel<AMIFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return AMIPeer(configuration: configuration, server: server, logger: logger)
    }

    /// Serves connections until `stop()` or cancellation.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await self.server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    /// Closes the listener and every connection.
    public func stop() {
        self.dropConnections()
        self.server.channel.close(promise: nil)
    }

    /// Closes every client connection, as a PBX restart or a network failure would.
    public func dropConnections() {
        let channels = self.state.withLock { $0.connections.values.map(\.channel) }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Whether Ping gets an answer (off: a link that looks alive but is dead).
    public func answerPings(_ answer: Bool) {
        self.state.withLock { $0.answersPing = answer }
    }

    /// Whether new connections wait for their banner (a PBX still starting): clients connect but cannot log in.
    public func holdGreetings(_ hold: Bool) {
        self.state.withLock { $0.holdGreetings = hold }
    }

    /// Actions received so far, in order (Login and Challenge included).
    public var receivedActions: [AMIMessage] { self.state.withLock { $0.actions } }

    /// Logged-in connections.
    public var loggedInConnections: Int { self.state.withLock { $0.connections.values.filter(\.loggedIn).count } }

    /// Uniqueids of the channels the peer's events left up.
    public var liveChannels: [String] { self.state.withLock { $0.channelOrder } }

    /// Sends events to every logged-in connection that wants events, in order.
    public func send(_ events: [AMIMessage]) async {
        let (buffer, listeners) = self.prepare(events)
        for listener in listeners { try? await listener.writer.write(buffer) }
    }

    /// The events tracked and encoded, and the connections that take them.
    private func prepare(_ events: [AMIMessage]) -> (ByteBuffer, [Connection]) {
        var buffer = ByteBuffer()
        for event in events {
            self.track(event)
            event.write(into: &buffer)
        }
        let listeners = self.state.withLock { state in
            state.connections.values.filter { $0.loggedIn && $0.events }
        }
        return (buffer, listeners)
    }

    /// Sends events like `send`, and tells when they went onto the socket of the (first) client that takes
    /// events: `MonotonicClock` nanoseconds, read on the event loop as it writes them (`callhook bench` times
    /// from there). Nil when no client takes events.
    public func sendTimed(_ events: [AMIMessage]) async -> UInt64? {
        let (buffer, listeners) = self.prepare(events)
        var first: UInt64?
        for channel in listeners.map(\.channel) {
            let bytes = buffer
            let written = try? await channel.eventLoop.submit {
                let now = MonotonicClock.nanoseconds()
                channel.writeAndFlush(bytes, promise: nil)
                return now
            }.get()
            first = first ?? written
        }
        return first
    }

    /// Plays the events of a capture (the banner, responses and client actions in it are skipped).
    ///
    /// - Parameter pace: the pause between two events (none by default).
    /// - Returns: how many events were sent.
    @discardableResult
    public func play(capture: ByteBuffer, pace: Duration? = nil) async -> Int {
        let events = Self.events(in: capture)
        if let pace {
            for event in events {
                await self.send([event])
                try? await Task.sleep(for: pace)
            }
        } else {
            await self.send(events)
        }
        return events.count
    }

    /// The events of a capture, in order.
    public static func events(in capture: ByteBuffer) -> [AMIMessage] {
        var buffer = capture
        var decoder = AMIFrameDecoder()
        var events: [AMIMessage] = []
        while let frame = try? decoder.decodeLast(buffer: &buffer, seenEOF: true) {
            if case .message(let message) = frame, message.kind == .event { events.append(message) }
        }
        return events
    }

    // MARK: - Serving one connection

    private func serve(_ connection: NIOAsyncChannel<AMIFrame, ByteBuffer>) async {
        let id = self.state.withLock { state in
            defer { state.nextConnection += 1 }
            return state.nextConnection
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                self.state.withLock {
                    $0.connections[id] = Connection(writer: outbound, channel: connection.channel)
                }
                while self.state.withLock({ $0.holdGreetings }) { try await Task.sleep(for: .milliseconds(10)) }
                try await outbound.write(ByteBuffer(string: "Asterisk Call Manager/\(self.configuration.version)\r\n"))
                for try await frame in inbound {
                    guard case .message(let message) = frame, message.kind == .action else { continue }
                    let (reply, close) = self.answer(message, connection: id)
                    if let reply {
                        var buffer = ByteBuffer()
                        for block in reply { block.write(into: &buffer) }
                        try await outbound.write(buffer)
                    }
                    if close { break }
                }
            }
        } catch {
            self.logger.debug("AMI peer connection ended", metadata: ["error": "\(error)"])
        }
        _ = self.state.withLock { $0.connections.removeValue(forKey: id) }
    }

    /// The reply blocks to an action, and whether to close the connection after them.
    private func answer(_ action: AMIMessage, connection id: Int) -> ([AMIMessage]?, Bool) {
        let name = (action["Action"] ?? "").lowercased()
        var base: [(String, String)] = []
        if let actionID = action["ActionID"] { base.append(("ActionID", actionID)) }
        func response(_ status: String, _ fields: [(String, String)]) -> AMIMessage {
            AMIMessage([("Response", status)] + base + fields)
        }
        return self.state.withLock { state -> ([AMIMessage]?, Bool) in
            state.actions.append(action)
            guard var connection = state.connections[id] else { return (nil, true) }
            defer { state.connections[id] = connection }
            switch name {
            case "challenge":
                let challenge = String(state.nextChallenge)
                state.nextChallenge += 1
                connection.challenge = challenge
                return ([response("Success", [("Challenge", challenge)])], false)
            case "login":
                let userOK = action["Username"] == self.configuration.username
                let secretOK: Bool
                if action["AuthType"]?.lowercased() == "md5", let challenge = connection.challenge {
                    secretOK = action["Key"] == AMIConnectionStateMachine.md5Hex(challenge + self.configuration.secret)
                } else {
                    secretOK = action["Secret"] == self.configuration.secret
                }
                guard userOK && secretOK else {
                    return ([response("Error", [("Message", "Authentication failed")])], true)
                }
                connection.loggedIn = true
                connection.events = (action["Events"] ?? "on").lowercased() != "off"
                return (
                    [
                        response("Success", [("Message", "Authentication accepted")]),
                        AMIMessage([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")]),
                    ], false
                )
            case _ where !connection.loggedIn:
                return ([response("Error", [("Message", "Permission denied")])], false)
            case "ping":
                guard state.answersPing else { return (nil, false) }
                return ([response("Success", [("Ping", "Pong"), ("Timestamp", "1764058502.000000")])], false)
            case "logoff":
                return ([response("Goodbye", [("Message", "Thanks for all the fish.")])], true)
            case "coreshowchannels":
                var blocks = [response("Success", [("EventList", "start"), ("Message", "Channels will follow")])]
                for uniqueid in state.channelOrder {
                    blocks.append(AMIMessage([("Event", "CoreShowChannel")] + base + (state.channels[uniqueid] ?? [])))
                }
                blocks.append(
                    AMIMessage(
                        [("Event", "CoreShowChannelsComplete")] + base
                            + [("EventList", "Complete"), ("ListItems", String(state.channelOrder.count))]))
                return (blocks, false)
            case "originate":
                return ([response("Success", [("Message", "Originate successfully queued")])], false)
            case "command":
                return ([response("Success", [("Message", "Command output follows"), ("Output", "")])], false)
            default:
                return ([response("Error", [("Message", "Invalid/unknown command")])], false)
            }
        }
    }

    /// Keeps the channel list up to date with an event the peer sends.
    private func track(_ event: AMIMessage) {
        guard let name = event.eventName, let uniqueid = event["Uniqueid"] else { return }
        self.state.withLock { state in
            switch name {
            case "Newchannel":
                if state.channels[uniqueid] == nil { state.channelOrder.append(uniqueid) }
                state.channels[uniqueid] = Self.channelFields(event)
            case "Newstate", "NewCallerid", "NewConnectedLine", "BridgeEnter", "BridgeLeave":
                guard var fields = state.channels[uniqueid] else { return }
                for (key, value) in Self.channelFields(event) {
                    if let i = fields.firstIndex(where: { $0.0 == key }) {
                        fields[i].1 = value
                    } else {
                        fields.append((key, value))
                    }
                }
                if name == "BridgeEnter", let bridge = event["BridgeUniqueid"] { Self.set(&fields, "BridgeId", bridge) }
                if name == "BridgeLeave" { Self.set(&fields, "BridgeId", "") }
                state.channels[uniqueid] = fields
            case "Hangup":
                state.channels[uniqueid] = nil
                state.channelOrder.removeAll { $0 == uniqueid }
            default:
                return
            }
        }
    }

    private static func set(_ fields: inout [(String, String)], _ key: String, _ value: String) {
        if let i = fields.firstIndex(where: { $0.0 == key }) {
            fields[i].1 = value
        } else {
            fields.append((key, value))
        }
    }

    private static func channelFields(_ event: AMIMessage) -> [(String, String)] {
        let keys = [
            "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
            "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid",
        ]
        return keys.compactMap { key in event[key].map { (key, $0) } }
    }
}
