import Foundation
import GRDB
import JSON

/// A call as the pipeline keeps it: what the PBX said (`facts`) and what the CRM said (`crm`).
public struct StoredCall: Sendable, Equatable {
    public var id: String
    /// `active` (in progress), `ended`, `skipped` (left out of the CRM), `absorbed`.
    public var state: String
    public var facts: JSONValue
    public var crm: JSONValue
    /// The journal entry it started at: the journal keeps everything from the oldest active call's.
    public var firstSeq: Int64
    public var createdAt: Double
    public var updatedAt: Double

    public init(id: String, state: String, facts: JSONValue, crm: JSONValue = .object(JSONObject()), firstSeq: Int64) {
        self.id = id
        self.state = state
        self.facts = facts
        self.crm = crm
        self.firstSeq = firstSeq
        self.createdAt = now()
        self.updatedAt = self.createdAt
    }

    init(row: Row) {
        self.id = row["id"]
        self.state = row["state"]
        self.facts = .column(row["facts"])
        self.crm = .column(row["crm"])
        self.firstSeq = row["first_seq"]
        self.createdAt = row["created_at"]
        self.updatedAt = row["updated_at"]
    }
}

/// What the journal holds: the AMI input that rebuilds the tracker after a restart.
public struct JournalEntry: Sendable {
    public enum Kind: Int, Sendable {
        /// One AMI event, as received.
        case message = 0
        /// The channels found by `CoreShowChannels` after a reconnect (events one after another).
        case reconcile = 1
        /// The ActionID of an Originate Callhook sent.
        case originate = 2
        /// A new AMI link logged in (no bytes): the `reconcile` entry that follows judges only older channels.
        case linkUp = 3
    }

    public var seq: Int64
    public var kind: Kind
    public var at: Double
    public var bytes: [UInt8]
}

extension Database {
    public func call(_ id: String) throws -> StoredCall? {
        try Row.cachedOne(self, sql: "SELECT * FROM calls WHERE id = ?", arguments: [id]).map(StoredCall.init(row:))
    }

    public func calls(state: String? = nil, limit: Int = 10_000) throws -> [StoredCall] {
        if let state {
            return try Row.cachedAll(
                self, sql: "SELECT * FROM calls WHERE state = ? ORDER BY created_at LIMIT ?", arguments: [state, limit]
            ).map(StoredCall.init(row:))
        }
        return try Row.cachedAll(self, sql: "SELECT * FROM calls ORDER BY created_at LIMIT ?", arguments: [limit])
            .map(StoredCall.init(row:))
    }

    /// How many calls the store holds, or how many in `state`.
    public func callCount(state: String? = nil) throws -> Int {
        if let state {
            return try Int.fetchOne(self, sql: "SELECT COUNT(*) FROM calls WHERE state = ?", arguments: [state]) ?? 0
        }
        return try Int.fetchOne(self, sql: "SELECT COUNT(*) FROM calls") ?? 0
    }

    /// Writes the call as it is, updated now (`updatedAt`).
    public func save(_ call: inout StoredCall) throws {
        call.updatedAt = now()
        try self.cachedExecute(
            sql: """
                INSERT INTO calls (id, state, facts, crm, first_seq, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, facts = excluded.facts, crm = excluded.crm,
                updated_at = excluded.updated_at
                """,
            arguments: [
                call.id, call.state, call.facts.column, call.crm.column, call.firstSeq, call.createdAt, call.updatedAt,
            ])
    }

    /// Writes the call's facts, updated now; the rest of its row stays as it is. Cheaper than `save` for a call in
    /// progress: its CRM state is not written back, and its state's index is not touched.
    public func saveFacts(_ call: inout StoredCall) throws {
        call.updatedAt = now()
        try self.cachedExecute(
            sql: "UPDATE calls SET facts = ?, updated_at = ? WHERE id = ?",
            arguments: [call.facts.column, call.updatedAt, call.id])
    }

    /// Updates a call's CRM state in place.
    public func updateCRM(callID: String, _ change: (inout JSONValue) -> Void) throws {
        guard var call = try self.call(callID) else { return }
        change(&call.crm)
        try self.cachedExecute(
            sql: "UPDATE calls SET crm = ?, updated_at = ? WHERE id = ?", arguments: [call.crm.column, now(), callID])
    }

    public func setCallState(_ callID: String, _ state: String) throws {
        try self.cachedExecute(
            sql: "UPDATE calls SET state = ?, updated_at = ? WHERE id = ?", arguments: [state, now(), callID])
    }

    /// Forgets finished calls older than `time` whose operations are all settled.
    public func pruneCalls(before time: Double) throws -> Int {
        try self.cachedExecute(
            sql: """
                DELETE FROM outbox WHERE status IN ('done', 'cancelled') AND call_id IN (
                  SELECT id FROM calls WHERE state != 'active' AND updated_at < ?
                  AND id NOT IN (SELECT call_id FROM outbox WHERE status IN ('pending', 'failed')))
                """, arguments: [time])
        try self.cachedExecute(
            sql: """
                DELETE FROM calls WHERE state != 'active' AND updated_at < ?
                AND id NOT IN (SELECT call_id FROM outbox)
                """, arguments: [time])
        return self.changesCount
    }

    // MARK: - Journal

    @discardableResult
    public func appendJournal(_ kind: JournalEntry.Kind, at time: Double, bytes: [UInt8]) throws -> Int64 {
        try self.cachedExecute(
            sql: "INSERT INTO journal (kind, at, bytes) VALUES (?, ?, ?)",
            arguments: [kind.rawValue, time, Data(bytes)])
        return self.lastInsertedRowID
    }

    public func journal(after seq: Int64 = 0) throws -> [JournalEntry] {
        try Row.cachedAll(self, sql: "SELECT * FROM journal WHERE seq > ? ORDER BY seq", arguments: [seq]).map { row in
            JournalEntry(
                seq: row["seq"], kind: JournalEntry.Kind(rawValue: row["kind"]) ?? .message, at: row["at"],
                bytes: [UInt8](row["bytes"] as Data))
        }
    }

    public func journalCount() throws -> Int {
        try Int.fetchOne(self, sql: "SELECT COUNT(*) FROM journal") ?? 0
    }

    /// Drops journal entries no call in progress needs: older than the oldest active call's first entry.
    @discardableResult
    public func pruneJournal(keepingFrom seq: Int64) throws -> Int {
        try self.cachedExecute(sql: "DELETE FROM journal WHERE seq < ?", arguments: [seq])
        return self.changesCount
    }

    public func oldestActiveSeq() throws -> Int64? {
        try Int64.fetchOne(self, sql: "SELECT MIN(first_seq) FROM calls WHERE state = 'active'")
    }

    // MARK: - Meta

    public func meta(_ key: String) throws -> String? {
        try String.fetchOne(self, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    public func setMeta(_ key: String, _ value: String?) throws {
        if let value {
            try self.cachedExecute(
                sql:
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [key, value])
        } else {
            try self.cachedExecute(sql: "DELETE FROM meta WHERE key = ?", arguments: [key])
        }
    }
}
