import PBX

/// How the tracker tells the office's own phones from the outside world: what an admin of FreePBX knows about
/// the PBX. The defaults are right on a stock FreePBX.
public struct CallTrackerConfiguration: Sendable, Equatable {
    /// Internal extensions (exact or FreePBX patterns). Default: 2 to 5 digits.
    public var extensions: [DialPattern]
    /// Dialplan contexts where the office's phones place their calls (`*` at the end matches any suffix).
    public var internalContexts: [String]
    /// Dialplan contexts where calls from trunks arrive.
    public var trunkContexts: [String]
    /// Endpoint names that are trunks even though they look like extensions (a provider registered by number).
    public var trunks: [DialPattern]
    /// The time zone of the PBX, for the times of calls (`Europe/Moscow`); `nil` is the system's.
    public var timeZone: String?

    public init(
        extensions: [DialPattern] = ["_XX", "_XXX", "_XXXX", "_XXXXX"].map(DialPattern.init),
        internalContexts: [String] = ["from-internal", "from-internal-*", "ext-local", "default"],
        trunkContexts: [String] = [
            "from-trunk", "from-trunk-*", "from-pstn", "from-pstn-*", "from-did-direct", "ext-did*",
        ],
        trunks: [DialPattern] = [], timeZone: String? = nil
    ) {
        self.extensions = extensions
        self.internalContexts = internalContexts
        self.trunkContexts = trunkContexts
        self.trunks = trunks
        self.timeZone = timeZone
    }

    func isExtension(_ number: String) -> Bool {
        !number.isEmpty && self.extensions.contains { $0.matches(number) }
    }

    func isTrunk(_ endpoint: String) -> Bool {
        self.trunks.contains { $0.matches(endpoint) }
    }

    static func contextMatches(_ context: String, _ patterns: [String]) -> Bool {
        patterns.contains { pattern in
            pattern.hasSuffix("*") ? context.hasPrefix(pattern.dropLast()) : context == pattern
        }
    }
}
