import ArgumentParser
import Foundation
import Hooks
import JSON
import Logging
import LuaHost

#if canImport(Glibc)
    import Glibc
#endif

/// `callhook bench hooks`: the cost of one scripted hook call, JSON in and out included.
struct HooksBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks",
        abstract: "Calls per second and p50/p99 latency of scripted hooks.",
        discussion: """
            Measures, on the calling thread (one core): the Swift input value written as JSON, decoded into Lua,
            the script run, its result encoded as JSON, read back and checked. Then the same through the hook
            engine (an actor hop to a pooled Lua state) for scale. The scripts are built in, so figures compare
            across machines: a phone rewrite for process_phone_number, and a process_final_params script that
            reads the ~20-field input and rewrites several fields.
            """)

    @Option(name: .long, help: "Measured calls per case.")
    var iterations = 200_000

    @Option(name: .long, help: "Warm-up calls per case, not measured.")
    var warmup = 20_000

    @Option(name: .long, help: "Only this hook point's case (process_phone_number or process_final_params).")
    var only: String?

    static let phoneScript = """
        -- +7 / 8 / 10 digits -> +7XXXXXXXXXX, short extensions unchanged
        return function(input)
          local digits = input.params.phone:gsub("%D", "")
          if #digits == 11 and (digits:sub(1, 1) == "8" or digits:sub(1, 1) == "7") then
            digits = "7" .. digits:sub(2)
          elseif #digits == 10 then
            digits = "7" .. digits
          else
            return {data = {phone = input.params.phone}, state = "success"}
          end
          return {data = {phone = "+" .. digits}, state = "success"}
        end
        """

    static let finalScript = """
        return function(input)
          local p = input.params
          local c = p.conversation
          if not c.was_answered and c.type == 2 then
            p.STATUS_CODE = 304
          end
          if c.trunk == "74951234567" then p.ADD_TO_CHAT = 0 end
          if p.entity_data.was_created then p.USER_ID = 1 end
          p.DURATION = math.max(0, p.DURATION)
          return {data = p, state = "success", action = "register"}
        end
        """

    func run() async throws {
        LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
        let logger = Logger(label: "bench")
        let cases: [(HookPoint, String)] = [
            (.processPhoneNumber, Self.phoneScript), (.processFinalParams, Self.finalScript),
        ]
        .filter { self.only == nil || $0.0.name == self.only }

        Output.out("callhook bench hooks: \(self.iterations) calls per case after \(self.warmup) warm-up calls")
        Output.out("")
        Output.out("in one Lua state on this thread (JSON -> Lua -> JSON, result read back and checked):")
        for (hook, script) in cases {
            let vm = try LuaVM(limits: .default, logger: logger)
            try vm.load(slot: hook.index, chunkName: "bench/\(hook.name).lua", source: Array(script.utf8))
            let params = hook.sampleParams
            let inputSize = HookEngine.input(params: params).count
            func once() throws {
                let input = HookEngine.input(params: params)
                let value = try vm.call(slot: hook.index, input: input)
                _ = try HookOutput(validating: value, for: hook)
            }
            for _ in 0..<self.warmup { try once() }
            var samples = [UInt64](repeating: 0, count: self.iterations)
            let start = Self.now()
            for i in 0..<self.iterations {
                let t0 = Self.now()
                try once()
                samples[i] = Self.now() - t0
            }
            let sample = LatencySample(samples, total: Self.now() - start)
            Output.out(
                "  \(hook.name.padding(toLength: 22, withPad: " ", startingAt: 0)) input \(inputSize) B   "
                    + "\(Int(sample.callsPerSecond)) calls/s   p50 \(microseconds(sample.percentile(0.5)))   "
                    + "p99 \(microseconds(sample.percentile(0.99)))   Lua state \(vm.memoryInUse / 1024) KiB")
        }

        Output.out("")
        Output.out("through HookEngine.run (actor hop to a pooled state, metrics, one caller):")
        let directory = NSTemporaryDirectory() + "callhook-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (hook, script) in cases {
            try script.write(toFile: directory + "/" + hook.fileName, atomically: true, encoding: .utf8)
        }
        let engine = await HookEngine(
            configuration: HookConfiguration(directory: directory, workers: 1, settings: try HookSettings()),
            logger: logger)
        for (hook, _) in cases {
            let params = hook.sampleParams
            let iterations = self.iterations / 4
            for _ in 0..<(self.warmup / 4) { _ = await engine.run(hook, params: params) }
            var samples = [UInt64](repeating: 0, count: iterations)
            let start = Self.now()
            for i in 0..<iterations {
                let t0 = Self.now()
                let result = await engine.run(hook, params: params)
                samples[i] = Self.now() - t0
                if result.failure != nil { throw Failure(message: "bench script failed: \(result.failure!)") }
            }
            let sample = LatencySample(samples, total: Self.now() - start)
            Output.out(
                "  \(hook.name.padding(toLength: 22, withPad: " ", startingAt: 0)) "
                    + "\(Int(sample.callsPerSecond)) calls/s   p50 \(microseconds(sample.percentile(0.5)))   "
                    + "p99 \(microseconds(sample.percentile(0.99)))")
        }
        Output.out("")
        Output.out("targets: process_phone_number p50 < 3 µs, process_final_params p50 < 15 µs (in one state)")
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
