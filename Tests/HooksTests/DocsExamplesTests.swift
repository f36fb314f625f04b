import Foundation
import Hooks
import JSON
import Testing

/// Every Lua example in docs/hooks.md loads and returns a valid result for its hook point's sample input.
@Suite struct DocsExamplesTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/hooks.md")

    static func examples() throws -> [(HookPoint, String)] {
        let text = try String(contentsOf: self.docs, encoding: .utf8)
        var examples: [(HookPoint, String)] = []
        var section: HookPoint?
        var block: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("### ") { section = HookPoint(rawValue: String(line.dropFirst(4))) }
            if block == nil, line == "```lua" {
                block = []
            } else if let lines = block, line == "```" {
                let source = lines.joined(separator: "\n")
                let named = HookPoint.allCases.first { source.contains("hooks/\($0.fileName)") }
                if let hook = named ?? section { examples.append((hook, source)) }
                block = nil
            } else if block != nil {
                block!.append(line)
            }
        }
        return examples
    }

    @Test func everyHookPointHasAnExample() throws {
        #expect(Set(try Self.examples().map(\.0)) == Set(HookPoint.allCases))
    }

    @Test func examplesRunOnTheSampleInputs() async throws {
        for (hook, source) in try Self.examples() {
            let dir = try ScriptDirectory()
            try dir.write(hook, source)
            let f = try await makeEngine(directory: dir.path, workers: 1)
            let result = await f.engine.run(hook, params: hook.sampleParams)
            #expect(result.source == .script(path: dir.path + "/" + hook.fileName), "\(hook.name): \(result.source)")
        }
    }
}
