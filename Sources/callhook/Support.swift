import Config
import Foundation
import Hooks
import JSON
import Logging

/// Writes to stdout and stderr without buffering surprises: results on stdout, everything else on stderr.
enum Output {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func json(_ value: JSONValue, compact: Bool = false) {
        self.out(
            value.serializedString(options: compact ? [.sortedKeys] : [.sortedKeys, .pretty]).trimmingCharacters(
                in: .newlines))
    }
}

/// An error already explained on stderr; the command exits with this code.
struct Failure: Error {
    var message: String
}

extension GlobalOptions {
    /// The configuration from --config, ./callhook.yaml, or built-in defaults, with the hooks directory
    /// overridden by `directory` when given.
    func loadConfiguration(directory: String? = nil) throws -> CallhookConfiguration {
        var configuration: CallhookConfiguration
        if let path = self.config {
            configuration = try CallhookConfiguration.load(path: path)
        } else if FileManager.default.fileExists(atPath: "callhook.yaml") {
            configuration = try CallhookConfiguration.load(path: "callhook.yaml")
        } else {
            configuration = CallhookConfiguration.defaults()
        }
        if let directory { configuration.hooks.directory = directory }
        return configuration
    }
}

/// Reads `--input`: JSON text, `@file`, or `-` for stdin.
func readInput(_ argument: String) throws -> JSONValue {
    let bytes: [UInt8]
    if argument == "-" {
        bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
    } else if argument.hasPrefix("@") {
        let path = String(argument.dropFirst())
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(message: "cannot read \(path)")
        }
        bytes = Array(data)
    } else {
        bytes = Array(argument.utf8)
    }
    do {
        return try JSONParser.parse(bytes)
    } catch {
        throw Failure(message: "the input is not valid JSON: \(error)")
    }
}

func describe(_ source: HookResult.Source) -> String {
    switch source {
    case .script(let path): return "script \(path)"
    case .builtin: return "built-in default (no script)"
    case .builtinAfterFailure(let failure): return "built-in default, the script failed: \(failure)"
    }
}
