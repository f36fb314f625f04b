/// The members of a JSON object, in the order they were read or added.
///
/// Lookups scan the members: objects on Callhook's paths hold a few dozen keys at most, and building one from
/// JSON text costs no hashing, which made reading a hook's result twice as fast as with a `Dictionary`. Keys
/// are unique (adding an existing key replaces its value), and order never matters to equality.
public struct JSONObject: Sendable {
    public struct Member: Sendable {
        public var key: String
        public var value: JSONValue
    }

    public private(set) var members: [Member]

    public init() {
        self.members = []
    }

    public init(minimumCapacity: Int) {
        self.members = []
        self.members.reserveCapacity(minimumCapacity)
    }

    /// An object of these pairs; for a key given twice the last value wins.
    public init(_ pairs: some Sequence<(String, JSONValue)>) {
        self.members = []
        for (key, value) in pairs { self[key] = value }
    }

    /// Members known to have distinct keys, taken as they are.
    init(uniqueMembers: [Member]) {
        self.members = uniqueMembers
    }

    public var count: Int { self.members.count }
    public var isEmpty: Bool { self.members.isEmpty }
    public var keys: [String] { self.members.map(\.key) }
    public var values: [JSONValue] { self.members.map(\.value) }

    func index(of key: String) -> Int? {
        self.members.firstIndex { $0.key == key }
    }

    public subscript(key: String) -> JSONValue? {
        get {
            for member in self.members where member.key == key { return member.value }
            return nil
        }
        set {
            if let i = self.index(of: key) {
                if let newValue {
                    self.members[i].value = newValue
                } else {
                    self.members.remove(at: i)
                }
            } else if let newValue {
                self.members.append(Member(key: key, value: newValue))
            }
        }
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = self.index(of: key) else { return nil }
        return self.members.remove(at: i).value
    }

    /// The members with keys in byte order.
    public var sortedMembers: [Member] {
        self.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }
}

extension JSONObject: Sequence {
    public func makeIterator() -> some IteratorProtocol<(key: String, value: JSONValue)> {
        self.members.lazy.map { (key: $0.key, value: $0.value) }.makeIterator()
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

extension JSONObject: Hashable {
    /// Equal when both hold the same keys with equal values, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for member in lhs.members {
            guard let other = rhs[member.key], other == member.value else { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent: the members' own hashes combined with XOR.
        var combined = 0
        for member in self.members {
            var h = Hasher()
            h.combine(member.key)
            h.combine(member.value)
            combined ^= h.finalize()
        }
        hasher.combine(self.count)
        hasher.combine(combined)
    }
}
