/// A configuration that cannot be used, with where the problem is.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file, when the configuration came from one.
    public var file: String?
    /// The setting, as a dotted path (`hooks.timeout_ms`).
    public var path: String
    public var message: String

    public init(file: String? = nil, path: String, message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    public var description: String {
        let place = [self.file, self.path.isEmpty ? nil : self.path].compactMap { $0 }.joined(separator: ": ")
        return place.isEmpty ? self.message : "\(place): \(self.message)"
    }
}
