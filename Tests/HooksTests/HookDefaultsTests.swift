import Hooks
import JSON
import PBX
import Testing

@Suite struct PhoneNumberRulesTests {
    @Test(arguments: [
        ("89161234567", "+79161234567"), ("+79161234567", "+79161234567"), ("79161234567", "+79161234567"),
        ("9161234567", "+79161234567"), ("8 (916) 123-45-67", "+79161234567"), ("+7 916 123 45 67", "+79161234567"),
        ("810 7 916 123 45 67", "+79161234567"), ("0079161234567", "+79161234567"),
        ("101", "101"), ("", ""), ("+380670219424", "+380670219424"), ("00380670219424", "+380670219424"),
        ("123456789012", "123456789012"), ("anonymous", "anonymous"),
    ])
    func russianDefaults(raw: String, expected: String) {
        #expect(PhoneNumberRules().normalise(raw) == expected)
    }

    @Test func formats() {
        var rules = PhoneNumberRules()
        rules.format = .national
        #expect(rules.normalise("+79161234567") == "89161234567")
        rules.format = .international
        #expect(rules.normalise("89161234567") == "79161234567")
        rules.format = .nationalNumber
        #expect(rules.normalise("89161234567") == "9161234567")
    }

    @Test func ukrainianPlanFromSettings() throws {
        let settings = try HookSettings(raw: [
            "phone": ["country_code": "380", "trunk_prefix": "0", "national_length": 9, "format": "e164"]
        ])
        #expect(settings.phone.normalise("0670219424") == "+380670219424")
        #expect(settings.phone.normalise("380670219424") == "+380670219424")
    }

    @Test func badSettingsAreRefusedWithTheirPath() {
        #expect(
            throws: HookSettingsError(
                path: "hooks.settings.phone.format",
                message: "must be one of e164, international, national, national_number")
        ) {
            try HookSettings(raw: ["phone": ["format": "pretty"]])
        }
        #expect(throws: HookSettingsError(path: "hooks.settings.phone.contry_code", message: "unknown setting")) {
            try HookSettings(raw: ["phone": ["contry_code": "7"]])
        }
        #expect(throws: HookSettingsError.self) {
            try HookSettings(raw: ["registration": ["extensions": ["deny": "101"]]])
        }
    }
}

@Suite struct DialPatternTests {
    @Test(arguments: [
        ("101", "101", true), ("101", "1010", false), ("_1XX", "101", true), ("_1XX", "1011", false),
        ("_1XX", "201", false), ("_NXX", "201", true), ("_NXX", "101", false), ("_ZX", "10", true),
        ("_[1-3]5", "25", true), ("_[1-3]5", "45", false), ("_8.", "89161234567", true), ("_8.", "8", false),
        ("_8!", "8", true), ("_7495XXXXXXX", "74951234567", true), ("_[#*]X", "*5", true),
    ])
    func asteriskRules(pattern: String, value: String, matches: Bool) {
        #expect(DialPattern(pattern).matches(value) == matches)
    }
}

@Suite struct HookDefaultsTests {
    func registers(_ conversation: JSONValue, _ settings: JSONValue = [:]) throws -> Bool {
        let defaults = HookDefaults(settings: try HookSettings(raw: settings))
        let output = defaults.output(for: .needRegistration, params: ["conversation": conversation])
        guard let result = output.data["result"]?.boolValue else {
            Issue.record("need_registration gave no boolean result: \(output.data)")
            return false
        }
        return result
    }

    let incoming: JSONValue = [
        "from": "+79161234567", "to": "101", "from_local": false, "to_local": true, "trunk": "74951234567", "type": 2,
    ]
    let outgoing: JSONValue = [
        "from": "102", "to": "+79161234567", "from_local": true, "to_local": false, "trunk": "74951234567", "type": 3,
    ]

    @Test func everythingIsRegisteredWithoutLists() throws {
        #expect(try self.registers(self.incoming))
        #expect(try self.registers(self.outgoing))
    }

