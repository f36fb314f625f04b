import AMI
import Calls
import Foundation
import Hooks
import JSON
import LuaHost
import PBX
import Pipeline

/// Everything `callhook` is configured with, read from a YAML file (`callhook.yaml`; see
/// `callhook.example.yaml` and docs/operations.md). Every section and setting has a default, so an empty file,
/// or none, is a valid configuration.
public struct CallhookConfiguration: Sendable {
    public var hooks: HookConfiguration
    public var ami: AMIConfiguration
    public var calls: CallTrackerConfiguration
    public var bitrix24: Bitrix24Settings
    public var store: StoreConfiguration
    public var server: ServerConfiguration
    public var originate: OriginateConfiguration
    /// The file this came from, if any.
    public var file: String?

    public init(
        hooks: HookConfiguration, ami: AMIConfiguration = AMIConfiguration(),
        calls: CallTrackerConfiguration = CallTrackerConfiguration(), bitrix24: Bitrix24Settings = Bitrix24Settings(),
        store: StoreConfiguration = StoreConfiguration(), server: ServerConfiguration = ServerConfiguration(),
        originate: OriginateConfiguration = OriginateConfiguration(), file: String? = nil
    ) {
        self.hooks = hooks
        self.ami = ami
        self.calls = calls
        self.bitrix24 = bitrix24
        self.store = store
        self.server = server
        self.originate = originate
        self.file = file
    }

    /// Built-in defaults, as with an empty file: hooks from `./hooks`.
    public static func defaults() -> CallhookConfiguration {
        // An empty settings object is always valid.
        let settings = try! HookSettings()
        return CallhookConfiguration(hooks: HookConfiguration(settings: settings))
    }

    /// Reads `path`. Relative paths inside (the hooks directory) are taken from the file's own directory.
    public static func load(path: String) throws(ConfigurationError) -> CallhookConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: path, path: "", message: "cannot be read: \(error.localizedDescription)")
        }
        let base = (path as NSString).deletingLastPathComponent
        do {
            var configuration = try Self.parse(yaml: text, baseDirectory: base.isEmpty ? "." : base)
            configuration.file = path
            return configuration
        } catch {
            var error = error
            error.file = path
            throw error
        }
    }

    public static func parse(yaml: String, baseDirectory: String = ".") throws(ConfigurationError)
        -> CallhookConfiguration
    {
        let root = try YAMLJSON.parse(yaml)
        return try Self.init(json: root, baseDirectory: baseDirectory)
    }

    public init(json root: JSONValue, baseDirectory: String = ".") throws(ConfigurationError) {
        guard case .object(let sections) = root.isNull ? .object([:]) : root else {
            throw ConfigurationError(path: "", message: "the configuration must be a mapping of sections")
        }
        let known = ["hooks", "ami", "calls", "bitrix24", "store", "server", "originate"]
        for key in sections.keys where !known.contains(key) {
            throw ConfigurationError(path: key, message: "unknown section (known: \(known.joined(separator: ", ")))")
        }
        self.hooks = try Self.hooks(sections["hooks"], baseDirectory: baseDirectory)
        self.ami = try AMIConfiguration(Section(sections["ami"] ?? .object([:]), path: "ami"))
        self.calls = try Self.calls(Section(sections["calls"] ?? .object([:]), path: "calls"))
        self.bitrix24 = try Bitrix24Settings(Section(sections["bitrix24"] ?? .object([:]), path: "bitrix24"))
        self.store = try StoreConfiguration(
            Section(sections["store"] ?? .object([:]), path: "store"), baseDirectory: baseDirectory)
        self.server = try ServerConfiguration(Section(sections["server"] ?? .object([:]), path: "server"))
        self.originate = try OriginateConfiguration(Section(sections["originate"] ?? .object([:]), path: "originate"))
        self.file = nil
    }

    static func hooks(_ value: JSONValue?, baseDirectory: String) throws(ConfigurationError) -> HookConfiguration {
        let section = Section(value ?? .object([:]), path: "hooks")
        try section.onlyKeys(["directory", "timeout_ms", "memory_mib", "workers", "reload_interval_ms", "settings"])
        let directory = try section.string("directory") ?? "hooks"
        var limits = LuaLimits.default
        if let ms = try section.integer("timeout_ms", in: 1...60_000) { limits.timeBudget = .milliseconds(ms) }
        if let mib = try section.integer("memory_mib", in: 1...4096) { limits.memoryLimit = Int(mib) << 20 }
        let workers = try section.integer("workers", in: 1...256).map(Int.init) ?? HookConfiguration.defaultWorkers
        let reload = try section.integer("reload_interval_ms", in: 50...3_600_000) ?? 1000
        let settings: HookSettings
        do {
            settings = try HookSettings(raw: section.members["settings"] ?? .object([:]))
        } catch {
            throw ConfigurationError(path: error.path, message: error.message)
        }
        return HookConfiguration(
            directory: Self.resolve(directory, against: baseDirectory), limits: limits, workers: workers,
            reloadInterval: .milliseconds(reload), settings: settings)
    }

    static func calls(_ section: Section) throws(ConfigurationError) -> CallTrackerConfiguration {
        try section.onlyKeys(["extensions", "internal_contexts", "trunk_contexts", "trunks", "timezone"])
        var calls = CallTrackerConfiguration()
        if let list = try section.strings("extensions") { calls.extensions = list.map(DialPattern.init) }
        if let list = try section.strings("internal_contexts") { calls.internalContexts = list }
        if let list = try section.strings("trunk_contexts") { calls.trunkContexts = list }
        if let list = try section.strings("trunks") { calls.trunks = list.map(DialPattern.init) }
        if let zone = try section.string("timezone") {
            guard TimeZone(identifier: zone) != nil else {
                throw ConfigurationError(
                    path: "calls.timezone", message: "unknown time zone \(zone) (e.g. Europe/Moscow)")
            }
            calls.timeZone = zone
        }
        return calls
    }

    static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") || base == "." || base.isEmpty { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }
}

