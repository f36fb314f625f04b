import JSON
import Yams

/// YAML configuration text read as JSON values, keeping what an admin meant: `101` is a number, `"7"` a string,
/// and a number with a leading zero (`0443334000`, a phone number) stays text rather than becoming octal.
enum YAMLJSON {
    static func parse(_ text: String) throws(ConfigurationError) -> JSONValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(path: "", message: "not valid YAML: \(error)")
        }
        guard let node else { return .object([:]) }
        return try self.value(node, path: "")
    }

    static func value(_ node: Node, path: String) throws(ConfigurationError) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            return try self.scalar(scalar, node: node, path: path)
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for (i, item) in sequence.enumerated() { items.append(try self.value(item, path: "\(path)[\(i)]")) }
            return .array(items)
        case .mapping(let mapping):
            var members = JSONObject()
            for (key, value) in mapping {
                guard case .scalar(let k) = key else {
                    throw ConfigurationError(path: path, message: "mapping keys must be plain text")
                }
                let childPath = path.isEmpty ? k.string : "\(path).\(k.string)"
                if members[k.string] != nil {
                    throw ConfigurationError(path: childPath, message: "appears twice")
                }
                members[k.string] = try self.value(value, path: childPath)
            }
            return .object(members)
        case .alias:
            throw ConfigurationError(path: path, message: "YAML aliases are not supported")
        }
    }

    static func scalar(_ scalar: Node.Scalar, node: Node, path: String) throws(ConfigurationError) -> JSONValue {
        let text = scalar.string
        switch Tag.Name(rawValue: node.tag.description) {
        case .null:
            return .null
        case .bool:
            guard let b = node.bool else { return .string(text) }
            return .bool(b)
        case .int:
            let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
            if digits.count > 1, digits.hasPrefix("0"), digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
                return .string(text)
            }
            if digits.allSatisfy({ $0.isASCII && $0.isNumber }), let i = Int64(text) { return .integer(i) }
            guard let i = node.int else { return .string(text) }
            return .integer(Int64(i))
        case .float:
            guard let d = node.float, d.isFinite else {
                throw ConfigurationError(path: path, message: "\(text) is not a finite number")
            }
            return .double(d)
        default:
            return .string(text)
        }
    }
}