    @Test func denyListsByExtensionAndTrunk() throws {
        #expect(try !self.registers(self.incoming, ["registration": ["extensions": ["deny": ["101"]]]]))
        #expect(try self.registers(self.outgoing, ["registration": ["extensions": ["deny": ["101"]]]]))
        #expect(try !self.registers(self.incoming, ["registration": ["trunks": ["deny": ["_7495XXXXXXX"]]]]))
    }

    @Test func allowListsByExtensionAndTrunk() throws {
        let sales: JSONValue = ["registration": ["extensions": ["allow": ["_1XX"]]]]
        #expect(try self.registers(self.incoming, sales))
        #expect(try self.registers(self.outgoing, sales))
        #expect(try !self.registers(self.outgoing, ["registration": ["extensions": ["allow": [101]]]]))
        #expect(try !self.registers(self.incoming, ["registration": ["trunks": ["allow": ["78001234567"]]]]))
    }

    @Test func internalCallsFollowTheirSetting() throws {
        let internalCall: JSONValue = ["from": "101", "to": "102", "from_local": true, "to_local": true, "type": 1]
        #expect(try !self.registers(internalCall))
        #expect(try self.registers(internalCall, ["registration": ["internal_calls": true]]))
    }

    @Test func everyHookPointHasADefaultThatPassesItsOwnValidation() throws {
        let defaults = HookDefaults(settings: try HookSettings())
        for hook in HookPoint.allCases {
            let output = defaults.output(for: hook, params: hook.sampleParams)
            #expect(throws: Never.self, "\(hook.name)") { try HookOutput(validating: output.json, for: hook) }
        }
    }

    @Test func passThroughDefaultsKeepTheRequestFields() throws {
        let defaults = HookDefaults(settings: try HookSettings())
        let out = defaults.output(
            for: .processRegistrationParams, params: HookPoint.processRegistrationParams.sampleParams)
        #expect(out.data["conversation"] == nil)
        #expect(out.data["PHONE_NUMBER"] == "+79161234567")
        #expect(out.data["EXTERNAL_CALL_ID"] == "1764058502.1042")
        #expect(defaults.output(for: .getUpdatedActivityFields, params: [:]).data == [:])
        #expect(
            HookDecision(defaults.output(for: .getUpdatedEntityFields, params: [:]), for: .getUpdatedEntityFields)
                == .cancel)
    }
}

@Suite struct HookOutputValidationTests {
    @Test(arguments: [
        (HookPoint.processPhoneNumber, #"{"data": {}}"#, "data.phone must be a string"),
        (.processPhoneNumber, #"{"state": "success"}"#, "no `data` field"),
        (.needRegistration, #"{"data": {"result": 1}}"#, "data.result must be true or false"),
        (
            .processFinalParams, #"{"data": {}, "action": "ignore"}"#,
            "not valid for process_final_params (valid: delete, register)"
        ),
        (.processRegistrationParams, #"{"data": {}, "action": "register"}"#, "(valid: none)"),
        (.processSearchParams, #"{"data": {}, "action": "burn"}"#, "unknown action"),
        (.processSearchParams, #"{"data": {}, "filter": {"deal": {}}}"#, "unknown entity type"),
        (.processFinalParams, #"{"data": {}, "filter": {"lead": {}}}"#, "only read from process_search_params"),
        (.getSearchFilter, #"{"data": {"entities": {}}}"#, "data.entities must be a list"),
        (.processRecordFilePath, #"{"data": {"path": 5}}"#, "data.path must be a string"),
        (.processTaskCreationParams, #"{"data": {"TITLE": "x"}}"#, "arNewTaskData"),
        (.processFinalParams, #"{"data": "x"}"#, "data must be a table"),
        (.processFinalParams, #"{"data": {}, "state": "failure"}"#, "reported state"),
    ])
    func rejected(hook: HookPoint, json: String, message: String) throws {
        #expect {
            try HookOutput(validating: try JSONParser.parse(json), for: hook)
        } throws: { error in
            (error as? HookOutputError)?.message.contains(message) ?? false
        }
    }

    @Test func phoneAsANumberIsAcceptedAsText() throws {
        let output = try HookOutput(validating: ["data": ["phone": 89161234567]], for: .processPhoneNumber)
        #expect(output.data == ["phone": "89161234567"])
    }
}
