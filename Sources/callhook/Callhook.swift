import ArgumentParser
import Logging

@main
struct Callhook: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "callhook",
        abstract: "Connects office telephony (Asterisk/FreePBX, Mango Office) to CRMs, customisable with Lua hooks.",
        discussion: """
            Start with `callhook hooks run --all`: it runs every hook point of a sample call through the scripts in
            ./hooks and prints what each returned.
            """,
        version: Callhook.version,
        subcommands: [
            DemoCommand.self, RunCommand.self, HooksCommand.self, OutboxCommand.self, SandboxCommand.self,
            ReplayCommand.self, BenchCommand.self, VersionCommand.self,
        ]
    )

    static let version = "0.1.0"
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (YAML). Default: ./callhook.yaml when it exists.")
    var config: String?

    @Option(name: .long, help: "Log level on stderr: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level?

    func bootstrapLogging(defaultLevel: Logger.Level = .warning) {
        let level = self.logLevel ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
