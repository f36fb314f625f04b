import NIOCore

/// A request to Asterisk: `Action: <name>`, an `ActionID`, and fields.
public struct AMIAction: Sendable, Equatable {
    public var name: String
    public var actionID: String
    public var fields: [(String, String)]

    /// - Throws: `invalidAction` when a value has a line break (it would let a value write its own AMI lines).
    public init(_ name: String, actionID: String, _ fields: [(String, String)] = []) throws(AMIError) {
        for (key, value) in fields + [("Action", name), ("ActionID", actionID)] {
            if key.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" }) || value.contains(where: \.isNewline) {
                throw AMIError(.invalidAction, "\(key) has a line break or a colon in its name or value")
            }
        }
        self.name = name
        self.actionID = actionID
        self.fields = fields
    }

    public static func == (lhs: AMIAction, rhs: AMIAction) -> Bool {
        lhs.name == rhs.name && lhs.actionID == rhs.actionID && lhs.fields.elementsEqual(rhs.fields, by: ==)
    }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeString("Action: \(self.name)\r\nActionID: \(self.actionID)\r\n")
        for (key, value) in self.fields {
            buffer.writeString(key)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// The fields as a message (what a peer receives).
    public var message: AMIMessage {
        AMIMessage([("Action", self.name), ("ActionID", self.actionID)] + self.fields)
    }

    /// A description safe for logs: the values of secret-bearing keys are hidden.
    public var redacted: String {
        let hidden: Set<String> = ["secret", "key"]
        let parts = self.fields.map { hidden.contains($0.0.lowercased()) ? "\($0.0): ***" : "\($0.0): \($0.1)" }
        return (["Action: \(self.name)", "ActionID: \(self.actionID)"] + parts).joined(separator: ", ")
    }
}
