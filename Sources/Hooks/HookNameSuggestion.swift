/// The hook point a mistyped or legacy file name most likely meant.
public struct HookNameSuggestion: Sendable, Equatable, CustomStringConvertible {
    public enum Why: Sendable, Equatable {
        /// A near miss of the name (a typo).
        case typo
        /// A name an earlier Itgrix version used.
        case legacy
        /// A PHP customisation of the module Callhook replaces: it must be ported to Lua.
        case php
    }

    public var hook: HookPoint
    public var why: Why

    public init(hook: HookPoint, why: Why) {
        self.hook = hook
        self.why = why
    }

    public var description: String {
        switch self.why {
        case .typo: return "did you mean \(self.hook.fileName)?"
        case .legacy: return "an older name of \(self.hook.name): rename it to \(self.hook.fileName)"
        case .php: return "a PHP customisation: port it to Lua as \(self.hook.fileName) (see docs/hooks.md)"
        }
    }

    /// A suggestion for `fileName` (with its extension), or `nil` when nothing is close.
    public static func suggest(for fileName: String) -> HookNameSuggestion? {
        var base = Substring(fileName)
        var isPHP = false
        if base.hasSuffix(".lua") {
            base = base.dropLast(4)
        } else if base.hasSuffix(".php") {
            base = base.dropLast(4)
            isPHP = true
        }
        let name = base.lowercased()
        if let exact = HookPoint(rawValue: name) {
            return HookNameSuggestion(hook: exact, why: isPHP ? .php : .typo)
        }
        if let legacy = HookPoint.allCases.first(where: { $0.legacyNames.contains(name) }) {
            return HookNameSuggestion(hook: legacy, why: isPHP ? .php : .legacy)
        }
        var best: (HookPoint, Int)?
        for hook in HookPoint.allCases {
            let d = editDistance(Array(name.utf8), Array(hook.rawValue.utf8))
            if d < best?.1 ?? Int.max { best = (hook, d) }
        }
        guard let (hook, distance) = best, distance <= max(3, hook.rawValue.count / 5) else { return nil }
        return HookNameSuggestion(hook: hook, why: isPHP ? .php : .typo)
    }
}

/// Levenshtein distance.
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
