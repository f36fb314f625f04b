import JSON
import PBX

/// The `hooks.settings` section of the configuration: free-form data that scripts read as `callhook.config`, of
/// which Callhook's built-in defaults read two keys, `phone` and `registration`. Keeping both in one place means
/// an admin tunes the same lists whether or not a script overrides the default.
public struct HookSettings: Sendable, Equatable {
    /// Everything under `hooks.settings`, as scripts see it.
    public var raw: JSONValue
    public var phone: PhoneNumberRules
    public var registration: RegistrationRules

    public init(raw: JSONValue = .object([:])) throws(HookSettingsError) {
        guard case .object = raw else {
            throw HookSettingsError(path: "hooks.settings", message: "must be a mapping, got \(raw.typeName)")
        }
        self.raw = raw
        self.phone = try PhoneNumberRules(settings: raw["phone"])
        self.registration = try RegistrationRules(settings: raw["registration"])
    }
}

public struct HookSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(self.path): \(self.message)" }
}

/// Which calls reach the CRM, as the built-in `need_registration` decides.
public struct RegistrationRules: Sendable, Equatable {
    public struct Lists: Sendable, Equatable {
        /// When not empty, only matching values are registered.
        public var allow: [DialPattern]
        /// Matching values are never registered.
        public var deny: [DialPattern]

        public init(allow: [DialPattern] = [], deny: [DialPattern] = []) {
            self.allow = allow
            self.deny = deny
        }

        /// Whether these lists let `values` through: none of them denied and, with an allow list, one allowed.
        /// With no values to judge (a call with no local extension, say), only the deny list can say no.
        public func admit(_ values: [String]) -> Bool {
            if values.contains(where: { v in self.deny.contains { $0.matches(v) } }) { return false }
            if self.allow.isEmpty || values.isEmpty { return true }
            return values.contains { v in self.allow.contains { $0.matches(v) } }
        }
    }

    public var extensions: Lists
    public var trunks: Lists
    /// Whether calls between two extensions are registered (they have no client number, so usually not).
    public var internalCalls: Bool

    public init(extensions: Lists = Lists(), trunks: Lists = Lists(), internalCalls: Bool = false) {
        self.extensions = extensions
        self.trunks = trunks
        self.internalCalls = internalCalls
    }
}

extension PhoneNumberRules {
    init(settings: JSONValue?) throws(HookSettingsError) {
        self.init()
        guard let settings, !settings.isNull else { return }
        let path = "hooks.settings.phone"
        guard case .object(let o) = settings else {
            throw HookSettingsError(path: path, message: "must be a mapping")
        }
        for key in o.keys
        where ![
            "country_code", "trunk_prefix", "national_length", "international_prefixes",
            "format", "min_length",
        ].contains(key) {
            throw HookSettingsError(path: "\(path).\(key)", message: "unknown setting")
        }
        if let v = o["country_code"] { self.countryCode = try digitsText(v, "\(path).country_code") }
        if let v = o["trunk_prefix"] { self.trunkPrefix = try digitsText(v, "\(path).trunk_prefix", allowEmpty: true) }
        if let v = o["national_length"] { self.nationalLength = try positive(v, "\(path).national_length") }
        if let v = o["min_length"] { self.minimumLength = try positive(v, "\(path).min_length") }
        if let v = o["international_prefixes"] {
            guard case .array(let items) = v else {
                throw HookSettingsError(path: "\(path).international_prefixes", message: "must be a list")
            }
            self.internationalPrefixes = try items.map { (item) throws(HookSettingsError) -> String in
                try digitsText(item, "\(path).international_prefixes")
            }
        }
        if let v = o["format"] {
            guard let name = v.stringValue, let format = Format(rawValue: name) else {
                let valid = Format.allCases.map(\.rawValue).joined(separator: ", ")
                throw HookSettingsError(path: "\(path).format", message: "must be one of \(valid)")
            }
            self.format = format
        }
    }
}

extension RegistrationRules {
    init(settings: JSONValue?) throws(HookSettingsError) {
        self.init()
        guard let settings, !settings.isNull else { return }
        let path = "hooks.settings.registration"
        guard case .object(let o) = settings else { throw HookSettingsError(path: path, message: "must be a mapping") }
        for key in o.keys where !["extensions", "trunks", "internal_calls"].contains(key) {
            throw HookSettingsError(path: "\(path).\(key)", message: "unknown setting")
        }
        self.extensions = try Lists(settings: o["extensions"], path: "\(path).extensions")
        self.trunks = try Lists(settings: o["trunks"], path: "\(path).trunks")
        if let v = o["internal_calls"] {
            guard let b = v.boolValue else {
                throw HookSettingsError(path: "\(path).internal_calls", message: "must be true or false")
            }
            self.internalCalls = b
        }
    }
}

extension RegistrationRules.Lists {
    init(settings: JSONValue?, path: String) throws(HookSettingsError) {
        self.init()
        guard let settings, !settings.isNull else { return }
        guard case .object(let o) = settings else { throw HookSettingsError(path: path, message: "must be a mapping") }
        for key in o.keys where !["allow", "deny"].contains(key) {
            throw HookSettingsError(path: "\(path).\(key)", message: "unknown setting (allow, deny)")
        }
        self.allow = try Self.patterns(o["allow"], "\(path).allow")
        self.deny = try Self.patterns(o["deny"], "\(path).deny")
    }

    static func patterns(_ value: JSONValue?, _ path: String) throws(HookSettingsError) -> [DialPattern] {
        guard let value, !value.isNull else { return [] }
        guard case .array(let items) = value else { throw HookSettingsError(path: path, message: "must be a list") }
        return try items.map { (item) throws(HookSettingsError) -> DialPattern in
            guard let text = item.scalarText, item.boolValue == nil else {
                throw HookSettingsError(
                    path: path, message: "entries must be numbers or patterns, got \(item.typeName)")
            }
            return DialPattern(text)
        }
    }
}

private func digitsText(_ v: JSONValue, _ path: String, allowEmpty: Bool = false) throws(HookSettingsError) -> String {
    guard let text = v.scalarText, v.boolValue == nil, text.allSatisfy({ $0.isASCII && $0.isNumber }),
        allowEmpty || !text.isEmpty
    else {
        throw HookSettingsError(path: path, message: "must be digits, got \(v)")
    }
    return text
}

private func positive(_ v: JSONValue, _ path: String) throws(HookSettingsError) -> Int {
    guard let i = v.integerValue, i > 0, i < 100 else {
        throw HookSettingsError(path: path, message: "must be a whole number from 1 to 99")
    }
    return Int(i)
}
