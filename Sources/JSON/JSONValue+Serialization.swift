/// How `JSONValue` is written as text.
public struct JSONWriteOptions: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Two-space indentation and one member per line, for people.
    public static let pretty = JSONWriteOptions(rawValue: 1 << 0)
    /// Keys in byte order, so equal values always print the same.
    public static let sortedKeys = JSONWriteOptions(rawValue: 1 << 1)
}

extension JSONValue {
    /// UTF-8 JSON text. Non-ASCII is written as is; only `"`, `\` and control characters are escaped.
    /// Non-finite doubles, which JSON cannot carry, are written as `null`; `validateForWriting()` finds them first.
    public func serialized(options: JSONWriteOptions = [.sortedKeys]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        self.write(into: &out, options: options, indent: 0)
        if options.contains(.pretty) { out.append(UInt8(ascii: "\n")) }
        return out
    }

    public func serializedString(options: JSONWriteOptions = [.sortedKeys]) -> String {
        String(decoding: self.serialized(options: options), as: UTF8.self)
    }

    /// Appends this value's JSON text to `out`.
    public func write(into out: inout [UInt8], options: JSONWriteOptions = [], indent: Int = 0) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let b):
            out.append(contentsOf: b ? "true".utf8 : "false".utf8)
        case .integer(let i):
            out.append(contentsOf: String(i).utf8)
        case .double(let d):
            Self.writeDouble(d, into: &out)
        case .string(let s):
            Self.writeString(s, into: &out)
        case .array(let elements):
            if elements.isEmpty {
                out.append(contentsOf: "[]".utf8)
                return
            }
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.newline(&out, options, indent + 1)
                element.write(into: &out, options: options, indent: indent + 1)
            }
            Self.newline(&out, options, indent)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            if members.isEmpty {
                out.append(contentsOf: "{}".utf8)
                return
            }
            out.append(UInt8(ascii: "{"))
            var first = true
            func member(_ key: String, _ value: JSONValue) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                Self.newline(&out, options, indent + 1)
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                if options.contains(.pretty) { out.append(UInt8(ascii: " ")) }
                value.write(into: &out, options: options, indent: indent + 1)
            }
            for m in options.contains(.sortedKeys) ? members.sortedMembers : members.members {
                member(m.key, m.value)
            }
            Self.newline(&out, options, indent)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Throws `nonFiniteNumber` if the value holds a NaN or an infinity, which JSON cannot represent.
    public func validateForWriting() throws(JSONError) {
        switch self {
        case .double(let d) where !d.isFinite:
            throw JSONError(code: .nonFiniteNumber, offset: 0)
        case .array(let elements):
            for element in elements { try element.validateForWriting() }
        case .object(let members):
            for m in members.members { try m.value.validateForWriting() }
        default:
            return
        }
    }

    @inline(__always)
    static func newline(_ out: inout [UInt8], _ options: JSONWriteOptions, _ indent: Int) {
        guard options.contains(.pretty) else { return }
        out.append(UInt8(ascii: "\n"))
        for _ in 0..<indent { out.append(contentsOf: "  ".utf8) }
    }

    static func writeDouble(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else {
            out.append(contentsOf: "null".utf8)
            return
        }
        // Swift prints the shortest text that reads back as the same double, and always marks it as a
        // float ("1.0", "1e+20"), so a float never comes back as an integer.
        out.append(contentsOf: d.description.utf8)
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var runStart = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                runStart = i + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    out.append(contentsOf: "u00".utf8)
                    out.append(Self.hex[Int(byte >> 4)])
                    out.append(Self.hex[Int(byte & 0xF)])
                }
            }
            if runStart < bytes.count {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