/// Reads one mapping of the configuration with clear errors.
struct Section {
    var members: JSONObject
    var path: String
    var isMapping: Bool

    init(_ value: JSONValue, path: String) {
        self.path = path
        if case .object(let o) = value {
            self.members = o
            self.isMapping = true
        } else {
            self.members = [:]
            self.isMapping = value.isNull
        }
    }

    func onlyKeys(_ keys: [String]) throws(ConfigurationError) {
        guard self.isMapping else { throw ConfigurationError(path: self.path, message: "must be a mapping") }
        for key in self.members.keys.sorted() where !keys.contains(key) {
            throw ConfigurationError(
                path: "\(self.path).\(key)", message: "unknown setting (known: \(keys.joined(separator: ", ")))")
        }
    }

    func string(_ key: String) throws(ConfigurationError) -> String? {
        guard let value = self.members[key], !value.isNull else { return nil }
        guard let s = value.stringValue else {
            throw ConfigurationError(path: "\(self.path).\(key)", message: "must be text")
        }
        guard !s.isEmpty else {
            throw ConfigurationError(
                path: "\(self.path).\(key)", message: "must not be empty (leave it out for the default)")
        }
        return s
    }

    /// A list of numbers or text, as text (`[101, "_1XX"]`).
    func strings(_ key: String) throws(ConfigurationError) -> [String]? {
        guard let value = self.members[key], !value.isNull else { return nil }
        guard case .array(let items) = value else {
            throw ConfigurationError(path: "\(self.path).\(key)", message: "must be a list")
        }
        return try items.map { (item) throws(ConfigurationError) -> String in
            guard let text = item.scalarText, item.boolValue == nil else {
                throw ConfigurationError(path: "\(self.path).\(key)", message: "entries must be text or numbers")
            }
            return text
        }
    }

    func integer(_ key: String, in range: ClosedRange<Int64>) throws(ConfigurationError) -> Int64? {
        guard let value = self.members[key], !value.isNull else { return nil }
        guard let i = value.integerValue, range.contains(i) else {
            throw ConfigurationError(
                path: "\(self.path).\(key)",
                message: "must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return i
    }
}

extension Section {
    func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let value = self.members[key], !value.isNull else { return nil }
        guard let b = value.boolValue else {
            throw ConfigurationError(path: "\(self.path).\(key)", message: "must be true or false")
        }
        return b
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        guard let value = self.members[key], !value.isNull else { return nil }
        guard let d = value.doubleValue, range.contains(d) else {
            throw ConfigurationError(
                path: "\(self.path).\(key)",
                message: "must be a number from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return d
    }

    func section(_ key: String) -> Section {
        Section(self.members[key] ?? .null, path: "\(self.path).\(key)")
    }
}
