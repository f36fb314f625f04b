import AMI
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Where and how to reach Asterisk's manager interface.
public struct AMIClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var login: AMIConnectionStateMachine.Configuration
    /// How values that are not UTF-8 are read (caller names in CP1251).
    public var encoding: AMITextEncoding
    /// A Ping is sent this often; a Ping unanswered by the next one means the link is dead.
    public var pingInterval: Duration
    /// How long an action may wait for its response.
    public var actionTimeout: Duration
    public var connectTimeout: Duration
    /// Ask for the channels in progress after each login (`CoreShowChannels`), so that calls that went on
    /// while the link was down are neither lost nor duplicated.
    public var reconcileOnConnect: Bool

    public init(
        host: String, port: Int = 5038, login: AMIConnectionStateMachine.Configuration,
        encoding: AMITextEncoding = .cp1251, pingInterval: Duration = .seconds(20),
        actionTimeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(5), reconcileOnConnect: Bool = true
    ) {
        self.host = host
        self.port = port
        self.login = login
        self.encoding = encoding
        self.pingInterval = pingInterval
        self.actionTimeout = actionTimeout
        self.connectTimeout = connectTimeout
        self.reconcileOnConnect = reconcileOnConnect
    }
}

/// What the client tells its owner.
public enum AMIClientEvent: Sendable {
    /// Logged in (after every reconnect too).
    case connected(version: String)
    /// An AMI event.
    case message(AMIMessage)
    /// The channels in progress right after a login, from `CoreShowChannels` (one `CoreShowChannel` event each).
    case reconciled(channels: [AMIMessage])
    /// The link is down; the client reconnects by itself.
    case disconnected(AMIError)
    /// A block that could not be read was skipped.
    case malformed(AMIMalformedBlock)
}

/// An action's outcome: the response, and the events of its list for actions such as `CoreShowChannels`.
public struct AMIResponse: Sendable {
    public var message: AMIMessage
    public var events: [AMIMessage]
}

/// A client of the Asterisk Manager Interface over TCP (SwiftNIO): logs in, keeps the link alive, reconnects with
/// backoff, correlates responses and event lists by ActionID, and streams events.
///
/// `run()` drives everything from one task: the connection state machine, the socket, timers and the actions
/// callers send, all arrive in one stream of inputs, so no state is shared between tasks.
public final class AMIClient: Sendable {
    public let configuration: AMIClientConfiguration
    /// Events for the owner, in order. Unbounded: an event is never dropped for a slow reader.
    public let events: AsyncStream<AMIClientEvent>
    private let eventSink: AsyncStream<AMIClientEvent>.Continuation
    private let inputs: AsyncStream<Input>
    private let inputSink: AsyncStream<Input>.Continuation
    /// The event loop of every connection the client makes.
    private let loop: any EventLoop
    /// Runs the client's own work on that event loop (`run()`); the owner may read `events` there too (see
    /// `EventLoopTaskExecutor`).
    public let executor: EventLoopTaskExecutor
    private let logger: Logger

    enum Input: Sendable {
        case tick
        case command(name: String, fields: [(String, String)], reply: CheckedContinuation<AMIResponse, any Error>)
        case opened(session: Int, channel: any Channel)
        /// The frames of one read from the socket, in order.
        case frames(session: Int, [AMIFrame])
        case closed(session: Int, error: AMIError)
    }

