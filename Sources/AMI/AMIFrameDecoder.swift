import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the decoder found in the byte stream.
public enum AMIFrame: Sendable {
    /// The greeting line, `Asterisk Call Manager/5.0.5`: the protocol version.
    case banner(String)
    /// A block of `Key: Value` lines.
    case message(AMIMessage)
    /// A block that could not be read; it was skipped and the stream goes on.
    case malformed(AMIMalformedBlock)
}

/// A skipped block, for the log.
public struct AMIMalformedBlock: Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// No line of the block was `Key: Value`.
        case noFields = "no Key: Value line"
        /// The block grew past the maximum frame size without ending.
        case tooLarge = "block larger than the maximum frame size"
    }

    public var reason: Reason
    /// The first bytes of the block, printable.
    public var excerpt: String
    public var byteCount: Int

    public var description: String { "\(self.reason.rawValue) (\(self.byteCount) bytes: \(self.excerpt))" }
}

/// Splits the AMI byte stream into blocks, as real Asterisk versions send them (AMI 1.x to 5.x).
///
/// - The banner line comes first when there is one (captures may start without it).
/// - A block ends at an empty line; lines end with CRLF or a bare LF.
/// - `Response: Follows` blocks (Asterisk before 14) carry raw text up to `--END COMMAND--`, empty lines included.
/// - Lines that are not `Key: Value` (noise between blocks, CLI output in a debug log) are skipped and counted;
///   a block with no such line at all is reported as malformed. Either way the stream goes on.
/// - A block larger than `maximumFrameSize` is reported and discarded.
public struct AMIFrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = AMIFrame

    public var encoding: AMITextEncoding
    public var maximumFrameSize: Int
    private var expectingBanner = true
    /// How far the current, incomplete block has been searched for its end.
    private var searched = 0

    public init(encoding: AMITextEncoding = .cp1251, maximumFrameSize: Int = 1 << 20) {
        self.encoding = encoding
        self.maximumFrameSize = maximumFrameSize
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> AMIFrame? {
        try self.decode(buffer: &buffer, atEOF: false)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> AMIFrame? {
        try self.decode(buffer: &buffer, atEOF: true)
    }

    private mutating func decode(buffer: inout ByteBuffer, atEOF: Bool) throws -> AMIFrame? {
        if self.expectingBanner {
            guard let banner = self.readBanner(&buffer, atEOF: atEOF) else { return nil }
            if let version = banner { return .banner(version) }
        }
        while true {
            self.skipEmptyLines(&buffer)
            guard buffer.readableBytes > 0 else { return nil }
            guard let length = self.blockLength(buffer, atEOF: atEOF) else {
                if buffer.readableBytes > self.maximumFrameSize { return .malformed(self.discardOversized(&buffer)) }
                return nil
            }
            self.searched = 0
            let block = buffer.readSlice(length: length)!
            if let frame = self.parse(block) { return frame }
        }
    }

    /// `nil`: need more bytes; `.some(nil)`: no banner, go on with blocks; `.some(version)`: the banner.
    private mutating func readBanner(_ buffer: inout ByteBuffer, atEOF: Bool) -> String?? {
        let prefix = "Asterisk Call Manager/"
        let available = buffer.readableBytes
        let lineEnd = buffer.withUnsafeReadableBytes { raw in raw.firstIndex(of: UInt8(ascii: "\n")) }
        guard let lineEnd else {
            if available >= prefix.utf8.count || atEOF {
                // No newline yet: it is a banner only if the bytes so far could start one.
                let start = buffer.getString(at: buffer.readerIndex, length: min(available, prefix.utf8.count)) ?? ""
                if !prefix.hasPrefix(start) || atEOF {
                    self.expectingBanner = false
                    return .some(nil)
                }
            }
            return nil
        }
        self.expectingBanner = false
        let line = buffer.getString(at: buffer.readerIndex, length: lineEnd) ?? ""
        let trimmed = line.hasSuffix("\r") ? String(line.dropLast()) : line
        guard trimmed.hasPrefix(prefix) else { return .some(nil) }
        buffer.moveReaderIndex(forwardBy: lineEnd + 1)
        return .some(String(trimmed.dropFirst(prefix.utf8.count)))
    }

    private func skipEmptyLines(_ buffer: inout ByteBuffer) {
        let skip = buffer.withUnsafeReadableBytes { raw -> Int in
            var i = 0
            while i < raw.count {
                if raw[i] == UInt8(ascii: "\n") {
                    i += 1
                } else if raw[i] == UInt8(ascii: "\r"), i + 1 < raw.count, raw[i + 1] == UInt8(ascii: "\n") {
                    i += 2
                } else {
                    break
                }
            }
            return i
        }
        buffer.moveReaderIndex(forwardBy: skip)
    }

    /// The length of the block at the reader index, its terminating empty line included; `nil` if it has not
    /// all arrived. At the end of the stream, whatever is left is the last block.
    private mutating func blockLength(_ buffer: ByteBuffer, atEOF: Bool) -> Int? {
        let follows = Self.startsWithFollows(buffer)
        let found: Int? = buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            // Resume a little before where the last search stopped: the terminator may straddle it.
            var lineStart = max(0, self.searched - 1)
            if lineStart > 0 {
                // Back up to the start of that line.
                while lineStart > 0 && raw[lineStart - 1] != UInt8(ascii: "\n") { lineStart -= 1 }
            }
            var previousEmpty = false
            while lineStart < raw.count {
                guard let newline = memchr(base + lineStart, Int32(UInt8(ascii: "\n")), raw.count - lineStart) else {
                    break
                }
                let lineEnd = base.distance(to: UnsafeRawPointer(newline))
                var contentEnd = lineEnd
                if contentEnd > lineStart && raw[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
                let length = contentEnd - lineStart
                if follows {
                    if Self.isEndCommand(raw, lineStart, length) { return lineEnd + 1 }
                    // A Follows block that never says --END COMMAND-- ends where the next block starts.
                    if previousEmpty && Self.startsBlock(raw, lineStart, length) { return lineStart }
                    previousEmpty = length == 0
                } else if length == 0 {
                    return lineEnd + 1
                }
                lineStart = lineEnd + 1
            }
            self.searched = lineStart
            return nil
        }
        if let found { return found }
        return atEOF ? buffer.readableBytes : nil
    }

    private static func startsWithFollows(_ buffer: ByteBuffer) -> Bool {
        let marker = Array("response: follows".utf8)
        return buffer.withUnsafeReadableBytes { raw in
            guard raw.count >= marker.count else { return false }
            for i in 0..<marker.count where asciiLower(raw[i]) != marker[i] { return false }
            let next = raw.count > marker.count ? raw[marker.count] : UInt8(ascii: "\n")
            return next == UInt8(ascii: "\r") || next == UInt8(ascii: "\n")
        }
    }

    private static let endCommand = Array("--END COMMAND--".utf8)

    private static func startsBlock(_ raw: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> Bool {
        for marker in [Array("event:".utf8), Array("response:".utf8), Array("action:".utf8)]
        where length >= marker.count {
            var equal = true
            for i in 0..<marker.count where asciiLower(raw[start + i]) != marker[i] {
                equal = false
                break
            }
            if equal { return true }
        }
        return false
    }

    private static func isEndCommand(_ raw: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> Bool {
        // Old Asterisk may put the marker right after the last output line, without a newline between.
        guard length >= Self.endCommand.count else { return false }
        let from = start + length - Self.endCommand.count
        for i in 0..<Self.endCommand.count where raw[from + i] != Self.endCommand[i] { return false }
        return true
    }

    private func parse(_ block: ByteBuffer) -> AMIFrame? {
        var fields: [AMIMessage.Field] = []
        fields.reserveCapacity(24)
        var skipped = 0
        var output: [String]?
        let follows = Self.startsWithFollows(block)
        block.withUnsafeReadableBytes { raw in
            var lineStart = 0
            var inBody = false
            while lineStart < raw.count {
                var lineEnd = lineStart
                while lineEnd < raw.count && raw[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                var contentEnd = lineEnd
                if contentEnd > lineStart && raw[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
                defer { lineStart = lineEnd + 1 }
                if contentEnd == lineStart && !follows { continue }
                if follows && inBody {
                    if Self.isEndCommand(raw, lineStart, contentEnd - lineStart) {
                        let prefixLength = contentEnd - lineStart - Self.endCommand.count
                        if prefixLength > 0 {
                            output!.append(self.text(raw, lineStart, prefixLength))
                        }
                        break
                    }
                    output!.append(self.text(raw, lineStart, contentEnd - lineStart))
                    continue
                }
                if let field = Self.field(raw, lineStart, contentEnd) {
                    if follows && !fields.isEmpty && !Self.isFollowsHeader(raw, field) {
                        inBody = true
                        output = [self.text(raw, lineStart, contentEnd - lineStart)]
                        continue
                    }
                    fields.append(field)
                } else if follows && !fields.isEmpty {
                    inBody = true
                    output = []
                    if Self.isEndCommand(raw, lineStart, contentEnd - lineStart) { break }
                    output!.append(self.text(raw, lineStart, contentEnd - lineStart))
                } else if contentEnd > lineStart {
                    skipped += 1
                }
            }
        }
        guard let first = fields.first else {
            let excerpt = block.getString(at: block.readerIndex, length: min(block.readableBytes, 80)) ?? ""
            let printable = excerpt.unicodeScalars.map { $0.value < 0x20 ? "⏎" : String($0) }.joined()
            return .malformed(AMIMalformedBlock(reason: .noFields, excerpt: printable, byteCount: block.readableBytes))
        }
        // The kind is told by the first Event, Response or Action key, wherever it is (clients do not always
        // put Action first).
        var kind = AMIMessage.Kind.other
        var kindIndex = 0
        for (index, field) in fields.enumerated() where field.keyLength >= 5 && field.keyLength <= 8 {
            let key = block.getString(at: block.readerIndex + Int(field.keyStart), length: Int(field.keyLength)) ?? ""
            let found = AMIMessage.kind(ofFirstKey: key)
            if found != .other {
                kind = found
                kindIndex = index
                break
            }
        }
        _ = first
        // Asterisk writes Event and Response first: lines before them are what is left of other output.
        if kindIndex > 0 && (kind == .event || kind == .response) {
            skipped += kindIndex
            fields.removeFirst(kindIndex)
        }
        if follows && output == nil { output = [] }
        // The empty line that ended a Follows block without its marker is not output.
        while output?.last == "" { output?.removeLast() }
        return .message(
            AMIMessage(
                bytes: block, fields: fields, kind: kind, encoding: self.encoding,
                skippedLines: skipped, commandOutput: output))
    }

    private func text(_ raw: UnsafeRawBufferPointer, _ start: Int, _ length: Int) -> String {
        self.encoding.decode(UnsafeRawBufferPointer(rebasing: raw[start..<start + length]))
    }

    private static func isFollowsHeader(_ raw: UnsafeRawBufferPointer, _ field: AMIMessage.Field) -> Bool {
        let key = String(decoding: raw[Int(field.keyStart)..<Int(field.keyStart + field.keyLength)], as: UTF8.self)
        switch key.lowercased() {
        case "response", "privilege", "actionid", "message": return true
        default: return false
        }
    }

    /// A `Key: Value` line: the key is 1...128 bytes of visible ASCII without spaces, then `:` and one optional
    /// space; the value is the rest of the line.
    private static func field(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> AMIMessage.Field? {
        var colon = start
        while colon < end {
            let byte = raw[colon]
            if byte == UInt8(ascii: ":") { break }
            if byte <= 0x20 || byte >= 0x7F { return nil }
            colon += 1
        }
        guard colon < end, colon > start, colon - start <= 128 else { return nil }
        var valueStart = colon + 1
        if valueStart < end && raw[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        return AMIMessage.Field(
            keyStart: UInt32(start), keyLength: UInt32(colon - start), valueStart: UInt32(valueStart),
            valueLength: UInt32(end - valueStart))
    }

    /// Drops an oversized block: everything up to the last line end, or all of it.
    private mutating func discardOversized(_ buffer: inout ByteBuffer) -> AMIMalformedBlock {
        let excerpt = buffer.getString(at: buffer.readerIndex, length: min(buffer.readableBytes, 80)) ?? ""
        let lastNewline = buffer.withUnsafeReadableBytes { raw in raw.lastIndex(of: UInt8(ascii: "\n")) }
        let drop = lastNewline.map { $0 + 1 } ?? buffer.readableBytes
        buffer.moveReaderIndex(forwardBy: drop)
        self.searched = 0
        let printable = excerpt.unicodeScalars.map { $0.value < 0x20 ? "⏎" : String($0) }.joined()
        return AMIMalformedBlock(reason: .tooLarge, excerpt: printable, byteCount: drop)
    }
}
