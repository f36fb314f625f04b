import GRDB
import JSON

/// One CRM operation waiting in the outbox, or done, or given up on.
public struct OutboxOperation: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Waiting for its turn (or for `notBefore`).
        case pending
        /// The portal answered and the effect is recorded.
        case done
        /// Failed for good: stays for an admin (`callhook outbox retry|drop`); the call's later operations wait.
        case failed
        /// Not needed any more (the call was skipped, a hook cancelled it, an admin dropped it).
        case cancelled
    }

    public var id: Int64
    public var callID: String
    public var kind: String
    public var payload: JSONValue
    public var status: Status
    public var attempts: Int
    /// Not to be tried before this Unix time (a retry's backoff, a record not yet written).
    public var notBefore: Double
    public var lastError: String?
    /// A request for it may have reached the portal: a retry of a non-idempotent operation reconciles first.
    public var sent: Bool
    public var createdAt: Double
    public var updatedAt: Double

    /// A new operation as `enqueue` writes it.
    init(id: Int64, callID: String, kind: String, payload: JSONValue, notBefore: Double, at time: Double) {
        self.id = id
        self.callID = callID
        self.kind = kind
        self.payload = payload
        self.status = .pending
        self.attempts = 0
        self.notBefore = notBefore
        self.lastError = nil
        self.sent = false
        self.createdAt = time
        self.updatedAt = time
    }

    init(row: Row) {
        self.id = row["id"]
        self.callID = row["call_id"]
        self.kind = row["kind"]
        self.payload = .column(row["payload"])
        self.status = Status(rawValue: row["status"]) ?? .pending
        self.attempts = row["attempts"]
        self.notBefore = row["not_before"]
        self.lastError = row["last_error"]
        self.sent = row["sent"]
        self.createdAt = row["created_at"]
        self.updatedAt = row["updated_at"]
    }

    public var json: JSONValue {
        [
            "id": .integer(self.id), "call_id": .string(self.callID), "kind": .string(self.kind),
            "status": .string(self.status.rawValue), "attempts": .integer(Int64(self.attempts)),
            "not_before": .double(self.notBefore), "last_error": self.lastError.map(JSONValue.string) ?? .null,
            "sent": .bool(self.sent), "created_at": .double(self.createdAt), "updated_at": .double(self.updatedAt),
            "payload": self.payload,
        ]
    }
}

extension Database {
    /// Adds an operation at the end of its call's queue. Returns it as written.
    @discardableResult
    public func enqueue(callID: String, kind: String, payload: JSONValue = .object(JSONObject()), notBefore: Double = 0)
        throws -> OutboxOperation
    {
        let time = now()
        try self.cachedExecute(
            sql: """
                INSERT INTO outbox (call_id, kind, payload, status, not_before, created_at, updated_at)
                VALUES (?, ?, ?, 'pending', ?, ?, ?)
                """, arguments: [callID, kind, payload.column, notBefore, time, time])
        return OutboxOperation(
            id: self.lastInsertedRowID, callID: callID, kind: kind, payload: payload, notBefore: notBefore, at: time)
    }

    /// The first open (pending or failed) operation of every call that has one, oldest call first.
    public func headOperations() throws -> [OutboxOperation] {
        try Row.cachedAll(
            self,
            sql: """
                SELECT o.* FROM outbox o
                JOIN (SELECT MIN(id) AS id FROM outbox WHERE status IN ('pending', 'failed') GROUP BY call_id) h
                ON o.id = h.id ORDER BY o.id
                """
        ).map(OutboxOperation.init(row:))
    }

    /// A call's open operations, in order.
    public func openOperations(callID: String) throws -> [OutboxOperation] {
        try Row.cachedAll(
            self, sql: "SELECT * FROM outbox WHERE call_id = ? AND status IN ('pending', 'failed') ORDER BY id",
            arguments: [callID]
        ).map(OutboxOperation.init(row:))
    }

    public func operations(callID: String) throws -> [OutboxOperation] {
        try Row.cachedAll(self, sql: "SELECT * FROM outbox WHERE call_id = ? ORDER BY id", arguments: [callID])
            .map(OutboxOperation.init(row:))
    }

    /// Operations by status (all when `nil`), newest last.
    public func operations(status: OutboxOperation.Status?, limit: Int = 1000) throws -> [OutboxOperation] {
        if let status {
            return try Row.cachedAll(
                self, sql: "SELECT * FROM outbox WHERE status = ? ORDER BY id LIMIT ?",
                arguments: [status.rawValue, limit]
            ).map(OutboxOperation.init(row:))
        }
        return try Row.cachedAll(self, sql: "SELECT * FROM outbox ORDER BY id LIMIT ?", arguments: [limit])
            .map(OutboxOperation.init(row:))
    }

    public func operation(id: Int64) throws -> OutboxOperation? {
        try Row.cachedOne(self, sql: "SELECT * FROM outbox WHERE id = ?", arguments: [id]).map(
            OutboxOperation.init(row:))
    }

