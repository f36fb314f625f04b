/// A strict RFC 8259 JSON reader.
///
/// Numbers without a fraction or exponent that fit in 64 bits become `.integer`; every other number `.double`.
/// Strings must be valid UTF-8; `\u` escapes (surrogate pairs included) are decoded. Duplicate object keys keep
/// the last value. Nesting deeper than `maximumDepth` is refused rather than risking the stack.
public struct JSONParser {
    public static let defaultMaximumDepth = 512

    public static func parse(_ text: String, maximumDepth: Int = defaultMaximumDepth) throws(JSONError) -> JSONValue {
        var text = text
        return try text.withUTF8 { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try Self.parse(UnsafeRawBufferPointer(buffer), maximumDepth: maximumDepth)
            }
        }.get()
    }

    public static func parse(
        _ bytes: some Collection<UInt8>,
        maximumDepth: Int = defaultMaximumDepth
    ) throws(JSONError) -> JSONValue {
        let direct: Result<JSONValue, JSONError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try Self.parse(UnsafeRawBufferPointer(buffer), maximumDepth: maximumDepth)
            }
        }
        if let direct { return try direct.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> JSONValue in try Self.parse(buffer, maximumDepth: maximumDepth) }
        }.get()
    }

    public static func parse(
        _ buffer: UnsafeRawBufferPointer,
        maximumDepth: Int = defaultMaximumDepth
    ) throws(JSONError) -> JSONValue {
        var reader = Reader(bytes: buffer, maximumDepth: maximumDepth)
        reader.skipWhitespace()
        let value = try reader.readValue(depth: 0)
        reader.skipWhitespace()
        if reader.index != buffer.count {
            throw reader.error(.trailingData)
        }
        return value
    }
}

extension JSONParser {
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        let maximumDepth: Int
        var index = 0
        var scratch: [UInt8] = []
        /// Members of the objects being read, innermost last: each object is stored once its size is known.
        var members: [JSONObject.Member] = []

        init(bytes: UnsafeRawBufferPointer, maximumDepth: Int) {
            self.bytes = bytes
            self.maximumDepth = maximumDepth
        }

        func error(_ code: JSONError.Code, at offset: Int? = nil) -> JSONError {
            let offset = min(offset ?? self.index, self.bytes.count)
            var line = 1
            var column = 1
            for i in 0..<offset {
                if self.bytes[i] == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return JSONError(code: code, offset: offset, line: line, column: column)
        }

        @inline(__always)
        mutating func skipWhitespace() {
            while self.index < self.bytes.count {
                switch self.bytes[self.index] {
                case 0x20, 0x0A, 0x0D, 0x09: self.index += 1
                default: return
                }
            }
        }

        @inline(__always)
        func peek() -> UInt8? {
            self.index < self.bytes.count ? self.bytes[self.index] : nil
        }

        mutating func expect(_ literal: StaticString, value: JSONValue) throws(JSONError) -> JSONValue {
            let count = literal.utf8CodeUnitCount
            guard self.index + count <= self.bytes.count else { throw self.error(.unexpectedEnd) }
            let start = literal.utf8Start
            for i in 0..<count where self.bytes[self.index + i] != start[i] {
                throw self.error(.unexpectedCharacter, at: self.index + i)
            }
            self.index += count
            return value
        }

        mutating func readValue(depth: Int) throws(JSONError) -> JSONValue {
            guard let byte = self.peek() else { throw self.error(.unexpectedEnd) }
            switch byte {
            case UInt8(ascii: "{"): return try self.readObject(depth: depth + 1)
            case UInt8(ascii: "["): return try self.readArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try self.readString())
            case UInt8(ascii: "t"): return try self.expect("true", value: .bool(true))
            case UInt8(ascii: "f"): return try self.expect("false", value: .bool(false))
            case UInt8(ascii: "n"): return try self.expect("null", value: .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.readNumber()
            default: throw self.error(.unexpectedCharacter)
            }
        }

        mutating func readObject(depth: Int) throws(JSONError) -> JSONValue {
            if depth > self.maximumDepth { throw self.error(.tooDeep) }
            self.index += 1  // {
            self.skipWhitespace()
            if self.peek() == UInt8(ascii: "}") {
                self.index += 1
                return .object(JSONObject())
            }
            let first = self.members.count
            defer { self.members.removeSubrange(first...) }
            // Duplicate keys are rare; a 64-bit filter on length and first byte finds the candidates so that only
            // they are compared with the keys read before (the last duplicate wins).
            var seen: UInt64 = 0
            while true {
                self.skipWhitespace()
                guard let byte = self.peek() else { throw self.error(.unexpectedEnd) }
                guard byte == UInt8(ascii: "\"") else { throw self.error(.unexpectedCharacter) }
                let key = try self.readString()
                self.skipWhitespace()
                guard let colon = self.peek() else { throw self.error(.unexpectedEnd) }
                guard colon == UInt8(ascii: ":") else { throw self.error(.unexpectedCharacter) }
                self.index += 1
                self.skipWhitespace()
                let value = try self.readValue(depth: depth)
                let utf8 = key.utf8
                let bit: UInt64 = 1 << ((UInt64(utf8.count) &* 31 &+ UInt64(utf8.first ?? 0)) & 63)
                if seen & bit != 0,
                    let existing = self.members[first...].firstIndex(where: { $0.key == key })
                {
                    self.members[existing].value = value
                } else {
                    seen |= bit
                    self.members.append(JSONObject.Member(key: key, value: value))
                }
                self.skipWhitespace()
                guard let next = self.peek() else { throw self.error(.unexpectedEnd) }
                self.index += 1
                switch next {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "}"):
                    return .object(JSONObject(uniqueMembers: Array(self.members[first...])))
                default: throw self.error(.unexpectedCharacter, at: self.index - 1)
                }
            }
        }

