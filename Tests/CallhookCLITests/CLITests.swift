import Foundation
import JSON
import Testing

/// Runs the built `callhook` binary as an admin would, and checks what it prints and how it exits.
struct CLI {
    static let binary: URL = {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return directory.appendingPathComponent("callhook")
    }()

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], in directory: URL = CLI.repository, stdin: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = self.binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

final class TemporaryDirectory {
    let url: URL
    init() throws {
        self.url = FileManager.default.temporaryDirectory.appendingPathComponent("callhook-cli-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: self.url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: self.url) }

    func write(_ name: String, _ text: String) throws {
        let file = self.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: file, atomically: true, encoding: .utf8)
    }
}

@Suite(.serialized) struct CLITests {
    @Test func theBinaryWasBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: CLI.binary.path), "\(CLI.binary.path)")
    }

    @Test func runPrintsOneJSONObjectOnStdoutAndLogsOnStderr() throws {
        let result = try CLI.run([
            "hooks", "run", "process_phone_number", "--input", #"{"params": {"phone": "8 (916) 123-45-67"}}"#,
            "--log-level", "info",
        ])
        #expect(result.status == 0)
        #expect(try JSONParser.parse(result.stdout) == ["data": ["phone": "+79161234567"], "state": "success"])
        #expect(result.stderr.contains("hook script loaded"))
        #expect(result.stderr.contains("process_phone_number: script hooks/process_phone_number.lua"))
    }

    @Test func runReadsInputFromAFileAndFromStdin() throws {
        let dir = try TemporaryDirectory()
        try dir.write("in.json", #"{"params": {"phone": "9161234567"}}"#)
        let fromFile = try CLI.run([
            "hooks", "run", "process_phone_number", "--input", "@" + dir.url.path + "/in.json", "--compact",
        ])
        #expect(fromFile.stdout == #"{"data":{"phone":"+79161234567"},"state":"success"}"# + "\n")
        let fromStdin = try CLI.run(
            ["hooks", "run", "process_phone_number", "--input", "-", "--compact"],
            stdin: #"{"params": {"phone": "101"}}"#)
        #expect(fromStdin.stdout == #"{"data":{"phone":"101"},"state":"success"}"# + "\n")
    }

    @Test func aFailingScriptExitsNonZeroWithTheReasonAndTheDefault() throws {
        let dir = try TemporaryDirectory()
        try dir.write("hooks/need_registration.lua", "return function(input)\n  while true do end\nend\n")
        let result = try CLI.run(["hooks", "run", "need_registration"], in: dir.url)
        #expect(result.status == 1)
        #expect(try JSONParser.parse(result.stdout) == ["data": ["result": true], "state": "success"])
        #expect(result.stderr.contains("timeout: time budget of 50 ms exceeded"))
        #expect(result.stderr.contains("hooks/need_registration.lua:2"))
        #expect(result.stderr.contains("what the built-in default gives"))
    }

    @Test func aScriptThatDoesNotCompileIsReportedByRun() throws {
        let dir = try TemporaryDirectory()
        try dir.write("hooks/process_final_params.lua", "return function(\n")
        let result = try CLI.run(["hooks", "run", "process_final_params"], in: dir.url)
        #expect(result.status == 1)
        #expect(result.stderr.contains("does not load: syntax_error"))
    }

    @Test func badInputIsAClearError() throws {
        let notJSON = try CLI.run(["hooks", "run", "process_phone_number", "--input", "{phone"])
        #expect(notJSON.status != 0)
        #expect(notJSON.stderr.contains("not valid JSON"))
        let noParams = try CLI.run(["hooks", "run", "process_phone_number", "--input", #"{"phone": "1"}"#])
        #expect(noParams.status != 0)
        #expect(noParams.stderr.contains(#"{"params": …}"#))
        let typo = try CLI.run(["hooks", "run", "proces_phone_number"])
        #expect(typo.status != 0)
        #expect(typo.stderr.contains("did you mean process_phone_number.lua"))
    }

    @Test func checkFlagsTyposAndBrokenScripts() throws {
        let dir = try TemporaryDirectory()
        try dir.write("hooks/proces_phone_number.lua", "return function() return {data = {}} end")
        try dir.write("hooks/need_registration.lua", "return function() return {data = {result = true}} end")
        try dir.write("hooks/process_final_params.lua", "local = 1")
        let result = try CLI.run(["hooks", "check"], in: dir.url)
        #expect(result.status == 1)
        #expect(result.stdout.contains("ok    hooks/need_registration.lua"))
        #expect(result.stdout.contains("FAIL  hooks/process_final_params.lua:1: syntax_error"))
        #expect(result.stdout.contains("proces_phone_number.lua is not run: did you mean process_phone_number.lua?"))
        let shipped = try CLI.run(["hooks", "check"])
        #expect(shipped.status == 0, "\(shipped.stdout)")
    }

    @Test func testRunsTheShippedCasesAndReportsFailuresWithADiff() throws {
        let shipped = try CLI.run(["hooks", "test"])
        #expect(shipped.status == 0, "\(shipped.stdout)")
        #expect(shipped.stdout.contains("PASS  tests/process_phone_number/eight_prefix.json"))
        #expect(shipped.stdout.contains(" 0 failed"))

        let dir = try TemporaryDirectory()
        try dir.write(
            "hooks/process_phone_number.lua", #"return function(i) return {data = {phone = i.params.phone}} end"#)
        try dir.write(
            "hooks/tests/process_phone_number/plus7.json",
            #"{"input": {"params": {"phone": "89161234567"}}, "expected": {"data": {"phone": "+79161234567"}}}"#)
        let failing = try CLI.run(["hooks", "test"], in: dir.url)
        #expect(failing.status == 1)
        #expect(failing.stdout.contains("FAIL  tests/process_phone_number/plus7.json"))
        #expect(failing.stdout.contains(#"data.phone: expected "+79161234567", got "89161234567""#))
        #expect(failing.stdout.contains("0 passed, 1 failed"))
    }

    @Test func listShowsEveryHookPoint() throws {
        let result = try CLI.run(["hooks", "list"])
        #expect(result.status == 0)
        for name in ["process_phone_number", "need_registration", "get_updated_entity_fields"] {
            #expect(result.stdout.contains(name))
        }
        #expect(result.stdout.contains("script hooks/process_phone_number.lua"))
        #expect(result.stdout.contains("built-in default"))
    }

    @Test func runAllGivesEveryHookPointsOutputForTheSampleCall() throws {
        let result = try CLI.run(["hooks", "run", "--all"])
        #expect(result.status == 0, "\(result.stderr)")
        let outputs = try JSONParser.parse(result.stdout)
        #expect(outputs.objectValue?.count == 12)
        #expect(outputs["process_phone_number"]?["data"] == ["phone": "+79161234567"])
        #expect(outputs["process_originate_params"]?["data"]?["extension"] == "89161234567")
    }

    @Test func versionNamesTheLuaAndLibcurlInUse() throws {
        let result = try CLI.run(["version"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix("Lua 5.4."))
        #expect(lines[2].hasPrefix("libcurl "))
    }

    @Test func configurationErrorsNameTheSetting() throws {
        let dir = try TemporaryDirectory()
        try dir.write("callhook.yaml", "hooks:\n  timeout_ms: -5\n")
        let result = try CLI.run(["hooks", "list"], in: dir.url)
        #expect(result.status != 0)
        #expect(result.stderr.contains("callhook.yaml: hooks.timeout_ms: must be a whole number"))
    }
}

@Suite(.serialized) struct ReplayCLITests {
    static let fixtures = CLI.repository.appendingPathComponent("Tests/Fixtures/ami")

    @Test func jsonlHasOneCallPerLineAndNothingElse() throws {
        let result = try CLI.run([
            "replay", Self.fixtures.appendingPathComponent("pyfreepbx_queue.ami").path, "--timezone", "UTC",
        ])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let call = try JSONParser.parse(String(lines[0]))
        #expect(call["id"] == "1781704152.3807872")
        #expect(call["from"] == "7007")
        #expect(call["to"] == "88")
        #expect(call["type_code"] == "internal")
        #expect(call["was_answered"] == true)
        #expect(call["rang"] == [["number": "7006", "channel": "PJSIP/7006-001600e8"]])
        #expect(
            call["talked"] == [
                ["number": "7007", "channel": "PJSIP/7007-001600e7"],
                ["number": "7006", "channel": "PJSIP/7006-001600eb"],
            ])
        #expect(call["status_code"] == "200")
        #expect(call["duration"] == 40)
        #expect(call["billsec"] == 12)
        #expect(call["started_at"] == "2026-06-17T13:49:12+00:00")
        #expect(result.stderr.contains("113 events, 1 calls ended"))
    }

    @Test func readsStdinInTheOrderCallsEnd() throws {
        var capture = Data()
        for name in ["pyfreepbx_missed.ami", "pyfreepbx_answered.ami"] {
            capture.append(try Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
        }
        let result = try CLI.run(
            ["replay", "-", "--timezone", "Europe/Moscow"], stdin: String(decoding: capture, as: UTF8.self))
        #expect(result.status == 0)
        let calls = try result.stdout.split(separator: "\n").map { try JSONParser.parse(String($0)) }
        #expect(calls.map { $0["status_code"] } == ["603", "200"])
        #expect(calls.first?["started_at"]?.stringValue?.hasSuffix("+03:00") == true)
    }

    @Test func tableIsForPeople() throws {
        let result = try CLI.run([
            "replay", Self.fixtures.appendingPathComponent("pyfreepbx_abandoned.ami").path, "--format", "table",
            "--timezone", "UTC",
        ])
        #expect(result.status == 0)
        #expect(result.stdout.contains("7005 -> 99"))
        #expect(result.stdout.contains("304"))
    }

    @Test func aMissingFileIsAClearError() throws {
        let result = try CLI.run(["replay", "/nonexistent/capture.ami"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot read /nonexistent/capture.ami"))
    }
}
