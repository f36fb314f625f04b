/// An Asterisk channel name taken apart: `PJSIP/7001-001600e9` is technology `PJSIP`, endpoint `7001`;
/// `Local/7006@from-queue-00120dd0;1` is the first half of a Local pair.
struct ChannelName: Sendable, Equatable {
    var technology: Substring
    /// The device or trunk: the resource without the instance suffix (`-001600e9`).
    var endpoint: String
    var isLocal: Bool
    /// For a Local channel, the name of the other half of its pair.
    var localPartnerName: String?

    init(_ name: String) {
        let slash = name.firstIndex(of: "/") ?? name.startIndex
        self.technology = name[..<slash]
        var resource = slash < name.endIndex ? name[name.index(after: slash)...] : Substring(name)
        self.isLocal = self.technology == "Local"
        if self.isLocal {
            if name.hasSuffix(";1") {
                self.localPartnerName = String(name.dropLast()) + "2"
            } else if name.hasSuffix(";2") {
                self.localPartnerName = String(name.dropLast()) + "1"
            }
            if let semicolon = resource.lastIndex(of: ";") { resource = resource[..<semicolon] }
        }
        // The instance suffix is the part after the last dash, made of hex digits.
        if let dash = resource.lastIndex(of: "-"), dash > resource.startIndex,
            resource[resource.index(after: dash)...].allSatisfy(\.isHexDigit)
        {
            resource = resource[..<dash]
        }
        if self.isLocal, let at = resource.firstIndex(of: "@") { resource = resource[..<at] }
        self.endpoint = String(resource)
    }
}
