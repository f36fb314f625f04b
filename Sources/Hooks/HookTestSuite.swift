import JSON
import Logging
import LuaHost

/// An integrator's test case: `hooks/tests/<hook_point>/<name>.json`.
///
/// ```json
/// {
///   "description": "8-prefixed numbers become +7",
///   "input": {"params": {"phone": "89161234567"}},
///   "expected": {"data": {"phone": "+79161234567"}},
///   "config": {"phone_format": "e164"}
/// }
/// ```
/// `expected` may hold `data`, `action`, `state` and `filter`; `data` and `action` are always compared (a
/// missing `action` means none). `config`, when present, replaces keys of `hooks.settings` for this case only.
public struct HookTestCase: Sendable, Equatable {
    public var hook: HookPoint
    /// `tests/<hook>/<file>` for messages.
    public var name: String
    public var description: String?
    public var input: JSONValue
    public var expected: JSONValue
    public var config: JSONValue?
}

/// How one case went.
public struct HookTestOutcome: Sendable {
    public var testCase: HookTestCase
    public var differences: [JSONDifference]
    /// Set when the script failed instead of returning a result.
    public var failure: HookFailure?
    /// The output the hook gave (the default's when the script failed).
    public var output: HookOutput
    /// `true` when no script exists and the built-in default was tested.
    public var usedBuiltin: Bool

    public var passed: Bool { self.failure == nil && self.differences.isEmpty }
}

public struct HookTestSuite: Sendable {
    public var cases: [HookTestCase]
    /// Files under `tests/` that could not be read as test cases, with why.
    public var problems: [(file: String, message: String)]

    /// Reads every case under `<directory>/tests/`.
    public static func load(directory: String) -> HookTestSuite {
        let root = ScriptFiles.join(directory, "tests")
        var cases: [HookTestCase] = []
        var problems: [(String, String)] = []
        for folder in ScriptFiles.list(root) {
            let folderPath = ScriptFiles.join(root, folder)
            guard ScriptFiles.isDirectory(folderPath) else { continue }
            guard let hook = HookPoint(rawValue: folder) else {
                let hint = HookNameSuggestion.suggest(for: folder + ".lua").map { " (\($0))" } ?? ""
                problems.append(("tests/\(folder)", "not a hook point\(hint)"))
                continue
            }
            for file in ScriptFiles.list(folderPath) where file.hasSuffix(".json") {
                let name = "tests/\(folder)/\(file)"
                guard let bytes = ScriptFiles.read(ScriptFiles.join(folderPath, file)) else {
                    problems.append((name, "cannot be read"))
                    continue
                }
                do {
                    cases.append(try Self.parseCase(bytes, hook: hook, name: name))
                } catch {
                    problems.append((name, "\(error)"))
                }
            }
        }
        return HookTestSuite(cases: cases, problems: problems)
    }

    struct CaseError: Error, CustomStringConvertible {
        var description: String
    }

    static func parseCase(_ bytes: [UInt8], hook: HookPoint, name: String) throws -> HookTestCase {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw CaseError(description: "invalid JSON: \(error)")
        }
        guard case .object(let o) = value else { throw CaseError(description: "must be a JSON object") }
        for key in o.keys where !["description", "input", "expected", "config"].contains(key) {
            throw CaseError(description: "unknown key \"\(key)\" (description, input, expected, config)")
        }
        guard let input = o["input"], input["params"] != nil else {
            throw CaseError(description: "needs \"input\": {\"params\": …}")
        }
        guard let expected = o["expected"], case .object(let e) = expected, e["data"] != nil else {
            throw CaseError(description: "needs \"expected\": {\"data\": …}")
        }
        if let config = o["config"], config.objectValue == nil {
            throw CaseError(description: "\"config\" must be an object")
        }
        return HookTestCase(
            hook: hook, name: name, description: o["description"]?.stringValue, input: input, expected: expected,
            config: o["config"])
    }

    /// Runs every case against the scripts in `directory` (or the built-in default where there is none).
    public func run(
        directory: String, settings: HookSettings, limits: LuaLimits, logger: Logger
    ) async throws -> [HookTestOutcome] {
        var engines: [JSONValue: HookEngine] = [:]
        var outcomes: [HookTestOutcome] = []
        for testCase in self.cases {
            let caseSettings = try settings.overriding(testCase.config)
            let engine: HookEngine
            if let existing = engines[caseSettings.raw] {
                engine = existing
            } else {
                engine = await HookEngine(
                    configuration: HookConfiguration(
                        directory: directory, limits: limits, workers: 1, settings: caseSettings),
                    logger: logger)
                engines[caseSettings.raw] = engine
            }
            let result = await engine.run(
                testCase.hook, params: testCase.input["params"] ?? .null, callID: testCase.name)
            let actual = result.output.json
            var differences: [JSONDifference] = []
            for key in ["data", "action", "state", "filter"] {
                let expectedValue = testCase.expected[key]
                if expectedValue == nil && (key == "state" || (key == "filter" && actual["filter"] == nil)) { continue }
                let actualValue = actual[key]
                if let expectedValue, let actualValue {
                    differences += expectedValue.differences(to: actualValue, path: key)
                } else if expectedValue != actualValue {
                    differences.append(JSONDifference(path: key, expected: expectedValue, actual: actualValue))
                }
            }
            outcomes.append(
                HookTestOutcome(
                    testCase: testCase, differences: differences, failure: result.failure, output: result.output,
                    usedBuiltin: result.source == .builtin))
        }
        return outcomes
    }
}

extension HookSettings {
    /// These settings with the top-level keys of `override` replaced.
    public func overriding(_ override: JSONValue?) throws(HookSettingsError) -> HookSettings {
        guard case .object(let changes)? = override else { return self }
        var raw = self.raw.objectValue ?? [:]
        for (key, value) in changes { raw[key] = value }
        return try HookSettings(raw: .object(raw))
    }
}
