import ArgumentParser
import Config
import Hooks
import JSON
import Logging

struct HooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks",
        abstract: "Inspect, run, check and test hook scripts.",
        subcommands: [List.self, Run.self, Sample.self, Check.self, Test.self]
    )

    struct DirectoryOption: ParsableArguments {
        @Option(name: .long, help: "The hooks directory (default: hooks.directory of the configuration, ./hooks).")
        var dir: String?
    }

    static func engine(_ global: GlobalOptions, _ dir: DirectoryOption, workers: Int = 1) async throws -> HookEngine {
        var configuration = try global.loadConfiguration(directory: dir.dir).hooks
        configuration.workers = workers
        return await HookEngine(configuration: configuration, logger: Logger(label: "callhook.hooks"))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every hook point: its script, whether it loads, and what the default does.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var dir: DirectoryOption

        func run() async throws {
            self.global.bootstrapLogging()
            let engine = try await HooksCommand.engine(self.global, self.dir)
            let width = HookPoint.allCases.map(\.name.count).max()!
            Output.out("hooks directory: \(engine.configuration.directory ?? "(none)")")
            for hook in HookPoint.allCases {
                let state: String
                switch await engine.catalog.status(of: hook) {
                case .absent:
                    state = "built-in default"
                case .loaded(let script):
                    state = "script \(script.path)"
                case .failed(let path, let error, let serving):
                    let kept = serving == nil ? "built-in default in service" : "previous version in service"
                    state = "script \(path) FAILS TO LOAD (\(kept)): \(error.code): \(error.shortMessage)"
                }
                Output.out("\(hook.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(state)")
                Output.out("\(String(repeating: " ", count: width))  default: \(hook.defaultSummary)")
            }
            for file in await engine.catalog.unknownFiles {
                Output.out("not a hook script: \(file.fileName)\(file.suggestion.map { " (\($0))" } ?? "")")
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one hook point (or all, with --all) and print its output JSON on stdout.",
            discussion: """
                Without --input the hook's documented sample input is used. Logs, and which code produced the
                output, go to stderr. If the script fails the exit status is 1, stderr says why, and stdout
                carries what the built-in default gives instead.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var dir: DirectoryOption

        @Argument(help: "The hook point, e.g. process_phone_number.")
        var hook: String?

        @Flag(name: .long, help: "Run every hook point on its sample input, in pipeline order.")
        var all = false

        @Option(name: .long, help: "Input {\"params\": …} as JSON text, @file, or - for stdin.")
        var input: String?

        @Option(name: .long, help: "The call id shown in the script's log lines.")
        var callId: String = "cli"

        @Flag(name: .long, help: "One line of JSON instead of indented JSON.")
        var compact = false

        func validate() throws {
            if self.all == (self.hook != nil) {
                throw ValidationError("give a hook point, or --all")
            }
            if self.all && self.input != nil { throw ValidationError("--input goes with one hook point") }
        }

        func run() async throws {
            self.global.bootstrapLogging()
            let engine = try await HooksCommand.engine(self.global, self.dir)
            if self.all {
                var failed = false
                var outputs = JSONObject()
                for hook in HookPoint.allCases {
                    let result = await engine.run(hook, params: hook.sampleParams, callID: self.callId)
                    Output.err("\(hook.name): \(describe(result.source))")
                    outputs[hook.name] = result.output.json
                    failed = failed || result.failure != nil
                    if case .failed(let path, let error, _) = await engine.catalog.status(of: hook) {
                        Output.err(
                            "  \(path) does not load: \(error.code): \(error.shortMessage) (\(error.location ?? path))")
                        failed = true
                    }
                }
                // One object on stdout, keyed by hook point.
                Output.json(.object(outputs), compact: self.compact)
                if failed { throw ExitCode(1) }
                return
            }
            guard let name = self.hook, let hook = HookPoint(rawValue: name) else {
                let hint = HookNameSuggestion.suggest(for: (self.hook ?? "") + ".lua").map { " (\($0))" } ?? ""
                throw ValidationError("unknown hook point \(self.hook ?? "")\(hint)")
            }
            let input = try self.input.map(readInput) ?? hook.sampleInput
            guard let params = input["params"] else {
                throw ValidationError("the input must be an object {\"params\": …}, as the hook receives it")
            }
            let result = await engine.run(hook, params: params, callID: self.callId)
            Output.json(result.output.json, compact: self.compact)
            if case .failed(let path, let error, let serving) = await engine.catalog.status(of: hook) {
                Output.err("\(hook.name): \(path) does not load: \(error.code): \(error.shortMessage)")
                Output.err("  at \(error.location ?? path)")
                Output.err(
                    serving == nil
                        ? "  the output above is what the built-in default gives"
                        : "  the output above is from the previous version of the script, still in service")
                throw ExitCode(1)
            }
            if let failure = result.failure {
                Output.err("\(hook.name): the script failed: \(failure.reason): \(failure.message)")
                Output.err("  at \(failure.location ?? failure.script)")
                if let traceback = failure.traceback { Output.err(traceback) }
                Output.err("  the output above is what the built-in default gives")
                throw ExitCode(1)
            }
            Output.err("\(hook.name): \(describe(result.source))")
        }
    }

    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a hook point's sample input, to edit and pass to `hooks run --input @file`.")

        @Argument(help: "The hook point.")
        var hook: String

        func run() throws {
            guard let hook = HookPoint(rawValue: self.hook) else {
                let hint = HookNameSuggestion.suggest(for: self.hook + ".lua").map { " (\($0))" } ?? ""
                throw ValidationError("unknown hook point \(self.hook)\(hint)")
            }
            Output.json(hook.sampleInput)
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load every script and report those that fail and files with names no hook point has.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var dir: DirectoryOption

        func run() async throws {
            self.global.bootstrapLogging()
            var configuration = try global.loadConfiguration(directory: self.dir.dir).hooks
            configuration.workers = 1
            guard let directory = configuration.directory else { return }
            // Problems are reported here, on stdout; the engine's own log lines would repeat them.
            let engine = await HookEngine(
                configuration: configuration,
                logger: Logger(label: "callhook.hooks", factory: { _ in SwiftLogNoOpLogHandler() }))
            var problems = 0
            var scripts = 0
            for hook in HookPoint.allCases {
                switch await engine.catalog.status(of: hook) {
                case .absent: continue
                case .loaded(let script):
                    scripts += 1
                    Output.out("ok    \(script.path)")
                case .failed(let path, let error, _):
                    scripts += 1
                    problems += 1
                    Output.out("FAIL  \(error.location ?? path): \(error.code): \(error.shortMessage)")
                }
            }
            for file in await engine.catalog.unknownFiles {
                problems += 1
                let hint = file.suggestion.map { ": \($0)" } ?? ": no hook point has a similar name"
                Output.out("WARN  \(directory)/\(file.fileName) is not run\(hint)")
            }
            for problem in HookTestSuite.load(directory: directory).problems {
                problems += 1
                Output.out("WARN  \(directory)/\(problem.file): \(problem.message)")
            }
            Output.out("\(scripts) script(s), \(problems) problem(s)")
            if problems > 0 { throw ExitCode(1) }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the test cases in <dir>/tests/<hook_point>/*.json and print passed/failed with a diff.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var dir: DirectoryOption

        @Flag(name: .shortAndLong, help: "Also print the output of passing cases.")
        var verbose = false

        func run() async throws {
            self.global.bootstrapLogging()
            let configuration = try global.loadConfiguration(directory: self.dir.dir).hooks
            guard let directory = configuration.directory else { throw ValidationError("no hooks directory") }
            let suite = HookTestSuite.load(directory: directory)
            for problem in suite.problems {
                Output.out("ERROR \(problem.file): \(problem.message)")
            }
            let outcomes = try await suite.run(
                directory: directory, settings: configuration.settings, limits: configuration.limits,
                logger: Logger(label: "callhook.hooks.test"))
            var failed = 0
            for outcome in outcomes {
                let what = outcome.testCase.description.map { " — \($0)" } ?? ""
                let builtin = outcome.usedBuiltin ? " (built-in default: no script)" : ""
                if outcome.passed {
                    Output.out("PASS  \(outcome.testCase.name)\(what)\(builtin)")
                    if self.verbose { Output.out("      " + outcome.output.json.serializedString()) }
                    continue
                }
                failed += 1
                Output.out("FAIL  \(outcome.testCase.name)\(what)\(builtin)")
                if let failure = outcome.failure {
                    Output.out(
                        "      the script failed: \(failure.reason): \(failure.message) (\(failure.location ?? failure.script))"
                    )
                } else {
                    for difference in outcome.differences { Output.out("      \(difference)") }
                }
            }
            Output.out("\(outcomes.count - failed) passed, \(failed) failed")
            if failed > 0 || !suite.problems.isEmpty { throw ExitCode(1) }
        }
    }
}
