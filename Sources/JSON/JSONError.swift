/// Why a JSON text could not be read or a value could not be written.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        public static let unexpectedEnd = Code("unexpected end of input")
        public static let unexpectedCharacter = Code("unexpected character")
        public static let invalidNumber = Code("invalid number")
        public static let invalidEscape = Code("invalid escape")
        public static let invalidUTF8 = Code("invalid UTF-8")
        public static let controlCharacter = Code("control character in string")
        public static let trailingData = Code("trailing data after the JSON value")
        public static let tooDeep = Code("nesting too deep")
        public static let nonFiniteNumber = Code("non-finite number")
    }

    public var code: Code
    /// Byte offset in the input where the problem was found (0 for serialization errors).
    public var offset: Int
    /// 1-based line and column of `offset`.
    public var line: Int
    public var column: Int

    public init(code: Code, offset: Int, line: Int = 0, column: Int = 0) {
        self.code = code
        self.offset = offset
        self.line = line
        self.column = column
    }

    public var description: String {
        if self.line > 0 {
            return "\(self.code) at line \(self.line), column \(self.column)"
        }
        return "\(self.code)"
    }
}
