/// One place where two JSON values differ.
public struct JSONDifference: Sendable, Equatable, CustomStringConvertible {
    /// Where, as a path from the root: `data.phone`, `data.PHONE[0].VALUE`; empty for the root itself.
    public var path: String
    /// The expected value there, `nil` when the key should not exist.
    public var expected: JSONValue?
    /// The actual value there, `nil` when the key is missing.
    public var actual: JSONValue?

    public init(path: String, expected: JSONValue?, actual: JSONValue?) {
        self.path = path
        self.expected = expected
        self.actual = actual
    }

    public var description: String {
        let place = self.path.isEmpty ? "(root)" : self.path
        switch (self.expected, self.actual) {
        case (let e?, nil): return "\(place): missing, expected \(e)"
        case (nil, let a?): return "\(place): unexpected \(a)"
        case (let e?, let a?): return "\(place): expected \(e), got \(a)"
        case (nil, nil): return "\(place)"
        }
    }
}

extension JSONValue {
    /// Every place where `actual` differs from `self`, the expected value, in a stable order (sorted keys).
    /// Numbers compare by type too: `1` and `1.0` differ, as they would on the wire.
    public func differences(to actual: JSONValue, path: String = "") -> [JSONDifference] {
        switch (self, actual) {
        case (.object(let e), .object(let a)):
            var result: [JSONDifference] = []
            for key in Set(e.keys).union(a.keys).sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                switch (e[key], a[key]) {
                case (let ev?, let av?): result += ev.differences(to: av, path: childPath)
                case (let ev, let av): result.append(JSONDifference(path: childPath, expected: ev, actual: av))
                }
            }
            return result
        case (.array(let e), .array(let a)):
            var result: [JSONDifference] = []
            for i in 0..<max(e.count, a.count) {
                let childPath = "\(path)[\(i)]"
                let ev = i < e.count ? e[i] : nil
                let av = i < a.count ? a[i] : nil
                if let ev, let av {
                    result += ev.differences(to: av, path: childPath)
                } else {
                    result.append(JSONDifference(path: childPath, expected: ev, actual: av))
                }
            }
            return result
        default:
            return self == actual ? [] : [JSONDifference(path: path, expected: self, actual: actual)]
        }
    }
}
