import Foundation
import Hooks
import InMemoryLogging
import JSON
import Logging
import LuaHost
import MetricsTestKit

/// A hooks directory of a test's own, removed when the test ends.
final class ScriptDirectory {
    let path: String

    init() throws {
        self.path = NSTemporaryDirectory() + "callhook-hooks-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: self.path) }

    func write(_ hook: HookPoint, _ source: String) throws {
        try self.write(file: hook.fileName, source)
    }

    func write(file: String, _ source: String) throws {
        // Write then rename, as editors do, so the catalog sees a new inode.
        let target = self.path + "/" + file
        let temp = target + ".tmp"
        try source.write(toFile: temp, atomically: false, encoding: .utf8)
        _ = rename(temp, target)
    }

    func remove(_ hook: HookPoint) throws {
        try FileManager.default.removeItem(atPath: self.path + "/" + hook.fileName)
    }
}

struct EngineFixture {
    let engine: HookEngine
    let log: InMemoryLogHandler
    let metrics: TestMetrics
}

func makeEngine(
    directory: String?, settings: JSONValue = [:], limits: LuaLimits = LuaLimits(timeBudget: .milliseconds(50)),
    workers: Int = 2, reloadInterval: Duration = .seconds(1)
) async throws -> EngineFixture {
    let log = InMemoryLogHandler()
    let metrics = TestMetrics()
    let logger = Logger(label: "test", factory: { _ in log })
    let configuration = HookConfiguration(
        directory: directory, limits: limits, workers: workers, reloadInterval: reloadInterval,
        settings: try HookSettings(raw: settings))
    let engine = await HookEngine(configuration: configuration, logger: logger, metricsFactory: metrics)
    return EngineFixture(engine: engine, log: log, metrics: metrics)
}
