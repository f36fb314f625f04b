import AMI
import Calls
import Foundation
import Logging
import Pipeline
import Sandboxes
import Store
import Synchronization
import Testing

/// The ring that registers a call is committed at once, and the intake hands the call and its operations to the
/// deliverer as its transaction wrote them, so that the `register` goes without reading them back. What it hands
/// over has to be what the store holds, to the last field: the deliverer acts on it as if it had read it.
@Suite struct RingSnapshotTests {
    @Test func theRingsSnapshotIsWhatTheStoreHolds() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-snapshot-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try CallhookDatabase(path: directory.appendingPathComponent("callhook.sqlite").path)
        let wakes = Mutex<[(calls: [String], snapshots: [String: CallSnapshot])]>([])
        let intake = CallIntake(
            database: database, configuration: CallTrackerConfiguration(timeZone: "UTC"),
            logger: Logger(label: "test"), lookAhead: { _ in },
            wake: { calls, snapshots in wakes.withLock { $0.append((calls, snapshots)) } })

        var script = CallScript(start: 1_764_058_500)
        let trunk = script.incoming(from: "79161234567", did: "74951234567")
        let first = script.phone("101", in: trunk)
        let second = script.phone("102", in: trunk)
        script.ring(trunk, first)
        let toFirstRing = script.take()
        script.ring(trunk, second)
        let toSecondRing = script.take()

        for message in toFirstRing { try await intake.receive(message, at: script.time) }
        try await intake.drained()
        let atRing = try #require(wakes.withLock { $0.last }, "the ring queued the register")
        let snapshot = try #require(atRing.snapshots[trunk.linkedid], "the ring's commit handed its call over")
        let stored = try database.readNow { db in
            (try db.call(trunk.linkedid), try db.openOperations(callID: trunk.linkedid))
        }
        #expect(snapshot.operations.map(\.kind) == ["register"])
        #expect(snapshot.operations == stored.1, "the operations as the store has them")
        #expect(snapshot.call == stored.0, "the call as the store has it")
        #expect(snapshot.call.facts["ringing"] == ["101"])

        // The second phone's ring shows the card: no register, no hand-over.
        for message in toSecondRing { try await intake.receive(message, at: script.time) }
        try await intake.drained()
        let later = wakes.withLock { $0 }
        #expect(later.count == 2)
        #expect(later.last?.calls == [trunk.linkedid])
        #expect(later.last?.snapshots.isEmpty == true)
        let operations = try database.readNow { try $0.openOperations(callID: trunk.linkedid) }
        #expect(operations.map(\.kind) == ["register", "show"])
        #expect(operations.first == snapshot.operations.first, "the register is as it was handed over")
    }
}
