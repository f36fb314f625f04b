import JSON

/// PHP's `http_build_query` and its reading back: how Bitrix24 takes form-encoded parameters (`fields[TITLE]=…`,
/// `fields[PHONE][0][VALUE]=…`), and how `batch` commands carry theirs (`crm.lead.add?fields[TITLE]=…`).
public enum PHPQuery {
    /// `{"fields": {"TITLE": "A"}}` → `fields%5BTITLE%5D=A` (keys in their order; booleans as 1/0 as PHP does;
    /// null as an empty value).
    public static func encode(_ value: JSONValue) -> String {
        var parts: [String] = []
        if case .object(let members) = value {
            for member in members.members { self.append(member.value, key: member.key, to: &parts) }
        }
        return parts.joined(separator: "&")
    }

    private static func append(_ value: JSONValue, key: String, to parts: inout [String]) {
        switch value {
        case .object(let members):
            if members.isEmpty { return }
            for member in members.members { self.append(member.value, key: "\(key)[\(member.key)]", to: &parts) }
        case .array(let elements):
            for (i, element) in elements.enumerated() { self.append(element, key: "\(key)[\(i)]", to: &parts) }
        case .null:
            parts.append(self.escape(key) + "=")
        case .bool(let b):
            parts.append(self.escape(key) + "=" + (b ? "1" : "0"))
        default:
            parts.append(self.escape(key) + "=" + self.escape(value.scalarText ?? ""))
        }
    }

    /// Percent-encoding as PHP's `urlencode` does it (space as `+`).
    public static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out.append("+")
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }

    public static func unescape(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let h = iterator.next(), let l = iterator.next(),
                let value = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `a[b][0][c]=1&a[b][0][d]=2&x=y` → `{"a": {"b": [{"c": "1", "d": "2"}]}, "x": "y"}`. Every value is a
    /// string, as PHP reads a form; `[]` appends; keys made only of indexes 0…n make an array.
    public static func decode(_ query: Substring) -> JSONValue {
        var root = JSONValue.object(JSONObject())
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let (rawKey, rawValue): (Substring, Substring)
            if let eq = pair.firstIndex(of: "=") {
                rawKey = pair[..<eq]
                rawValue = pair[pair.index(after: eq)...]
            } else {
                rawKey = pair
                rawValue = ""
            }
            let key = self.unescape(rawKey)
            var path: [String] = []
            if let bracket = key.firstIndex(of: "[") {
                path.append(String(key[..<bracket]))
                var rest = key[bracket...]
                while rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                    path.append(String(rest[rest.index(after: rest.startIndex)..<close]))
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                path = [key]
            }
            self.insert(.string(self.unescape(rawValue)), at: path[...], into: &root)
        }
        return self.arrays(root)
    }

    private static func insert(_ value: JSONValue, at path: ArraySlice<String>, into node: inout JSONValue) {
        guard let first = path.first else {
            node = value
            return
        }
        guard case .object(var members) = node else {
            node = .object(JSONObject())
            self.insert(value, at: path, into: &node)
            return
        }
        let key = first.isEmpty ? String(members.count) : first
        var child = members[key] ?? .object(JSONObject())
        self.insert(value, at: path.dropFirst(), into: &child)
        members[key] = child
        node = .object(members)
    }

    /// Objects keyed 0…n-1 become arrays.
    private static func arrays(_ value: JSONValue) -> JSONValue {
        guard case .object(let members) = value else { return value }
        let converted = JSONObject(members.members.map { ($0.key, self.arrays($0.value)) })
        let keys = converted.keys
        if !keys.isEmpty, keys.enumerated().allSatisfy({ String($0.offset) == $0.element }) {
            return .array(converted.values)
        }
        return .object(converted)
    }
}
