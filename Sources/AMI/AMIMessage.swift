import NIOCore

/// One block of the Asterisk Manager Interface: an event, a response, or an action, as `Key: Value` lines.
///
/// The message keeps the bytes it was read from and where each key and value is in them, so reading a frame
/// costs no string per field; a value becomes a `String` only when asked for. Keys are matched without regard to
/// case (`ActionID`, `Actionid`), as Asterisk versions differ; keys may repeat (`ChanVariable`, `Variable`).
public struct AMIMessage: Sendable {
    public enum Kind: Sendable, Hashable {
        /// `Event: …`
        case event
        /// `Response: …`
        case response
        /// `Action: …`, a client's request (seen in captures of both directions).
        case action
        /// Anything else that still has `Key: Value` lines.
        case other
    }

    struct Field: Sendable {
        var keyStart: UInt32
        var keyLength: UInt32
        var valueStart: UInt32
        var valueLength: UInt32
    }

    /// The bytes of the block, as received.
    public let bytes: ByteBuffer
    let fields: [Field]
    public let kind: Kind
    /// How values that are not UTF-8 are read.
    public let encoding: AMITextEncoding
    /// Lines of the block that were not `Key: Value` and were left out (noise around a real block).
    public let skippedLines: Int
    /// The raw output of a `Response: Follows` (Asterisk before 14), line by line; `nil` otherwise.
    public let commandOutput: [String]?

    init(
        bytes: ByteBuffer, fields: [Field], kind: Kind, encoding: AMITextEncoding, skippedLines: Int,
        commandOutput: [String]?
    ) {
        self.bytes = bytes
        self.fields = fields
        self.kind = kind
        self.encoding = encoding
        self.skippedLines = skippedLines
        self.commandOutput = commandOutput
    }

    /// A message of these fields, in this order (for actions and for a peer that sends events).
    public init(_ pairs: [(String, String)], encoding: AMITextEncoding = .cp1251) {
        var buffer = ByteBuffer()
        var fields: [Field] = []
        fields.reserveCapacity(pairs.count)
        for (key, value) in pairs {
            let keyStart = buffer.writerIndex
            buffer.writeString(key)
            let keyLength = buffer.writerIndex - keyStart
            buffer.writeStaticString(": ")
            let valueStart = buffer.writerIndex
            buffer.writeString(value)
            fields.append(
                Field(
                    keyStart: UInt32(keyStart), keyLength: UInt32(keyLength), valueStart: UInt32(valueStart),
                    valueLength: UInt32(buffer.writerIndex - valueStart)))
            buffer.writeStaticString("\r\n")
        }
        let first = pairs.first?.0.lowercased()
        self.init(
            bytes: buffer, fields: fields, kind: first.map(Self.kind(ofFirstKey:)) ?? .other, encoding: encoding,
            skippedLines: 0, commandOutput: nil)
    }

    static func kind(ofFirstKey key: String) -> Kind {
        switch key.lowercased() {
        case "event": return .event
        case "response": return .response
        case "action": return .action
        default: return .other
        }
    }

    public var count: Int { self.fields.count }

    /// The value of the first `key` field (any case), or `nil`.
    public subscript(key: String) -> String? {
        guard let index = self.index(of: key) else { return nil }
        return self.string(at: self.fields[index].valueStart, self.fields[index].valueLength)
    }

    /// The values of every `key` field, in order (for repeated keys such as `ChanVariable`).
    public func values(_ key: String) -> [String] {
        var result: [String] = []
        var key = key
        key.withUTF8 { wanted in
            for field in self.fields where self.keyMatches(field, wanted) {
                result.append(self.string(at: field.valueStart, field.valueLength))
            }
        }
        return result
    }

    /// Every field, in order.
    public var pairs: [(key: String, value: String)] {
        self.fields.map {
            (self.string(at: $0.keyStart, $0.keyLength), self.string(at: $0.valueStart, $0.valueLength))
        }
    }

    /// `Event:`'s value for events, `nil` otherwise.
    public var eventName: String? { self.kind == .event ? self["Event"] : nil }

    /// Whether the first `key` field's value is `value` exactly, without making a string.
    public func has(_ key: String, equalTo value: String) -> Bool {
        guard let index = self.index(of: key) else { return false }
        let field = self.fields[index]
        var expected = value
        return expected.withUTF8 { wanted in
            guard wanted.count == Int(field.valueLength) else { return false }
            return self.bytes.withUnsafeReadableBytes { raw in
                wanted.elementsEqual(raw[Int(field.valueStart)..<Int(field.valueStart + field.valueLength)])
            }
        }
    }

    func index(of key: String) -> Int? {
        var key = key
        return key.withUTF8 { wanted in self.fields.firstIndex { self.keyMatches($0, wanted) } }
    }

    private func keyMatches(_ field: Field, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        guard Int(field.keyLength) == wanted.count else { return false }
        return self.bytes.withUnsafeReadableBytes { raw in
            var j = Int(field.keyStart)
            for byte in wanted {
                if asciiLower(raw[j]) != asciiLower(byte) { return false }
                j += 1
            }
            return true
        }
    }

    private func string(at start: UInt32, _ length: UInt32) -> String {
        self.bytes.withUnsafeReadableBytes { raw in
            self.encoding.decode(UnsafeRawBufferPointer(rebasing: raw[Int(start)..<Int(start + length)]))
        }
    }

    /// The block as AMI wire text: its fields byte for byte (a CP1251 value stays CP1251), CRLF line ends, and
    /// the empty line that ends a block. Lines that were skipped as noise are not written.
    public func write(into buffer: inout ByteBuffer) {
        for field in self.fields {
            var key = self.bytes.getSlice(
                at: self.bytes.readerIndex + Int(field.keyStart), length: Int(field.keyLength))!
            var value = self.bytes.getSlice(
                at: self.bytes.readerIndex + Int(field.valueStart), length: Int(field.valueLength))!
            buffer.writeBuffer(&key)
            buffer.writeStaticString(": ")
            buffer.writeBuffer(&value)
            buffer.writeStaticString("\r\n")
        }
        if let output = self.commandOutput {
            for line in output {
                buffer.writeString(line)
                buffer.writeStaticString("\r\n")
            }
            buffer.writeStaticString("--END COMMAND--\r\n")
        }
        buffer.writeStaticString("\r\n")
    }
}

extension AMIMessage: CustomStringConvertible {
    public var description: String {
        self.pairs.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
    }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= 65 && byte <= 90 ? byte + 32 : byte
}
