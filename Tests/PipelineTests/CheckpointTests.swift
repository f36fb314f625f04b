import CThreads
import Foundation
import Store
import Testing

/// The store's checkpoints run at idle priority, on a thread of their own: a ring that comes in meanwhile takes
/// the CPU from them.
@Suite struct CheckpointTests {
    @Test func workAtIdlePriorityRunsInTheIdleClassAndLeavesTheCallerAsItWas() async throws {
        let caller = callhook_current_thread_is_idle()
        let ran = try await CallhookDatabase.onThreadOfItsOwn(atIdlePriority: true) {
            (idle: callhook_current_thread_is_idle(), thread: callhook_thread_id())
        }
        #expect(ran.idle == 1, "the work ran in the SCHED_IDLE class")
        #expect(ran.thread != callhook_thread_id(), "on a thread of its own")
        #expect(callhook_current_thread_is_idle() == caller, "the caller's thread kept its class")
        // A thread of the cooperative pool is not left idle either: the next work is not slowed down.
        #expect(await Task.detached { callhook_current_thread_is_idle() }.value == 0)
    }

    /// The daemon's last checkpoint, as it stops, runs at normal priority: a busy PBX does not hold up the stop.
    @Test func workAtNormalPriorityRunsOnAThreadOfItsOwnOutOfTheIdleClass() async throws {
        let ran = try await CallhookDatabase.onThreadOfItsOwn(atIdlePriority: false) {
            (idle: callhook_current_thread_is_idle(), thread: callhook_thread_id())
        }
        #expect(ran.idle == 0, "the work ran at normal priority")
        #expect(ran.thread != callhook_thread_id(), "on a thread of its own")
    }

    @Test func aCheckpointInTheBackgroundCopiesTheWALBackAndLosesNothing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-checkpoint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("callhook.sqlite").path
        let database = try CallhookDatabase(path: path)
        for index in 0..<50 { try database.writeNow { db in try db.setMeta("key\(index)", "value \(index)") } }
        let before = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0

        try await database.checkpointInBackground()

        let after = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(after > before, "the database file has the pages the WAL held")
        #expect(try database.readNow { try $0.meta("key49") } == "value 49")
    }
}
