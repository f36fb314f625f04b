import ArgumentParser
import Config
import Daemon
import Foundation
import Logging
import ServiceLifecycle

/// `callhook run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: Asterisk (AMI) → hooks → Bitrix24, until SIGTERM or SIGINT.",
        discussion: """
            Reads callhook.yaml (or --config). Needs the ami and bitrix24 sections; see callhook.example.yaml and
            docs/operations.md. Everything it must deliver is kept in the store (store.path) first, so stopping or
            killing it loses nothing: the next start delivers what was pending.
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        self.global.bootstrapLogging(defaultLevel: .info)
        let logger = Logger(label: "callhook")
        let configuration: CallhookConfiguration
        do {
            configuration = try self.global.loadConfiguration()
        } catch {
            Output.err("callhook: \(error)")
            throw ExitCode(2)
        }
        let daemon = CallhookDaemon(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            services: [DaemonService(daemon: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
        } catch let error as DaemonError {
            Output.err("callhook: \(error)")
            throw ExitCode(1)
        }
    }
}

/// The daemon as a service: a graceful shutdown cancels it (everything pending is already in the store).
struct DaemonService: Service {
    let daemon: CallhookDaemon

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.daemon.run() }
    }
}
