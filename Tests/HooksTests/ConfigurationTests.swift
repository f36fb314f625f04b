import Config
import Foundation
import Hooks
import JSON
import LuaHost
import Testing

@Suite struct ConfigurationTests {
    @Test func emptyTextIsTheDefaults() throws {
        let configuration = try CallhookConfiguration.parse(yaml: "")
        #expect(configuration.hooks.directory == "hooks")
        #expect(configuration.hooks.limits == .default)
        #expect(configuration.hooks.settings.phone == PhoneNumberRules())
    }

    /// The shipped example is what admins copy: every setting in it must be accepted as written.
    @Test func theShippedExampleIsAValidConfiguration() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("callhook.example.yaml").path
        let configuration = try CallhookConfiguration.load(path: path)
        #expect(configuration.ami.secret == "change-me")
        #expect(configuration.bitrix24.lines["74951234567"]?.lineNumber == "74951234567")
        #expect(configuration.store.durability == "normal")
        #expect(configuration.originate.context == "from-internal")
    }

    @Test func anEmptySettingSaysSo() throws {
        #expect {
            try CallhookConfiguration.parse(yaml: "ami: {secret: \"\"}")
        } throws: { error in
            "\(error)".contains("ami.secret: must not be empty")
        }
    }

    @Test func hooksSectionIsRead() throws {
        let configuration = try CallhookConfiguration.parse(
            yaml: """
                hooks:
                  directory: /etc/callhook/hooks
                  timeout_ms: 20
                  memory_mib: 16
                  workers: 3
                  reload_interval_ms: 500
                  settings:
                    phone: {format: national}
                    registration:
                      extensions: {deny: [555, "_9XX"]}
                      trunks: {allow: ["74951234567"]}
                    lines:
                      "74951234567": {title: Сайт, source: WEB}
                    fax: 0443334000
                    ratio: 0.5
                """)
        let hooks = configuration.hooks
        #expect(hooks.directory == "/etc/callhook/hooks")
        #expect(hooks.limits.timeBudget == .milliseconds(20))
        #expect(hooks.limits.memoryLimit == 16 << 20)
        #expect(hooks.workers == 3)
        #expect(hooks.reloadInterval == .milliseconds(500))
        #expect(hooks.settings.phone.format == .national)
        #expect(hooks.settings.registration.extensions.deny.map(\.text) == ["555", "_9XX"])
        #expect(hooks.settings.raw["lines"] == ["74951234567": ["title": "Сайт", "source": "WEB"]])
        #expect(hooks.settings.raw["fax"] == "0443334000", "a leading zero keeps a number as text")
        #expect(hooks.settings.raw["ratio"] == 0.5)
    }

    @Test func relativeDirectoriesAreTakenFromTheFile() throws {
        let configuration = try CallhookConfiguration.parse(
            yaml: "hooks: {directory: scripts}", baseDirectory: "/etc/callhook")
        #expect(configuration.hooks.directory == "/etc/callhook/scripts")
    }

    @Test(arguments: [
        ("hook: {}", "hook", "unknown section"),
        ("hooks: {timeout: 5}", "hooks.timeout", "unknown setting"),
        ("hooks: {timeout_ms: 0}", "hooks.timeout_ms", "must be a whole number from 1 to 60000"),
        ("hooks: {workers: many}", "hooks.workers", "must be a whole number"),
        ("hooks: {settings: {phone: {format: x}}}", "hooks.settings.phone.format", "must be one of"),
        ("hooks: [1, 2]", "hooks", "must be a mapping"),
        ("hooks: {directory: a, directory: b}", "", "YAML"),
    ])
    func errorsSayWhere(yaml: String, path: String, message: String) {
        #expect {
            try CallhookConfiguration.parse(yaml: yaml)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return (path.isEmpty || error.path == path) && error.description.contains(message)
        }
    }
}
