/// An extension or trunk pattern as FreePBX admins write them.
///
/// Text without a leading `_` matches exactly. With `_`, Asterisk's dialplan pattern rules apply:
/// `X` any digit, `Z` 1-9, `N` 2-9, `[1-5#]` a set (ranges allowed), `.` one or more of anything,
/// `!` zero or more of anything; other characters match themselves.
public struct DialPattern: Sendable, Hashable, CustomStringConvertible {
    enum Element: Sendable, Hashable {
        case literal(Character)
        case set(Set<Character>)
        case anyDigit
        case oneOrMore
        case zeroOrMore
    }

    public let text: String
    let elements: [Element]?

    public init(_ text: String) {
        self.text = text
        guard text.hasPrefix("_") else {
            self.elements = nil
            return
        }
        var elements: [Element] = []
        var chars = Array(text.dropFirst())
        var i = 0
        while i < chars.count {
            let c = chars[i]
            switch c.uppercased() {
            case "X": elements.append(.anyDigit)
            case "Z": elements.append(.set(Set("123456789")))
            case "N": elements.append(.set(Set("23456789")))
            case ".": elements.append(.oneOrMore)
            case "!": elements.append(.zeroOrMore)
            case "[":
                var set = Set<Character>()
                i += 1
                while i < chars.count, chars[i] != "]" {
                    if i + 2 < chars.count, chars[i + 1] == "-", chars[i + 2] != "]",
                        let lo = chars[i].asciiValue, let hi = chars[i + 2].asciiValue, lo <= hi
                    {
                        for v in lo...hi { set.insert(Character(Unicode.Scalar(v))) }
                        i += 3
                    } else {
                        set.insert(chars[i])
                        i += 1
                    }
                }
                elements.append(.set(set))
            default: elements.append(.literal(c))
            }
            i += 1
        }
        chars.removeAll()
        self.elements = elements
    }

    public var description: String { self.text }

    public func matches(_ value: String) -> Bool {
        guard let elements = self.elements else { return value == self.text }
        return Self.match(elements[...], Array(value)[...])
    }

    private static func match(_ pattern: ArraySlice<Element>, _ value: ArraySlice<Character>) -> Bool {
        guard let first = pattern.first else { return value.isEmpty }
        let rest = pattern.dropFirst()
        switch first {
        case .oneOrMore:
            guard !value.isEmpty else { return false }
            return (1...value.count).contains { match(rest, value.dropFirst($0)) }
        case .zeroOrMore:
            return (0...value.count).contains { match(rest, value.dropFirst($0)) }
        case .literal(let c):
            guard let v = value.first, v == c else { return false }
            return match(rest, value.dropFirst())
        case .anyDigit:
            guard let v = value.first, v.isASCII, v.isNumber else { return false }
            return match(rest, value.dropFirst())
        case .set(let set):
            guard let v = value.first, set.contains(v) else { return false }
            return match(rest, value.dropFirst())
        }
    }
}
