import AMI
import ArgumentParser
import Foundation
import Logging
import NIOCore
import Sandboxes

/// `callhook sandbox …`: local stand-ins for the systems Callhook talks to.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run a local stand-in: a Bitrix24 portal, or an Asterisk AMI that plays captures.",
        subcommands: [Bitrix24SandboxCommand.self, AMISandboxCommand.self])
}

struct Bitrix24SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bitrix24",
        abstract: "A local Bitrix24 portal for trying hooks: telephony, CRM, tasks, events, batch, limits.",
        discussion: """
            Prints its inbound webhook; put it in bitrix24.webhook. GET /_sandbox/state shows what the portal holds
            and every request it got; POST /_sandbox/knobs injects latency, errors, outages and token expiry
            (docs/operations.md); POST /_sandbox/click-to-call plays a user clicking a number.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0 picks a free one).") var port = 8024
    @Option(help: "The request limit's burst (Bitrix24: 50; Enterprise 250).") var burst = 50
    @Option(help: "The request limit's drain rate per second (Bitrix24: 2; Enterprise 5).") var rate = 2.0
    @Option(help: "The inbound webhook's code.") var webhookCode = "sandbox-webhook-code"

    func run() async throws {
        self.global.bootstrapLogging(defaultLevel: .info)
        let configuration = Bitrix24SandboxConfiguration(
            webhookCode: self.webhookCode, burst: self.burst, rate: self.rate)
        let sandbox = Bitrix24Sandbox(configuration: configuration, logger: Logger(label: "bitrix24-sandbox"))
        let host = self.host
        try await sandbox.run(host: host, port: self.port) { port in
            Output.out("Local Bitrix24 on http://\(host):\(port)")
            Output.out(
                "  inbound webhook: http://\(host):\(port)/rest/\(configuration.webhookUserID)/\(configuration.webhookCode)/"
            )
            Output.out("  state:           http://\(host):\(port)/_sandbox/state")
            Output.out(
                "  users:           "
                    + configuration.users.map { "\($0.id) \($0.name) \($0.innerPhone ?? "-")" }.joined(separator: ", "))
        }
    }
}

struct AMISandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ami",
        abstract: "A local Asterisk manager interface: logs clients in and plays AMI captures to them.",
        discussion: "Login callhook / callhook. Each capture is played to the first client that logs in.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0 picks a free one).") var port = 5038
    @Option(help: "Pause between two events, in milliseconds.") var paceMs = 20
    @Argument(help: "AMI captures to play (raw AMI text).") var captures: [String] = []

    func run() async throws {
        self.global.bootstrapLogging(defaultLevel: .info)
        let peer = try await AMIPeer.bind(host: self.host, port: self.port, logger: Logger(label: "ami-sandbox"))
        Output.out("Local AMI on \(self.host):\(peer.port) (login callhook / callhook)")
        let captures = try self.captures.map { path -> ByteBuffer in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure(message: "cannot read \(path)")
            }
            return ByteBuffer(bytes: data)
        }
        let pace = Duration.milliseconds(self.paceMs)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await peer.run() }
            group.addTask {
                while peer.loggedInConnections == 0 { try await Task.sleep(for: .milliseconds(50)) }
                for capture in captures {
                    let count = await peer.play(capture: capture, pace: pace)
                    Output.err("played \(count) events")
                }
            }
            try await group.next()
            try await group.next()
        }
    }
}