    public init(
        configuration: AMIClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.loop = eventLoopGroup.next()
        self.executor = EventLoopTaskExecutor(self.loop)
        self.logger = logger
        (self.events, self.eventSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (self.inputs, self.inputSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Sends an action and waits for its response (and its event list, if it has one). An `ActionID` among the
    /// fields is used as the action's id; otherwise the client makes one.
    ///
    /// - Throws: `AMIError` `.notConnected`, `.actionFailed` (Asterisk answered Error), `.actionTimeout`,
    ///   `.connectionClosed`, `.invalidAction`.
    public func send(_ name: String, _ fields: [(String, String)] = []) async throws -> AMIResponse {
        try await withCheckedThrowingContinuation { reply in
            if case .terminated = self.inputSink.yield(.command(name: name, fields: fields, reply: reply)) {
                reply.resume(throwing: AMIError(.notConnected, "the client is not running"))
            }
        }
    }

    /// Runs the client until the calling task is cancelled. Call once.
    public func run() async {
        await withTaskExecutorPreference(self.executor) { await self.runOnLoop() }
        self.eventSink.finish()
    }

    private func runOnLoop() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    self.inputSink.yield(.tick)
                }
            }
            var loop = Loop(client: self)
            loop.begin(group: &group)
            for await input in self.inputs {
                await loop.handle(input, group: &group)
            }
            loop.finish()
            group.cancelAll()
        }
    }

    /// Stops `run()` (the same as cancelling its task).
    public func shutdown() {
        self.inputSink.finish()
    }

    // MARK: - The loop

    struct Pending {
        var reply: CheckedContinuation<AMIResponse, any Error>?
        var deadline: ContinuousClock.Instant
        var response: AMIMessage?
        var events: [AMIMessage] = []
        /// The client's own CoreShowChannels after login.
        var isReconcile = false
    }

    struct Session {
        var id: Int
        /// Set when the connection is up.
        var channel: (any Channel)?
    }

    /// State owned by `run()`'s task alone.
    struct Loop {
        let client: AMIClient
        var machine: AMIConnectionStateMachine
        var session: Session?
        var nextSession = 1
        var pending: [String: Pending] = [:]
        var reconnectAt: ContinuousClock.Instant?
        var nextPing: ContinuousClock.Instant?
        /// Why this side is closing the connection, when it is: reported instead of the plain close.
        var closingError: AMIError?
        let clock = ContinuousClock()

        init(client: AMIClient) {
            self.client = client
            self.machine = AMIConnectionStateMachine(configuration: client.configuration.login)
        }

        var logger: Logger { self.client.logger }

        mutating func begin(group: inout TaskGroup<Void>) {
            let action = self.machine.start()
            self.perform(action, group: &group)
        }

        mutating func finish() {
            _ = self.machine.stop()
            self.session?.channel?.close(promise: nil)
            self.failPending(AMIError(.connectionClosed, "the client stopped"))
        }

        mutating func handle(_ input: Input, group: inout TaskGroup<Void>) async {
            switch input {
            case .tick:
                let now = self.clock.now
                if let at = self.reconnectAt, now >= at {
                    self.reconnectAt = nil
                    self.perform(self.machine.reconnectTimerFired(), group: &group)
                }
                if let at = self.nextPing, now >= at {
                    self.nextPing = now.advanced(by: self.client.configuration.pingInterval)
                    await self.run(self.machine.pingTimerFired(), group: &group)
                }
                for (id, pending) in self.pending where now >= pending.deadline {
                    self.pending[id] = nil
                    pending.reply?.resume(throwing: AMIError(.actionTimeout, "no response in time"))
                    if pending.isReconcile {
                        self.logger.warning("CoreShowChannels got no response, calls in progress not reconciled")
                    }
                }
            case .command(let name, let fields, let reply):
                guard self.machine.isReady, let channel = self.session?.channel else {
                    reply.resume(throwing: AMIError(.notConnected, "not logged in to Asterisk"))
                    return
                }
                // A caller may choose the ActionID (to recognise an Originate's OriginateResponse).
                let given = fields.first { $0.0.lowercased() == "actionid" }?.1
                let id = given ?? self.machine.makeActionID()
                let action: AMIAction
                do {
                    action = try AMIAction(name, actionID: id, fields.filter { $0.0.lowercased() != "actionid" })
                } catch {
                    reply.resume(throwing: error)
                    return
                }
                self.pending[id] = Pending(
                    reply: reply, deadline: self.clock.now.advanced(by: self.client.configuration.actionTimeout))
                self.logger.debug("AMI action sent", metadata: ["ami.action": "\(name)", "ami.action_id": "\(id)"])
                await self.write(action, channel)
            case .opened(let id, let channel):
                guard self.session?.id == id else {
                    channel.close(promise: nil)
                    return
                }
                self.session?.channel = channel
                self.perform(self.machine.connected(), group: &group)
            case .frames(let id, let frames):
                for frame in frames {
                    guard self.session?.id == id else { return }
                    await self.received(frame, group: &group)
                }
            case .closed(let id, let closeError):
                guard self.session?.id == id else { return }
                let error = self.closingError ?? closeError
                self.closingError = nil
                self.session = nil
                self.nextPing = nil
                self.failPending(AMIError(.connectionClosed, error.message))
                let action = self.machine.connectionClosed(error)
                if case .scheduleReconnect = action {
                    self.logger.warning(
                        "AMI connection lost, reconnecting",
                        metadata: ["ami.host": "\(self.client.configuration.host)", "error": "\(error)"])
                    self.client.eventSink.yield(.disconnected(error))
                }
                self.perform(action, group: &group)
            }
        }

        mutating func received(_ frame: AMIFrame, group: inout TaskGroup<Void>) async {
            switch frame {
            case .banner(let version):
                self.logger.debug("AMI banner", metadata: ["ami.version": "\(version)"])
                await self.run(self.machine.bannerReceived(version), group: &group)
            case .malformed(let block):
                self.logger.warning("AMI block skipped", metadata: ["error": "\(block)"])
                self.client.eventSink.yield(.malformed(block))
            case .message(let message):
                if case .awaitingBanner = self.machine.state {
                    // A peer without a greeting line: log in anyway.
                    await self.run(self.machine.bannerReceived(""), group: &group)
                }
                if message.skippedLines > 0 {
                    self.logger.debug(
                        "AMI lines skipped in a block", metadata: ["ami.skipped": "\(message.skippedLines)"])
                }
                await self.run(self.machine.messageReceived(message), group: &group)
            }
        }

        /// Carries out an action that needs no writing.
        mutating func perform(_ action: AMIConnectionStateMachine.Action, group: inout TaskGroup<Void>) {
            switch action {
            case .connect:
                self.connect(group: &group)
            case .scheduleReconnect(let after, let attempt, _):
                self.logger.debug(
                    "AMI reconnect scheduled", metadata: ["ami.attempt": "\(attempt)", "ami.delay": "\(after)"])
                self.reconnectAt = self.clock.now.advanced(by: after)
            case .close(let error):
                self.closingError = error
                if error.code == .loginRejected {
                    self.logger.error(
                        "AMI login rejected: check the username and secret in manager.conf and the configuration",
                        metadata: ["ami.host": "\(self.client.configuration.host)", "error": "\(error)"])
                }
                self.session?.channel?.close(promise: nil)
            case .none:
                break
            case .send, .loggedIn, .deliver:
                assertionFailure("\(action) needs run(_:)")
            }
        }

        /// Carries out any action.
        mutating func run(_ action: AMIConnectionStateMachine.Action, group: inout TaskGroup<Void>) async {
            switch action {
            case .send(let amiAction):
                if let channel = self.session?.channel { await self.write(amiAction, channel) }
            case .loggedIn(let version):
                self.logger.info(
                    "AMI logged in",
                    metadata: ["ami.host": "\(self.client.configuration.host)", "ami.version": "\(version)"])
                self.nextPing = self.clock.now.advanced(by: self.client.configuration.pingInterval)
                self.client.eventSink.yield(.connected(version: version))
                if self.client.configuration.reconcileOnConnect, let channel = self.session?.channel {
                    let id = self.machine.makeActionID()
                    var pending = Pending(
                        reply: nil, deadline: self.clock.now.advanced(by: self.client.configuration.actionTimeout))
                    pending.isReconcile = true
                    self.pending[id] = pending
                    await self.write(try! AMIAction("CoreShowChannels", actionID: id), channel)
                }
            case .deliver(let message):
                self.deliver(message)
            case .none:
                break
            case .connect, .scheduleReconnect, .close:
                self.perform(action, group: &group)
            }
        }

        mutating func deliver(_ message: AMIMessage) {
            if let id = message["ActionID"], var pending = self.pending[id] {
                if message.kind == .response {
                    if message.has("Response", equalTo: "Error") {
                        self.pending[id] = nil
                        pending.reply?.resume(throwing: AMIError(.actionFailed, message["Message"] ?? "Error"))
                        return
                    }
                    pending.response = message
                    let isList = message["EventList"]?.lowercased() == "start"
                    if !isList {
                        self.complete(id, pending)
                        return
                    }
                    self.pending[id] = pending
                    return
                }
                if message["EventList"]?.lowercased() == "complete" {
                    self.complete(id, pending)
                    return
                }
                pending.events.append(message)
                self.pending[id] = pending
                return
            }
            if message.kind == .event {
                self.client.eventSink.yield(.message(message))
            }
        }

        mutating func complete(_ id: String, _ pending: Pending) {
            self.pending[id] = nil
            if pending.isReconcile {
                self.logger.info("AMI channels in progress read", metadata: ["ami.channels": "\(pending.events.count)"])
                self.client.eventSink.yield(.reconciled(channels: pending.events))
                return
            }
            pending.reply?.resume(returning: AMIResponse(message: pending.response!, events: pending.events))
        }

        mutating func failPending(_ error: AMIError) {
            for (_, pending) in self.pending { pending.reply?.resume(throwing: error) }
            self.pending.removeAll()
        }

        func write(_ action: AMIAction, _ channel: any Channel) async {
            var buffer = ByteBuffer()
            action.write(into: &buffer)
            do {
                try await channel.writeAndFlush(buffer)
            } catch {
                // The connection is going away; its close arrives as an input and fails what is pending.
                self.logger.debug("AMI write failed", metadata: ["error": "\(error)"])
            }
        }

        mutating func connect(group: inout TaskGroup<Void>) {
            let id = self.nextSession
            self.nextSession += 1
            self.session = Session(id: id)
            let configuration = self.client.configuration
            let sink = self.client.inputSink
            let eventLoop = self.client.loop
            self.logger.debug(
                "AMI connecting", metadata: ["ami.host": "\(configuration.host)", "ami.port": "\(configuration.port)"])
            group.addTask {
                do {
                    let timeout = TimeAmount.milliseconds(
                        configuration.connectTimeout.components.seconds * 1000
                            + configuration.connectTimeout.components.attoseconds / 1_000_000_000_000_000)
                    // Frames go from the event loop straight into the loop's inputs, in order, with the
                    // connection's opening and closing (no task in between to wake for each one).
                    let channel = try await ClientBootstrap(group: eventLoop)
                        .connectTimeout(timeout)
                        .connect(host: configuration.host, port: configuration.port) { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    ByteToMessageHandler(AMIFrameDecoder(encoding: configuration.encoding)))
                                try channel.pipeline.syncOperations.addHandler(InputForwarder(session: id, sink: sink))
                                return channel
                            }
                        }
                    try await channel.closeFuture.get()
                } catch {
                    sink.yield(.closed(session: id, error: AMIError(.connectionClosed, "\(error)")))
                }
            }
        }
    }
}

