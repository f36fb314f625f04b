import Foundation
import JSON

/// Reading request parameters the way PHP does: a form or a query string makes every value a string, a JSON body
/// keeps its types, and the portal accepts either (`"1"` and `1`, `"Y"` and `true`).
enum PortalValue {
    static func int(_ value: JSONValue?) -> Int? {
        switch value {
        case .integer(let i)?: return Int(i)
        case .double(let d)? where d == d.rounded(): return Int(d)
        case .string(let s)?: return Int(s.trimmingCharacters(in: .whitespaces))
        case .bool(let b)?: return b ? 1 : 0
        default: return nil
        }
    }

    static func string(_ value: JSONValue?) -> String? {
        value?.scalarText
    }

    /// `1`, `"1"`, `"Y"`, `true` → true; `0`, `"0"`, `"N"`, `false`, `""` → false.
    static func flag(_ value: JSONValue?, default fallback: Bool) -> Bool {
        switch value {
        case nil, .null?: return fallback
        case .bool(let b)?: return b
        case .integer(let i)?: return i != 0
        case .string(let s)?:
            switch s.uppercased() {
            case "Y", "1", "TRUE": return true
            case "N", "0", "FALSE", "": return false
            default: return fallback
            }
        default: return fallback
        }
    }

    /// A user id or a list of them (`USER_ID` of show/hide).
    static func ints(_ value: JSONValue?) -> [Int] {
        switch value {
        case .array(let items)?: return items.compactMap { self.int($0) }
        case .object(let members)?: return members.values.compactMap { self.int($0) }
        default: return self.int(value).map { [$0] } ?? []
        }
    }

    /// A case-insensitive key lookup: the portal reads `FILTER` and `filter` alike.
    static func member(_ params: JSONValue, _ names: String...) -> JSONValue? {
        guard case .object(let members) = params else { return nil }
        for name in names {
            if let value = members[name] { return value }
        }
        let lowered = Set(names.map { $0.lowercased() })
        return members.members.first { lowered.contains($0.key.lowercased()) }?.value
    }

    /// Phone numbers as the CRM compares them: digits only, a Russian trunk 8 read as 7, the last ten digits of
    /// longer numbers.
    static func phoneKey(_ phone: String) -> String {
        var digits = phone.filter(\.isNumber)
        if digits.count == 11, digits.hasPrefix("8") { digits = "7" + digits.dropFirst() }
        return digits.count > 10 ? String(digits.suffix(10)) : digits
    }

    /// Whether a register `PHONE_NUMBER` looks like a phone number at all.
    static func isPhoneNumber(_ phone: String) -> Bool {
        let allowed = Set("0123456789+-() ")
        return !phone.isEmpty && phone.allSatisfy { allowed.contains($0) } && phone.contains(where: \.isNumber)
    }

    static let dateStyle = Date.ISO8601FormatStyle(
        timeZoneSeparator: .colon, timeZone: TimeZone(secondsFromGMT: 3 * 3600)!)

    /// The portal's dates: ISO 8601 in the portal's zone (Moscow).
    static func date(_ time: Double) -> String {
        self.dateStyle.format(Date(timeIntervalSince1970: time))
    }

    static func parseDate(_ text: String) -> Double? {
        (try? Date.ISO8601FormatStyle().parse(text))?.timeIntervalSince1970
    }

    static func now() -> Double { Date().timeIntervalSince1970 }
}
