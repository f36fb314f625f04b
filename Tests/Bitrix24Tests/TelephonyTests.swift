import Bitrix24
import HTTPClient
import JSON
import Logging
import SandboxSupport
import Sandboxes
import Testing

/// The Bitrix24 client against the local portal over HTTP: the telephony methods with their documented quirks.
@Suite struct TelephonyTests {
    @Test func registerShowHideFinishAndAttachARecord() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            let registered = try await client.call(
                "telephony.externalcall.register",
                [
                    "USER_ID": 2, "PHONE_NUMBER": "+79161234567", "TYPE": 2,
                    "CALL_START_DATE": "2026-11-24T10:15:02+03:00",
                    "CRM_CREATE": 1, "SHOW": 1, "LINE_NUMBER": "74951234567", "EXTERNAL_CALL_ID": "1764058502.1042",
                ])
            let callID = try #require(registered["CALL_ID"]?.stringValue)
            #expect(callID.hasPrefix("externalCall."))
            #expect(registered["CRM_ENTITY_TYPE"] == "CONTACT", "+79161234567 is Иван Петров's number")
            #expect(registered["CRM_ENTITY_ID"] == 797)
            #expect(registered["CRM_CREATED_LEAD"] == .null)

            #expect(
                try await client.call("telephony.externalcall.show", ["CALL_ID": .string(callID), "USER_ID": [3, 4]])
                    == true)
            #expect(
                try await client.call("telephony.externalcall.hide", ["CALL_ID": .string(callID), "USER_ID": 3]) == true
            )
            let finished = try await client.call(
                "telephony.externalcall.finish",
                ["CALL_ID": .string(callID), "USER_ID": 4, "DURATION": 95, "STATUS_CODE": "200"])
            #expect(finished["CALL_DURATION"] == 95)
            #expect(finished["CALL_FAILED_CODE"] == "200")
            let activityID = try #require(finished["CRM_ACTIVITY_ID"]?.integerValue)

            let wav = Array("RIFF....WAVEfmt ".utf8) + [UInt8](repeating: 7, count: 4000)
            let fileID = try await client.attachRecord(callID: callID, fileName: "call.wav", contents: wav)
            #expect(fileID.integerValue != nil)

            let state = await portal.state()
            let call = try #require(state["calls"]?[0])
            #expect(call["CALL_ID"]?.stringValue == callID)
            #expect(call["EXTERNAL_CALL_ID"] == "1764058502.1042")
            #expect(call["LINE_NUMBER"] == "74951234567")
            #expect(call["shown_to"] == [2, 3, 4])
            #expect(call["hidden_from"] == [3])
            #expect(call["finish"]?["DURATION"] == 95)
            #expect(call["record"]?["FILENAME"] == "call.wav")
            #expect(call["record"]?["size"] == .integer(Int64(wav.count)))
            #expect(call["record"]?["via"] == "FILE_CONTENT")
            let activity = try #require(
                state["activities"]?.arrayValue?.first { $0["ID"] == .string(String(activityID)) })
            #expect(activity["OWNER_TYPE_ID"] == "3")
            #expect(activity["OWNER_ID"] == "797")
            #expect(activity["RESPONSIBLE_ID"] == "4")
            #expect(activity["COMPLETED"] == "Y")
        }
    }

    @Test func documentedRefusals() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            func failure(_ method: String, _ params: JSONValue) async -> Bitrix24Error? {
                do {
                    _ = try await client.call(method, params)
                    return nil
                } catch {
                    return error
                }
            }
            let noUser = await failure("telephony.externalcall.register", ["PHONE_NUMBER": "+79161234567", "TYPE": 2])
            #expect(noUser?.code == "ERROR_CORE")
            #expect(noUser?.message == "USER_ID or USER_PHONE_INNER should be set")
            #expect(noUser?.status == 400)
            #expect(noUser?.disposition == .permanent)
            let badType = await failure(
                "telephony.externalcall.register", ["USER_ID": 1, "PHONE_NUMBER": "+79161234567", "TYPE": 9])
            #expect(badType?.message == "Unknown TYPE")
            let inactive = await failure(
                "telephony.externalcall.register", ["USER_ID": 6, "PHONE_NUMBER": "+79161234567", "TYPE": 2])
            #expect(inactive?.message == "User is not found or is not active")
            let badDate = await failure(
                "telephony.externalcall.register",
                ["USER_ID": 1, "PHONE_NUMBER": "+79161234567", "TYPE": 2, "CALL_START_DATE": "24.11.2026 10:15"])
            #expect(badDate?.message == "CALL_START_DATE should be in the ISO-8601 format")

            let finishUnknown = await failure(
                "telephony.externalcall.finish", ["CALL_ID": "externalCall.nope.1", "USER_ID": 1, "DURATION": 3])
            #expect(finishUnknown?.message == "Call is not found (call should be registered prior to finishing")
            let finishNumber = await failure("telephony.externalcall.finish", ["CALL_ID": 5, "USER_ID": 1])
            #expect(finishNumber?.code == "INVALID_ARGUMENT")
            #expect(
                try await client.call("telephony.externalcall.hide", ["CALL_ID": "externalCall.nope.1", "USER_ID": 1])
                    == false)

            let callID = try await client.call(
                "telephony.externalcall.register",
                ["USER_PHONE_INNER": "101", "PHONE_NUMBER": "84951112233", "TYPE": 2]
            )["CALL_ID"]!.stringValue!
            let early = await failure(
                "telephony.externalcall.attachRecord",
                ["CALL_ID": .string(callID), "FILENAME": "a.wav", "FILE_CONTENT": "UklGRg=="])
            #expect(early?.message == "Call is not found in the statistic table. Looks like it is not finished yet.")
            _ = try await client.call("telephony.externalcall.finish", ["CALL_ID": .string(callID), "USER_ID": 1])
            let ogg = await failure(
                "telephony.externalcall.attachRecord",
                ["CALL_ID": .string(callID), "FILENAME": "a.ogg", "FILE_CONTENT": "UklGRg=="])
            #expect(ogg?.message == "Wrong file extension. Only wav and mp3 are allowed")
            let again = await failure("telephony.externalcall.finish", ["CALL_ID": .string(callID), "USER_ID": 1])
            #expect(
                again?.message == "Call is not found (call should be registered prior to finishing",
                "a call finishes once")

            let state = await portal.state()
            let call = try #require(state["calls"]?.arrayValue?.first { $0["CALL_ID"]?.stringValue == callID })
            #expect(call["USER_PHONE_INNER"] == "101")
            #expect(call["finish"]?["STATUS_CODE"] == nil, "no STATUS_CODE was sent")
            #expect(call["activity_id"] == .null, "an unknown number without CRM_CREATE makes no activity")
        }
    }

    /// b24-docs: a second register within 30 minutes with the same number, type, user, line and EXTERNAL_CALL_ID
    /// returns the existing call; a different EXTERNAL_CALL_ID makes a new one.
    @Test func reRegisterWithinThirtyMinutesReturnsTheSameCall() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            let params: JSONValue = ["USER_ID": 1, "PHONE_NUMBER": "+79990001122", "TYPE": 2, "CRM_CREATE": 1]
            let first = try await client.call("telephony.externalcall.register", params)
            let second = try await client.call("telephony.externalcall.register", params)
            #expect(first["CALL_ID"] == second["CALL_ID"])
            #expect(first["CRM_CREATED_LEAD"] == second["CRM_CREATED_LEAD"])
            var distinct = params
            distinct["EXTERNAL_CALL_ID"] = "1764058502.2001"
            let third = try await client.call("telephony.externalcall.register", distinct)
            #expect(third["CALL_ID"] != first["CALL_ID"])
            let state = await portal.state()
            #expect(
                state["leads"]?.arrayValue?.count == 1,
                "the unknown number became one lead, found again the second time")
            #expect(state["calls"]?.arrayValue?.count == 2)
        }
    }

    @Test func searchFindsContactsCompaniesAndLeadsByAnyWritingOfTheNumber() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            let found = try await client.call(
                "telephony.externalcall.searchCrmEntities", ["PHONE_NUMBER": "8 (916) 123-45-67"])
            #expect(found[0]?["CRM_ENTITY_TYPE"] == "CONTACT")
            #expect(found[0]?["CRM_ENTITY_ID"] == 797)
            #expect(found[0]?["ASSIGNED_BY"]?["USER_PHONE_INNER"] == "777")
            let company = try await client.call(
                "telephony.externalcall.searchCrmEntities", ["PHONE_NUMBER": "74957654321"])
            #expect(company[0]?["CRM_ENTITY_TYPE"] == "COMPANY")
            #expect(
                try await client.call("telephony.externalcall.searchCrmEntities", ["PHONE_NUMBER": "+70000000000"])
                    == [])
            let duplicates = try await client.call(
                "crm.duplicate.findbycomm", ["type": "PHONE", "values": ["+79161234567", "+79035551234"]])
            #expect(duplicates == ["CONTACT": [797, 798]])
            #expect(
                try await client.call("crm.duplicate.findbycomm", ["type": "PHONE", "values": ["+70000000000"]]) == [])
        }
    }

    /// The two-step upload for large records: the URL from attachRecord, the file as multipart form data.
    @Test func largeRecordsGoThroughTheUploadURL() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            let callID = try await client.call(
                "telephony.externalcall.register", ["USER_ID": 1, "PHONE_NUMBER": "+79035551234", "TYPE": 2]
            )["CALL_ID"]!.stringValue!
            _ = try await client.call(
                "telephony.externalcall.finish", ["CALL_ID": .string(callID), "USER_ID": 1, "DURATION": 30])
            var mp3 = [UInt8](repeating: 0, count: Bitrix24Client.inlineRecordLimit + 1000)
            for i in mp3.indices { mp3[i] = UInt8(truncatingIfNeeded: i * 31) }
            _ = try await client.attachRecord(callID: callID, fileName: "long.mp3", contents: mp3)
            let record = await portal.state()["calls"]?[0]?["record"]
            #expect(record?["via"] == "upload")
            #expect(record?["FILENAME"] == "long.mp3")
            #expect(record?["size"] == .integer(Int64(mp3.count)))
        }
    }

    /// Real clients send forms and query strings as well as JSON: the portal reads each the PHP way.
    @Test func formsAndQueryStringsWorkLikeJSON() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let http = CurlHTTPClient(threads: 1)
            let form =
                "fields%5BTITLE%5D=%D0%97%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA&fields%5BPHONE%5D%5B0%5D%5BVALUE%5D=%2B79990001122"
            let reply = try await http.send(
                WebRequest(
                    method: "POST", url: portal.webhookURL + "crm.lead.add.json",
                    headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(form.utf8)))
            #expect(reply.status == 200)
            let id = try #require(try JSONParser.parse(reply.body)["result"]?.integerValue)
            let get = try await http.send(WebRequest(url: portal.webhookURL + "crm.lead.get?id=\(id)"))
            let lead = try JSONParser.parse(get.body)["result"]
            #expect(lead?["TITLE"] == "Звонок")
            #expect(lead?["PHONE"]?[0]?["VALUE"] == "+79990001122")
        }
    }
}
