import AMI
import AMIClient
import Bitrix24
import Calls
import Config
import Foundation
import HTTPClient
import Hooks
import JSON
import Logging
import Pipeline
import Store
import Synchronization

/// Who wants to watch the daemon work (the demo's timeline, tests).
public struct DaemonObserver: Sendable {
    public var call: (@Sendable (CallEvent) -> Void)?
    public var delivery: (@Sendable (DeliveryEvent) -> Void)?
    public var started: (@Sendable (DaemonEndpoints) -> Void)?

    public init(
        call: (@Sendable (CallEvent) -> Void)? = nil, delivery: (@Sendable (DeliveryEvent) -> Void)? = nil,
        started: (@Sendable (DaemonEndpoints) -> Void)? = nil
    ) {
        self.call = call
        self.delivery = delivery
        self.started = started
    }
}

/// Where a running daemon can be reached.
public struct DaemonEndpoints: Sendable {
    /// The events/health server's port, if it runs.
    public var serverPort: Int?
}

/// The Callhook daemon: the AMI client feeding the intake (journal, calls, outbox), the deliverer working the
/// outbox through the hooks to Bitrix24, the portal's users, the events server for click-to-call, and
/// housekeeping. Runs until cancelled (SIGTERM/SIGINT through swift-service-lifecycle in `callhook run`).
public final class CallhookDaemon: Sendable {
    public let configuration: CallhookConfiguration
    private let logger: Logger
    private let observer: DaemonObserver
    let status = Mutex(Status())

    struct Status: Sendable {
        var amiConnected = false
        var amiVersion: String?
    }

    public init(configuration: CallhookConfiguration, logger: Logger, observer: DaemonObserver = DaemonObserver()) {
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
    }

    public func run() async throws {
        let settings = self.configuration.bitrix24
        guard let access = settings.access else {
            throw DaemonError(
                "no portal configured: set bitrix24.webhook (or bitrix24.oauth) in the configuration; `callhook demo` runs without one"
            )
        }
        let database = try CallhookDatabase(
            path: self.configuration.store.path,
            durability: self.configuration.store.durability == "full" ? .full : .normal)
        self.logger.info(
            "Callhook starting",
            metadata: [
                "store.path": "\(database.path)", "ami": "\(self.configuration.ami)",
                "crm.portal": "\(Self.displayAddress(access))",
            ])
        let metrics = DaemonMetrics()
        let hooks = await HookEngine(
            configuration: self.configuration.hooks, logger: self.logger, metricsFactory: metrics.factory)
        let http = CurlHTTPClient(threads: 4)
        let auth: Bitrix24Auth
        var tokenStore: (any Bitrix24TokenStore)?
        switch access {
        case .webhook(let url):
            auth = .webhook(url)
        case .oauth(let app, let initial):
            auth = .oauth(app)
            tokenStore = DatabaseTokenStore(database: database, initial: initial)
        }
        let client = Bitrix24Client(
            auth: auth, http: http, limiter: LeakyBucket(burst: settings.burst, rate: settings.rate),
            tokenStore: tokenStore, timeout: settings.timeout, combine: settings.combineRequests, logger: self.logger)
        let users = UserDirectory(
            database: database, client: client, refreshInterval: settings.usersRefresh, logger: self.logger)
        let format = CallTimeFormat(timeZone: self.configuration.calls.timeZone)
        let deliverer = Deliverer(
            database: database, client: client, hooks: hooks, users: users, settings: settings, timeFormat: format,
            logger: self.logger,
            observer: { [observer = self.observer.delivery] event in
                metrics.record(event)
                observer?(event)
            })
        let ami = AMIClient(
            configuration: AMIClientConfiguration(
                host: self.configuration.ami.host, port: self.configuration.ami.port,
                login: .init(
                    username: self.configuration.ami.username, secret: self.configuration.ami.secret,
                    authentication: self.configuration.ami.authentication, events: self.configuration.ami.events,
                    backoff: AMIBackoff(maximum: self.configuration.ami.reconnectMaximum)),
                encoding: self.configuration.ami.encoding, pingInterval: self.configuration.ami.pingInterval),
            logger: self.logger)
        // Fed on the AMI client's event loop (`feed`), the intake keeps its timer there too.
        let intake = CallIntake(
            database: database, configuration: self.configuration.calls, encoding: self.configuration.ami.encoding,
            logger: self.logger, observer: self.observer.call,
            lookAhead: { deliverer.lookAhead($0) }, timerLoop: ami.executor.loop,
            wake: { deliverer.wake(calls: $0, snapshots: $1) })
        try await intake.restore()
        let server = EventsServer(
            configuration: self.configuration, database: database, hooks: hooks, users: users, ami: ami, intake: intake,
            daemon: self, metrics: metrics, logger: self.logger)

        do {
            try await self.serve(
                ami: ami, intake: intake, deliverer: deliverer, users: users, hooks: hooks,
                server: server, database: database)
        } catch {
            try? await intake.drained()
            throw error
        }
        // What the PBX said last is in the journal before the daemon stops.
        try? await intake.drained()
        try? await database.checkpointInBackground(atIdlePriority: false)
    }

