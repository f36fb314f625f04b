import CThreads
import Foundation
import GRDB
import JSON

/// Callhook's durable state in one SQLite file (WAL): the AMI journal that rebuilds the call tracker after a
/// restart, the calls and their CRM state, the outbox of CRM operations, the portal's users, OAuth tokens.
///
/// Durability: `synchronous = NORMAL` survives the process being killed at any moment (what `kill -9`, a crash or
/// an OOM kill do); `FULL` also survives a power cut, at an fsync per transaction.
public final class CallhookDatabase: Sendable {
    public enum Durability: String, Sendable {
        case normal
        case full
    }

    public let path: String
    let pool: DatabasePool
    /// A connection of its own for checkpoints: a passive checkpoint from it never holds up the writer.
    private let checkpointer: DatabaseQueue

    public init(path: String, durability: Durability = .normal) throws {
        self.path = path
        var configuration = Configuration()
        configuration.label = "callhook"
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
            // Commits only append to the WAL; `checkpoint()` copies it back into the file, off the commit path
            // (an automatic checkpoint made the occasional AMI event's transaction take several milliseconds).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(self.pool)
        var checkpointing = Configuration()
        checkpointing.label = "callhook.checkpoint"
        checkpointing.busyMode = .timeout(10)
        self.checkpointer = try DatabaseQueue(path: path, configuration: checkpointing)
    }

    /// Copies what the WAL holds into the database file as far as readers allow, without blocking writers, and
    /// returns the WAL frames left. Blocking (disk I/O): call it off the cooperative pool (`checkpointInBackground`).
    @discardableResult
    public func checkpoint() throws -> Int {
        try self.checkpointer.writeWithoutTransaction { db in
            try db.checkpoint(.passive).walFrameCount
        }
    }

    /// `checkpoint()` on a thread of its own, by default at idle priority (`onThreadOfItsOwn`).
    ///
    /// A checkpoint takes 15–30 ms of CPU every two seconds (copying pages, and waiting in the kernel). At normal
    /// priority, on a machine with two CPUs, a ring that came in meanwhile waited for it: traced in
    /// `bench pipeline`, the ring's look-up or its commit was held up by 1–2 ms, in about one call in 150. The
    /// daemon's last checkpoint, as it stops, has no ring to make way for: it runs at normal priority, so that a
    /// busy PBX does not hold up the stop.
    public func checkpointInBackground(atIdlePriority idle: Bool = true) async throws {
        try await Self.onThreadOfItsOwn(atIdlePriority: idle) { _ = try self.checkpoint() }
    }

    /// Runs `body` on a new thread. At idle priority, the thread is in the `SCHED_IDLE` class: it runs only when no
    /// other thread of the machine wants the CPU, and any thread that wakes takes the CPU from it at once. It is
    /// not starved: on a saturated machine it still gets a small share (its weight is 3 against 1,024 for a normal
    /// thread), so a checkpoint takes longer there and the WAL grows meanwhile; the next one copies more. If the
    /// class cannot be set, `body` runs at normal priority.
    public static func onThreadOfItsOwn<T: Sendable>(
        atIdlePriority idle: Bool, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                if idle { _ = callhook_make_current_thread_idle() }
                continuation.resume(with: Result { try body() })
            }
            thread.name = idle ? "callhook.idle" : "callhook.store"
            thread.start()
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE journal (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind INTEGER NOT NULL,
                        at REAL NOT NULL,
                        bytes BLOB NOT NULL
                    );
                    CREATE TABLE calls (
                        id TEXT PRIMARY KEY,
                        state TEXT NOT NULL,
                        facts TEXT NOT NULL,
                        crm TEXT NOT NULL DEFAULT '{}',
                        first_seq INTEGER NOT NULL DEFAULT 0,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX calls_state ON calls(state);
                    CREATE TABLE outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        call_id TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        status TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        not_before REAL NOT NULL DEFAULT 0,
                        last_error TEXT,
                        sent INTEGER NOT NULL DEFAULT 0,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX outbox_open ON outbox(status, call_id, id);
                    CREATE TABLE users (
                        id INTEGER PRIMARY KEY,
                        inner_phone TEXT,
                        name TEXT NOT NULL,
                        active INTEGER NOT NULL
                    );
                    CREATE TABLE meta (
                        key TEXT PRIMARY KEY,
                        value TEXT NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v2-originates") { db in
            // Click-to-call: the portal's call (CALL_ID of ONEXTERNALCALLSTART) waiting for the PBX call it asked for.
            try db.execute(
                sql: """
                    CREATE TABLE originates (
                        action_id TEXT PRIMARY KEY,
                        portal_call_id TEXT NOT NULL,
                        extension TEXT NOT NULL,
                        phone TEXT NOT NULL,
                        user_id INTEGER NOT NULL,
                        call_list_id TEXT,
                        at REAL NOT NULL,
                        call_id TEXT
                    );
                    """)
        }
        return migrator
    }

    /// Runs `body` in one write transaction.
    public func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await self.pool.write(body)
    }

    public func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await self.pool.read(body)
    }

    /// On the calling thread: for the few places that cannot be async (start-up), and for the ring's commit, which
    /// the intake makes in place rather than hand to the writer's queue and wait for it.
    public func writeNow<T>(_ body: (Database) throws -> T) throws -> T {
        try self.pool.writeWithoutTransaction { db in try Self.transaction(db, body) }
    }

    /// `body` in one transaction, begun and committed with statements compiled once per connection. GRDB's own
    /// `write` compiles `BEGIN IMMEDIATE` and `COMMIT` anew for every transaction: on the ring's path the begin
    /// took ~78 µs that way and takes ~45 µs now (median, traced in `bench pipeline`).
    static func transaction<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
            let result = try body(db)
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return result
        } catch {
            if db.isInsideTransaction { try? db.rollback() }
            throw error
        }
    }

    public func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        try self.pool.read(body)
    }
}

extension JSONValue {
    /// The text stored in a JSON column.
    var column: String { self.serializedString(options: []) }

    static func column(_ text: String?) -> JSONValue {
        guard let text else { return .null }
        return (try? JSONParser.parse(text)) ?? .null
    }
}

/// Unix time now.
func now() -> Double { Date().timeIntervalSince1970 }

// The store's statements are a fixed set run many times a second: each is compiled once per connection and
// kept (GRDB's statement cache) rather than compiled, authorised and thrown away on every call.
extension Database {
    func cachedExecute(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try self.cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

extension Row {
    static func cachedAll(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws
        -> [Row]
    {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func cachedOne(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws
        -> Row?
    {
        try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }
}
