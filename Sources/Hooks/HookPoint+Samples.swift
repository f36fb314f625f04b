import JSON

/// Example inputs, shaped as the seeds document them (Itgrix customisation reference), with realistic values.
/// They are what `callhook hooks run <hook>` uses without `--input`, what docs/hooks.md shows, and what the
/// benchmark feeds.
extension HookPoint {
    public var sampleInput: JSONValue {
        ["params": self.sampleParams]
    }

    public var sampleParams: JSONValue {
        switch self {
        case .processPhoneNumber:
            return ["phone": "89161234567"]
        case .needRegistration:
            return ["conversation": Samples.ringingConversation]
        case .processSearchParams:
            return [
                "CALL_START_DATE": "2026-11-24T10:15:02+03:00", "CRM_CREATE": 1, "CRM_SOURCE": "CALL",
                "LINE_NUMBER": "74951234567", "PHONE_NUMBER": "+79161234567", "SHOW": 1, "TYPE": 2, "USER_ID": 1,
                "conversation": Samples.ringingConversation, "user": Samples.user,
            ]
        case .getSearchFilter:
            return [
                "PHONE_NUMBER": "+79161234567",
                "entities": [
                    [
                        "CRM_ENTITY_TYPE": "CONTACT", "CRM_ENTITY_ID": 797, "ASSIGNED_BY_ID": 1,
                        "NAME": "Иван Петров",
                    ],
                    [
                        "CRM_ENTITY_TYPE": "COMPANY", "CRM_ENTITY_ID": 12, "ASSIGNED_BY_ID": 7,
                        "NAME": "ООО «Ромашка»",
                    ],
                ],
                "conversation": Samples.ringingConversation,
            ]
        case .processRegistrationParams:
            return [
                "USER_ID": 1, "PHONE_NUMBER": "+79161234567", "TYPE": 2,
                "CALL_START_DATE": "2026-11-24T10:15:02+03:00", "CRM_CREATE": 1, "CRM_SOURCE": "CALL", "SHOW": 1,
                "LINE_NUMBER": "74951234567", "EXTERNAL_CALL_ID": "1764058502.1042",
                "conversation": Samples.ringingConversation,
            ]
        case .processEntityCreationParams:
            // The seed's example, with the call it comes from as context.
            return [
                "type": "lead", "ASSIGNED_BY_ID": 238, "COMMENTS": "", "OPENED": "Y",
                "PHONE": [["VALUE": "83432872875"]], "SOURCE_ID": "7", "TITLE": "",
                "conversation": Samples.ringingConversation,
            ]
        case .processOriginateParams:
            return [
                "caller_id": "101", "channel": "PJSIP/101", "context": "from-internal",
                "extension": "+79161234567", "priority": "1",
            ]
        case .processFinalParams:
            return [
                "ADD_TO_CHAT": 1, "CALL_ID": "externalCall.716f1cb73def9700a23842adf9c4c568.1773130779",
                "DURATION": 155, "STATUS_CODE": 200, "USER_ID": 1,
                "conversation": Samples.finishedConversation,
                "entity_data": ["entity_id": 797, "entity_type": "contact", "was_created": false],
            ]
        case .processRecordFilePath:
            return [
                "call_id": "1764058502.1042", "from": "+79161234567", "to": "101",
                "path":
                    "/var/spool/asterisk/monitor/2026/11/24/in-74951234567-79161234567-20261124-101502-1764058502.1042.wav",
            ]
        case .processTaskCreationParams:
            return [
                "arNewTaskData": [
                    "DEADLINE": "2026-11-24T12:15:02+03:00", "CREATED_BY": 1, "RESPONSIBLE_ID": 1,
                    "TITLE": "Пропущенный звонок: +79161234567", "UF_CRM_TASK": ["L_11201"],
                ],
                "conversation": Samples.missedConversation,
            ]
        case .getUpdatedActivityFields:
            return Samples.finishedConversation
        case .getUpdatedEntityFields:
            var call = Samples.finishedConversation
            call["conversations"] = ["1764058502.1042": Samples.finishedConversation]
            call["channel_id"] = nil
            call["parent_channel_id"] = nil
            return call
        }
    }
}

enum Samples {
    static let ringingConversation: JSONValue = [
        "id": "1764058502.1042", "channel_id": "1764058502.1042", "parent_channel_id": "",
        "from": "+79161234567", "to": "101", "from_local": false, "to_local": true, "trunk": "74951234567",
        "type": 2, "type_code": "incoming", "started_at": "2026-11-24T10:15:02+03:00", "answered_at": "",
        "ended_at": "", "state": 1, "state_code": "ring", "was_answered": false,
    ]

    static let finishedConversation: JSONValue = [
        "id": "1764058502.1042", "channel_id": "1764058502.1042", "parent_channel_id": "",
        "from": "+79161234567", "to": "101", "from_local": false, "to_local": true, "trunk": "74951234567",
        "type": 2, "type_code": "incoming", "started_at": "2026-11-24T10:15:02+03:00",
        "answered_at": "2026-11-24T10:15:09+03:00", "ended_at": "2026-11-24T10:17:44+03:00", "state": 3,
        "state_code": "hung", "was_answered": true,
    ]

    static let missedConversation: JSONValue = [
        "id": "1764058502.1042", "channel_id": "1764058502.1042", "parent_channel_id": "",
        "from": "+79161234567", "to": "101", "from_local": false, "to_local": true, "trunk": "74951234567",
        "type": 2, "type_code": "incoming", "started_at": "2026-11-24T10:15:02+03:00", "answered_at": "",
        "ended_at": "2026-11-24T10:15:32+03:00", "state": 3, "state_code": "hung", "was_answered": false,
    ]

    static let user: JSONValue = [
        "ID": 1, "NAME": "Анна", "LAST_NAME": "Смирнова", "UF_PHONE_INNER": "101", "ACTIVE": true,
    ]
}
