/// Why an AMI connection or action failed. Descriptions never contain the secret.
public struct AMIError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// Asterisk refused the username or secret.
        public static let loginRejected = Code("login rejected")
        /// The connection closed or was lost.
        public static let connectionClosed = Code("connection closed")
        /// The peer stopped answering Ping.
        public static let keepaliveTimeout = Code("keepalive timeout")
        /// An action got no response in time.
        public static let actionTimeout = Code("action timeout")
        /// Asterisk answered `Response: Error`.
        public static let actionFailed = Code("action failed")
        /// The client is not connected and logged in.
        public static let notConnected = Code("not connected")
        /// A value of an action has a line break, which would forge AMI lines.
        public static let invalidAction = Code("invalid action")
        /// The peer did not greet as an Asterisk Call Manager.
        public static let unexpectedBanner = Code("unexpected banner")
    }

    public var code: Code
    /// Details, such as Asterisk's `Message:`.
    public var message: String?

    public init(_ code: Code, _ message: String? = nil) {
        self.code = code
        self.message = message
    }

    public var description: String {
        self.message.map { "\(self.code): \($0)" } ?? "\(self.code)"
    }
}