/// Hands a connection's frames to the client's loop from the event loop, and tells it when the connection opened
/// and closed. Everything goes through the one input stream, so the loop sees them in the order they happened.
/// The frames of one read go together: one wake-up of the loop for a burst of events (a ring is three).
private final class InputForwarder: ChannelInboundHandler {
    typealias InboundIn = AMIFrame

    let session: Int
    let sink: AsyncStream<AMIClient.Input>.Continuation
    /// Frames of the read in progress (event loop only).
    private var frames: [AMIFrame] = []
    /// The close was reported already (with the error that caused it).
    private var closed = false

    init(session: Int, sink: AsyncStream<AMIClient.Input>.Continuation) {
        self.session = session
        self.sink = sink
    }

    func channelActive(context: ChannelHandlerContext) {
        self.sink.yield(.opened(session: self.session, channel: context.channel))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.frames.append(self.unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.forward()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.reportClosed(AMIError(.connectionClosed, "closed by the peer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A read error: the connection cannot go on; the error is what is reported as the loss.
        self.reportClosed(AMIError(.connectionClosed, "\(error)"))
        context.close(promise: nil)
    }

    private func forward() {
        guard !self.frames.isEmpty else { return }
        self.sink.yield(.frames(session: self.session, self.frames))
        self.frames.removeAll(keepingCapacity: true)
    }

    private func reportClosed(_ error: AMIError) {
        self.forward()
        guard !self.closed else { return }
        self.closed = true
        self.sink.yield(.closed(session: self.session, error: error))
    }
}
