import Foundation
import JSON
import Testing

/// The README's main command, and the pipeline benchmark, as a newcomer runs them.
@Suite(.serialized) struct DemoCLITests {
    @Test(.timeLimit(.minutes(2))) func demoRunsEveryCallThroughToThePortalAndExitsZero() throws {
        let result = try CLI.run(["demo", "--speed", "200"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        // The timeline: calls from the PBX, the hooks that ran, the CRM requests.
        #expect(result.stdout.contains("PBX"))
        #expect(result.stdout.contains("hook  process_phone_number (script)"))
        #expect(result.stdout.contains("CRM   telephony.externalcall.register"))
        // The summary: what the portal holds, and an outbox with nothing failed or left.
        #expect(result.stdout.contains("■ What the portal holds"))
        #expect(result.stdout.contains("0 failed, 0 pending"))
    }

    @Test(.timeLimit(.minutes(2))) func demoJSONIsThePortalsFinalState() throws {
        let result = try CLI.run(["demo", "--json", "--speed", "200"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let state = try JSONParser.parse(result.stdout)
        let calls = state["calls"]?.arrayValue ?? []
        #expect(calls.count >= 6)
        #expect(calls.allSatisfy { $0["finish"].map { !$0.isNull } ?? false }, "every call finished")
        #expect((state["tasks"]?.arrayValue ?? []).count >= 1, "the missed call has its task")
    }

    @Test(.timeLimit(.minutes(2))) func benchPipelinePrintsItsFigures() throws {
        let result = try CLI.run(["bench", "pipeline", "--calls", "10", "--backlog", "80", "--rate", "50"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("ring → register, 10 calls one after another"))
        #expect(result.stdout.contains("a known client"))
        #expect(result.stdout.contains("p99"))
        #expect(result.stdout.contains("0 answered QUERY_LIMIT_EXCEEDED"))
        #expect(!result.stderr.contains("not run by their script"), "every hook ran its script: \(result.stderr)")
    }
}
