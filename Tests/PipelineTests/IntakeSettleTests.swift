import AMI
import Calls
import Foundation
import Logging
import NIOPosix
import Pipeline
import Store
import Testing

/// An AMI event that changes nothing waits for one that does, but not for long: with no other event after it, it
/// is in the journal within the settle delay (20 ms), so a crash later replays it. Once with the timer on the event
/// loop the daemon feeds the intake on, once with the intake's own task.
@Suite struct IntakeSettleTests {
    @Test(arguments: [true, false])
    func anEventThatChangedNothingIsJournalledWithoutAnotherAfterIt(onEventLoop: Bool) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "callhook-settle-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try CallhookDatabase(path: directory.appendingPathComponent("callhook.sqlite").path)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let woken = Counter()
        let intake = CallIntake(
            database: database, configuration: CallTrackerConfiguration(), logger: Logger(label: "test"),
            timerLoop: onEventLoop ? group.next() : nil, wake: { _, _ in woken.add() })

        // A dialplan step of a channel the tracker does not follow: no call, no operation.
        try await intake.receive(
            AMIMessage([
                ("Event", "Newexten"), ("Channel", "Local/s@tc-maint-00000001;1"), ("Uniqueid", "1700000000.9"),
                ("Linkedid", "1700000000.9"), ("Context", "tc-maint"), ("Exten", "s"), ("Application", "NoOp"),
            ]), at: 1_700_000_000)

        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while try database.readNow({ try $0.journalCount() }) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let entries = try database.readNow { try $0.journal() }
        #expect(entries.map(\.kind) == [.message], "the event is in the journal with nothing after it")
        #expect(woken.value == 0, "it queued nothing for the CRM")
        try await group.shutdownGracefully()
    }
}
