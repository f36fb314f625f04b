import Foundation
import Store
import Testing

/// `CallhookDatabase.writeNow`, the ring's commit: all of it or nothing.
@Suite struct StoreTransactionTests {
    struct Refused: Error {}

    @Test func aFailedBodyLeavesNothingAndTheNextTransactionGoesOn() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try CallhookDatabase(path: directory.appendingPathComponent("callhook.sqlite").path)

        #expect(throws: Refused.self) {
            try database.writeNow { db in
                try db.setMeta("half", "written")
                throw Refused()
            }
        }
        #expect(try database.readNow { try $0.meta("half") } == nil, "the failed transaction was rolled back")

        try database.writeNow { db in try db.setMeta("whole", "written") }
        #expect(try database.readNow { try $0.meta("whole") } == "written")
    }
}
