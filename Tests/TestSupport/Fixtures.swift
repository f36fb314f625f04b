import Foundation
import JSON

/// The files in Tests/Fixtures, found from this source file so tests run from any working directory.
public enum Fixtures {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    public static func data(_ relative: String) throws -> Data { try Data(contentsOf: self.url(relative)) }

    /// Files of a fixture folder with the given extension, sorted.
    public static func files(in folder: String, withExtension ext: String) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: self.url(folder), includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == ext }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// Every JSON object embedded in a text document (a vendor manual transcribed from PDF) that parses as JSON,
    /// as its exact text. Invalid examples in the document are skipped.
    public static func embeddedJSONObjects(in text: String) -> [String] {
        let bytes = Array(text.utf8)
        var found: [String] = []
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "{") else {
                i += 1
                continue
            }
            var depth = 0
            var inString = false
            var escaped = false
            var end: Int?
            for j in i..<bytes.count {
                let b = bytes[j]
                if inString {
                    if escaped {
                        escaped = false
                    } else if b == UInt8(ascii: "\\") {
                        escaped = true
                    } else if b == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                if b == UInt8(ascii: "\"") { inString = true }
                if b == UInt8(ascii: "{") { depth += 1 }
                if b == UInt8(ascii: "}") {
                    depth -= 1
                    if depth == 0 {
                        end = j
                        break
                    }
                }
            }
            guard let end else { break }
            let candidate = Array(bytes[i...end])
            if (try? JSONParser.parse(candidate)) != nil {
                found.append(String(decoding: candidate, as: UTF8.self))
                i = end + 1
            } else {
                i += 1
            }
        }
        return found
    }
}