        mutating func readArray(depth: Int) throws(JSONError) -> JSONValue {
            if depth > self.maximumDepth { throw self.error(.tooDeep) }
            self.index += 1  // [
            var elements: [JSONValue] = []
            self.skipWhitespace()
            if self.peek() == UInt8(ascii: "]") {
                self.index += 1
                return .array(elements)
            }
            while true {
                self.skipWhitespace()
                elements.append(try self.readValue(depth: depth))
                self.skipWhitespace()
                guard let next = self.peek() else { throw self.error(.unexpectedEnd) }
                self.index += 1
                switch next {
                case UInt8(ascii: ","): continue
                case UInt8(ascii: "]"): return .array(elements)
                default: throw self.error(.unexpectedCharacter, at: self.index - 1)
                }
            }
        }

        /// Skips decimal digits; returns how many.
        mutating func skipDigits() -> Int {
            let start = self.index
            while let d = self.peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") { self.index += 1 }
            return self.index - start
        }

        mutating func readNumber() throws(JSONError) -> JSONValue {
            let start = self.index
            var negative = false
            if self.bytes[self.index] == UInt8(ascii: "-") {
                negative = true
                self.index += 1
            }
            guard let first = self.peek(), first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
                throw self.error(.invalidNumber)
            }
            // Accumulate as a negative number so that Int64.min is representable.
            var magnitude: Int64 = 0
            var overflow = false
            if first == UInt8(ascii: "0") {
                self.index += 1
                if let d = self.peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                    throw self.error(.invalidNumber)
                }
            } else {
                while let d = self.peek(), d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") {
                    if !overflow {
                        let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                        let (s, o2) = m.subtractingReportingOverflow(Int64(d - UInt8(ascii: "0")))
                        if o1 || o2 { overflow = true } else { magnitude = s }
                    }
                    self.index += 1
                }
            }
            var isInteger = true
            if self.peek() == UInt8(ascii: ".") {
                isInteger = false
                self.index += 1
                if self.skipDigits() == 0 { throw self.error(.invalidNumber) }
            }
            if let e = self.peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                isInteger = false
                self.index += 1
                if let sign = self.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    self.index += 1
                }
                if self.skipDigits() == 0 { throw self.error(.invalidNumber) }
            }
            if isInteger && !overflow {
                if negative { return .integer(magnitude) }
                if magnitude != Int64.min { return .integer(-magnitude) }
            }
            // Floats, and integers beyond 64 bits, go through the platform's correctly rounded conversion.
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw self.error(.invalidNumber, at: start) }
            return .double(value)
        }

        mutating func readString() throws(JSONError) -> String {
            self.index += 1  // opening quote
            let start = self.index
            // Fast path: no escapes.
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index])
                    self.index += 1
                    return try self.makeString(slice, at: start)
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw self.error(.controlCharacter) }
                self.index += 1
            }
            if self.index >= self.bytes.count { throw self.error(.unexpectedEnd) }
            // Slow path: decode escapes into the scratch buffer.
            self.scratch.removeAll(keepingCapacity: true)
            self.scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]))
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                switch byte {
                case UInt8(ascii: "\""):
                    self.index += 1
                    let scratch = self.scratch
                    return try scratch.withUnsafeBytes { buffer in
                        Result { () throws(JSONError) -> String in try self.makeString(buffer, at: start) }
                    }.get()
                case UInt8(ascii: "\\"):
                    self.index += 1
                    guard let escape = self.peek() else { throw self.error(.unexpectedEnd) }
                    self.index += 1
                    switch escape {
                    case UInt8(ascii: "\""): self.scratch.append(0x22)
                    case UInt8(ascii: "\\"): self.scratch.append(0x5C)
                    case UInt8(ascii: "/"): self.scratch.append(0x2F)
                    case UInt8(ascii: "b"): self.scratch.append(0x08)
                    case UInt8(ascii: "f"): self.scratch.append(0x0C)
                    case UInt8(ascii: "n"): self.scratch.append(0x0A)
                    case UInt8(ascii: "r"): self.scratch.append(0x0D)
                    case UInt8(ascii: "t"): self.scratch.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try self.readHex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard self.index + 1 < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\\"),
                                self.bytes[self.index + 1] == UInt8(ascii: "u")
                            else { throw self.error(.invalidEscape) }
                            self.index += 2
                            let low = try self.readHex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw self.error(.invalidEscape) }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw self.error(.invalidEscape)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw self.error(.invalidEscape) }
                        self.scratch.append(contentsOf: UTF8.encode(unicode)!)
                    default:
                        throw self.error(.invalidEscape, at: self.index - 1)
                    }
                default:
                    if byte < 0x20 { throw self.error(.controlCharacter) }
                    self.scratch.append(byte)
                    self.index += 1
                }
            }
            throw self.error(.unexpectedEnd)
        }

        mutating func readHex4() throws(JSONError) -> UInt32 {
            guard self.index + 4 <= self.bytes.count else { throw self.error(.unexpectedEnd) }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = self.bytes[self.index]
                let digit: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
                default: throw self.error(.invalidEscape)
                }
                value = value << 4 | UInt32(digit)
                self.index += 1
            }
            return value
        }

        func makeString(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(JSONError) -> String {
            // ASCII needs no validation; anything else must be well-formed UTF-8.
            var ascii = true
            for byte in bytes where byte >= 0x80 {
                ascii = false
                break
            }
            if ascii { return String(decoding: bytes, as: UTF8.self) }
            guard let string = String(validating: bytes, as: UTF8.self) else {
                throw self.error(.invalidUTF8, at: offset)
            }
            return string
        }
    }
}
