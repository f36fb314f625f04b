import Foundation
import JSON
import TestSupport
import Testing

@Suite struct JSONParserTests {
    @Test func readsEveryKindOfValue() throws {
        let value = try JSONParser.parse(
            #"{"a": [1, -2, 3.5, 1e3, true, false, null, "x\n\u0416\ud83d\ude00"], "b": {}}"#)
        #expect(value == ["a": [1, -2, 3.5, .double(1000), true, false, .null, "x\nЖ😀"], "b": [:]])
    }

    @Test func integersAndFloatsStayApart() throws {
        #expect(try JSONParser.parse("83432872875") == .integer(83_432_872_875))
        #expect(try JSONParser.parse("1.0") == .double(1.0))
        #expect(try JSONParser.parse("-9223372036854775808") == .integer(Int64.min))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(JSONValue.integer(1) != JSONValue.double(1.0))
    }

    @Test func writesFloatsAsFloats() {
        #expect(JSONValue.double(3).serializedString() == "3.0")
        #expect(JSONValue.double(0.1).serializedString() == "0.1")
        #expect(JSONValue.double(1e20).serializedString() == "1e+20")
    }

    @Test(arguments: [
        ("", "unexpected end of input"), ("{", "unexpected end of input"), ("[1,]", "unexpected character"),
        ("01", "invalid number"), ("1.", "invalid number"), (#""\x""#, "invalid escape"),
        ("\"a\u{1}\"", "control character"),
        (#""\ud800""#, "invalid escape"), ("{} x", "trailing data"), ("tru", "unexpected end"),
        ("nul", "unexpected end"),
        (#"{"a" 1}"#, "unexpected character"),
    ])
    func rejectsMalformedText(text: String, reason: String) {
        #expect {
            try JSONParser.parse(text)
        } throws: { error in
            (error as? JSONError).map { "\($0)".contains(reason) } ?? false
        }
    }

    @Test func rejectsInvalidUTF8AndSaysWhere() {
        let bytes: [UInt8] = Array("{\n  \"name\": \"".utf8) + [0xC2, 0x41] + Array("\"}".utf8)
        #expect {
            try JSONParser.parse(bytes)
        } throws: { error in
            guard let error = error as? JSONError else { return false }
            return error.code == .invalidUTF8 && error.line == 2
        }
    }

    @Test func refusesNestingBeyondTheLimit() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONError.self) { try JSONParser.parse(deep) }
    }

    @Test func differencesNamePaths() {
        let expected: JSONValue = ["data": ["phone": "+79161234567", "list": [1, 2]]]
        let actual: JSONValue = ["data": ["phone": "89161234567", "list": [1], "extra": true]]
        let lines = expected.differences(to: actual).map(\.description)
        #expect(
            lines == [
                "data.extra: unexpected true",
                "data.list[1]: missing, expected 2",
                #"data.phone: expected "+79161234567", got "89161234567""#,
            ])
    }

    @Test func everyBitrix24PayloadRoundTrips() throws {
        let files = try Fixtures.files(in: "bitrix24", withExtension: "json")
        #expect(files.count >= 20)
        for file in files {
            let value = try JSONParser.parse(Array(try Data(contentsOf: file)))
            for options: JSONWriteOptions in [[], [.sortedKeys, .pretty]] {
                let again = try JSONParser.parse(value.serialized(options: options))
                #expect(again == value, "\(file.lastPathComponent)")
            }
        }
    }
}
