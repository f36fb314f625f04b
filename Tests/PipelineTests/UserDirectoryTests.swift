import Foundation
import Logging
import Pipeline
import SandboxSupport
import Store
import Testing

/// The portal's users by extension, over HTTP from the local Bitrix24.
@Suite struct UserDirectoryTests {
    /// A phone that rings while the first fetch of the users is under way (right after a start, on a fresh
    /// install) waits for that fetch: the card goes to the user whose phone rang, not to the line's default user.
    @Test func aRingDuringTheFirstFetchWaitsForIt() async throws {
        try await withLocalBitrix24 { portal in
            portal.sandbox.setKnobs(["latency_ms": 500])
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "callhook-users-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let database = try CallhookDatabase(path: directory.appendingPathComponent("callhook.sqlite").path)
            let users = UserDirectory(
                database: database, client: portal.webhookClient(), refreshInterval: .seconds(3600),
                logger: Logger(label: "test.users"))
            async let started: Void = users.start()
            try await Task.sleep(for: .milliseconds(100))  // the fetch is waiting for the portal's answer
            let user = await users.user(extension: "7006")
            #expect(user?.id == 3, "Ольга, whose inner number is 7006")
            await started
        }
    }
}
