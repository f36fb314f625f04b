import ArgumentParser
import Config
import Foundation
import JSON
import Store

/// `callhook outbox …`: what is waiting to reach the CRM, and what an admin can do about what failed.
struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "List, retry or drop CRM operations (the store at store.path).",
        discussion: """
            An operation the portal refused for good (rights, auth type, invalid data) stays failed, with its
            error, and holds its call's later operations. Fix the cause, then `retry` it; or `drop` it so the call's
            next operations go. Safe while the daemon runs.
            """,
        subcommands: [List.self, Retry.self, Drop.self])

    static func open(_ global: GlobalOptions) throws -> CallhookDatabase {
        let configuration: CallhookConfiguration
        do {
            configuration = try global.loadConfiguration()
        } catch {
            Output.err("callhook: \(error)")
            throw ExitCode(2)
        }
        guard FileManager.default.fileExists(atPath: configuration.store.path) else {
            Output.err("callhook: no store at \(configuration.store.path) (store.path); has the daemon run?")
            throw ExitCode(1)
        }
        return try CallhookDatabase(path: configuration.store.path)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Operations by status (default: pending and failed).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "pending, failed, done, cancelled or all.") var status: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let database = try OutboxCommand.open(self.global)
            let wanted: [OutboxOperation.Status?]
            switch self.status {
            case nil: wanted = [.pending, .failed]
            case "all": wanted = [nil]
            case let name?:
                guard let status = OutboxOperation.Status(rawValue: name) else {
                    Output.err("callhook: --status must be pending, failed, done, cancelled or all")
                    throw ExitCode(2)
                }
                wanted = [status]
            }
            let operations = try await database.read { db in
                try wanted.flatMap { try db.operations(status: $0, limit: 10_000) }.sorted { $0.id < $1.id }
            }
            if self.json {
                Output.json(.array(operations.map(\.json)))
                return
            }
            if operations.isEmpty {
                Output.out("nothing")
                return
            }
            Output.out("    id  status     kind      attempts  call                 last error")
            for op in operations {
                let id = String(op.id)
                Output.out(
                    String(repeating: " ", count: max(0, 6 - id.count)) + id + "  "
                        + op.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + "  "
                        + op.kind.padding(toLength: 8, withPad: " ", startingAt: 0) + "  "
                        + String(op.attempts).padding(toLength: 8, withPad: " ", startingAt: 0) + "  "
                        + op.callID.padding(toLength: 19, withPad: " ", startingAt: 0) + "  " + (op.lastError ?? ""))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Try failed operations again (by id, or --all-failed).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Operation ids.") var ids: [Int64] = []
        @Flag(help: "Every failed operation.") var allFailed = false

        func run() async throws {
            let database = try OutboxCommand.open(self.global)
            let ids = self.ids
            let all = self.allFailed
            let changed = try await database.write { db -> [Int64] in
                let targets = all ? try db.operations(status: .failed, limit: 100_000).map(\.id) : ids
                return try targets.filter { try db.retryOperation($0) }
            }
            Output.out(
                changed.isEmpty
                    ? "no failed operation matched"
                    : "queued again: \(changed.map(String.init).joined(separator: ", "))")
            if changed.isEmpty { throw ExitCode(1) }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give up on operations (by id); the call's next ones go.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Operation ids.") var ids: [Int64]

        func run() async throws {
            let database = try OutboxCommand.open(self.global)
            let ids = self.ids
            let changed = try await database.write { db in try ids.filter { try db.dropOperation($0) } }
            Output.out(
                changed.isEmpty
                    ? "no open operation matched" : "dropped: \(changed.map(String.init).joined(separator: ", "))")
            if changed.isEmpty { throw ExitCode(1) }
        }
    }
}