    private func serve(
        ami: AMIClient, intake: CallIntake, deliverer: Deliverer, users: UserDirectory, hooks: HookEngine,
        server: EventsServer, database: CallhookDatabase
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await ami.run() }
            // On the AMI client's event loop: from the socket to the intake without a hand-over between threads.
            group.addTask(executorPreference: ami.executor) { try await self.feed(ami, into: intake) }
            group.addTask {
                await users.start()
                await deliverer.run()
            }
            group.addTask { await hooks.watchScripts() }
            group.addTask { await self.housekeeping(database: database, users: users) }
            group.addTask { await self.checkpoints(database) }
            if self.configuration.server.port > 0 || self.observer.started != nil {
                group.addTask {
                    try await server.run { port in self.observer.started?(DaemonEndpoints(serverPort: port)) }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// AMI events into the intake. A database that cannot be written stops the daemon (the journal would lie).
    private func feed(_ ami: AMIClient, into intake: CallIntake) async throws {
        for await event in ami.events {
            switch event {
            case .connected(let version):
                self.status.withLock {
                    $0.amiConnected = true
                    $0.amiVersion = version
                }
                if ami.configuration.reconcileOnConnect { try await intake.linkUp(at: Date().timeIntervalSince1970) }
            case .disconnected:
                self.status.withLock { $0.amiConnected = false }
            case .message(let message):
                try await intake.receive(message, at: Date().timeIntervalSince1970)
            case .reconciled(let channels):
                try await intake.reconciled(channels, at: Date().timeIntervalSince1970)
            case .malformed(let block):
                self.logger.warning("AMI block skipped", metadata: ["ami.malformed": "\(block)"])
            }
            if Task.isCancelled { break }
        }
    }

    /// Every two seconds: the WAL copied back into the database file, on a thread of its own (commits never do
    /// it, so an AMI event's transaction never waits for the disk).
    private func checkpoints(_ database: CallhookDatabase) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            do {
                try await database.checkpointInBackground()
            } catch {
                self.logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Hourly: forget settled calls older than a week; refresh the users when due.
    private func housekeeping(database: CallhookDatabase, users: UserDirectory) async {
        var last = Date.distantPast
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(30))
            await users.refreshIfStale()
            guard Date().timeIntervalSince(last) > 3600 else { continue }
            last = Date()
            let cutoff = Date().timeIntervalSince1970 - 7 * 86_400
            if let removed = try? await database.write({ db in try db.pruneCalls(before: cutoff) }), removed > 0 {
                self.logger.info("old calls forgotten", metadata: ["calls.removed": "\(removed)"])
            }
        }
    }

    static func displayAddress(_ access: Bitrix24Settings.Access) -> String {
        switch access {
        case .webhook(let url): return Bitrix24Auth.webhook(url).displayAddress
        case .oauth(let app, _): return app.restEndpoint
        }
    }
}

public struct DaemonError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
