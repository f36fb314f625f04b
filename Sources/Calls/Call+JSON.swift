import JSON

extension Party {
    public var json: JSONValue { ["number": .string(self.number), "channel": .string(self.channel)] }
}

extension Conversation {
    /// The seed's `conversation` shape (Itgrix customisations).
    public func json(_ format: CallTimeFormat) -> JSONValue {
        [
            "id": .string(self.callID), "channel_id": .string(self.channelID),
            "parent_channel_id": .string(self.parentChannelID), "from": .string(self.from), "to": .string(self.to),
            "from_local": .bool(self.fromLocal), "to_local": .bool(self.toLocal), "trunk": .string(self.trunk),
            "type": .integer(Int64(self.type.rawValue)), "type_code": .string(self.type.code),
            "started_at": .string(format.string(self.startedAt)),
            "answered_at": .string(self.answeredAt.map(format.string) ?? ""),
            "ended_at": .string(self.endedAt.map(format.string) ?? ""), "state": .integer(Int64(self.state.rawValue)),
            "state_code": .string(self.state.code), "was_answered": .bool(self.wasAnswered),
        ]
    }
}

extension Call {
    /// The call in the seed's shape (`conversation` fields plus `conversations`), with what the CRM needs:
    /// `status_code`, `duration`, `billsec`, `records`, and who rang and talked.
    public func json(_ format: CallTimeFormat) -> JSONValue {
        var conversations = JSONObject()
        for leg in self.conversations { conversations[leg.channelID] = leg.json(format) }
        return [
            "id": .string(self.id), "channel_id": .string(self.channelID), "parent_channel_id": "",
            "from": .string(self.from), "to": .string(self.to), "from_local": .bool(self.fromLocal),
            "to_local": .bool(self.toLocal), "trunk": .string(self.trunk), "type": .integer(Int64(self.type.rawValue)),
            "type_code": .string(self.type.code), "started_at": .string(format.string(self.startedAt)),
            "answered_at": .string(self.answeredAt.map(format.string) ?? ""),
            "ended_at": .string(self.endedAt.map(format.string) ?? ""), "state": .integer(Int64(self.state.rawValue)),
            "state_code": .string(self.state.code), "was_answered": .bool(self.wasAnswered),
            "rang": .array(self.rang.map(\.json)), "talked": .array(self.talked.map(\.json)),
            "status_code": .string(self.statusCode),
            "hangup_cause": self.hangupCause.map { .integer(Int64($0)) } ?? .null,
            "duration": .integer(Int64(self.duration)), "billsec": .integer(Int64(self.billsec)),
            "conversations": .object(conversations), "records": .array(self.records.map(JSONValue.string)),
            "originated": .bool(self.originated), "end_inferred": .bool(self.endInferred),
        ]
    }
}

extension Call {
    /// The call as one leg from the caller to the number dialled, as it stands before any phone rings.
    public var arrival: Conversation {
        Conversation(
            callID: self.id, channelID: self.channelID, parentChannelID: "", from: self.from, to: self.to,
            fromLocal: self.fromLocal, toLocal: self.toLocal, trunk: self.trunk, type: self.type,
            startedAt: self.startedAt, answeredAt: nil, endedAt: nil, destination: Party(number: self.to, channel: ""))
    }
}