    /// The newest operation's id (0 for none). Ids only grow (AUTOINCREMENT), so operations queued after this was
    /// read have greater ones.
    public func lastOperationID() throws -> Int64 {
        try Int64.fetchOne(self, sql: "SELECT COALESCE(MAX(id), 0) FROM outbox") ?? 0
    }

    /// How many operations are waiting to be delivered (an index lookup, cheap enough to poll).
    public func pendingCount() throws -> Int {
        try Int.fetchOne(self, sql: "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") ?? 0
    }

    public func outboxCounts() throws -> [OutboxOperation.Status: Int] {
        var counts: [OutboxOperation.Status: Int] = [:]
        for row in try Row.cachedAll(self, sql: "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status") {
            if let status = OutboxOperation.Status(rawValue: row["status"]) { counts[status] = row["n"] }
        }
        return counts
    }

    /// Records that a request for the operation is about to leave, with the parameters it carries, so that a
    /// retry after a crash resends the same thing (or reconciles first).
    public func markSent(_ id: Int64, payload: JSONValue? = nil) throws {
        if let payload {
            try self.cachedExecute(
                sql: "UPDATE outbox SET sent = 1, payload = ?, updated_at = ? WHERE id = ?",
                arguments: [payload.column, now(), id])
        } else {
            try self.cachedExecute(
                sql: "UPDATE outbox SET sent = 1, updated_at = ? WHERE id = ?", arguments: [now(), id])
        }
    }

    public func markDone(_ id: Int64, note: String? = nil) throws {
        try self.cachedExecute(
            sql:
                "UPDATE outbox SET status = 'done', attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?",
            arguments: [note, now(), id])
    }

    public func markCancelled(_ id: Int64, reason: String) throws {
        try self.cachedExecute(
            sql: "UPDATE outbox SET status = 'cancelled', last_error = ?, updated_at = ? WHERE id = ?",
            arguments: [reason, now(), id])
    }

    /// A try that failed and will be repeated at `retryAt`.
    public func markRetry(_ id: Int64, error: String, retryAt: Double) throws {
        try self.cachedExecute(
            sql: """
                UPDATE outbox SET attempts = attempts + 1, last_error = ?, not_before = ?, updated_at = ? WHERE id = ?
                """, arguments: [error, retryAt, now(), id])
    }

    /// Brings pending operations waiting for a retry forward to now (the portal is back).
    public func expedite(_ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ",")
        let time = now()
        var arguments: StatementArguments = [time, time, time]
        arguments += StatementArguments(ids)
        try self.execute(
            sql: """
                UPDATE outbox SET not_before = ?, updated_at = ?
                WHERE status = 'pending' AND not_before > ? AND id IN (\(placeholders))
                """, arguments: arguments)
    }

    /// Waits without counting a failed attempt (a record file still being written).
    public func postpone(_ id: Int64, until time: Double, note: String) throws {
        try self.cachedExecute(
            sql: "UPDATE outbox SET not_before = ?, last_error = ?, updated_at = ? WHERE id = ?",
            arguments: [time, note, now(), id])
    }

    public func markFailed(_ id: Int64, error: String) throws {
        try self.cachedExecute(
            sql:
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?",
            arguments: [error, now(), id])
    }

    /// Cancels every open operation of a call.
    public func cancelOpenOperations(callID: String, reason: String) throws {
        try self.cachedExecute(
            sql: """
                UPDATE outbox SET status = 'cancelled', last_error = ?, updated_at = ?
                WHERE call_id = ? AND status IN ('pending', 'failed')
                """, arguments: [reason, now(), callID])
    }

    /// An admin's retry: a failed operation goes back to pending, at once.
    public func retryOperation(_ id: Int64) throws -> Bool {
        try self.cachedExecute(
            sql:
                "UPDATE outbox SET status = 'pending', not_before = 0, updated_at = ? WHERE id = ? AND status = 'failed'",
            arguments: [now(), id])
        return self.changesCount > 0
    }

    /// An admin's drop: an open operation is cancelled, so the call's next ones can go.
    public func dropOperation(_ id: Int64) throws -> Bool {
        try self.cachedExecute(
            sql: """
                UPDATE outbox SET status = 'cancelled', last_error = COALESCE(last_error, '') || ' (dropped by an admin)',
                updated_at = ? WHERE id = ? AND status IN ('pending', 'failed')
                """, arguments: [now(), id])
        return self.changesCount > 0
    }

    /// The earliest time an open head operation becomes due, if any is waiting.
    public func nextDueTime() throws -> Double? {
        try Double.fetchOne(
            self,
            sql: """
                SELECT MIN(o.not_before) FROM outbox o
                JOIN (SELECT MIN(id) AS id FROM outbox WHERE status IN ('pending', 'failed') GROUP BY call_id) h
                ON o.id = h.id WHERE o.status = 'pending'
                """)
    }
}
