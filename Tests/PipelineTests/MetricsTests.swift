import Foundation
import HTTPClient
import JSON
import Sandboxes
import Testing

/// `GET /metrics` on the daemon's server: what an admin's Prometheus scrapes. The counters follow the calls and
/// the portal's answers, refusals included; the gauges say what is going on at the scrape.
@Suite struct MetricsTests {
    @Test func aScrapeCountsTheCallsRequestsAndRefusals() async throws {
        try await withRig { rig in
            // The portal refuses the first two requests for its rate: Callhook waits and retries them.
            _ = rig.portal.sandbox.setKnobs([
                "fail_next": ["count": 2, "status": 503, "error": "QUERY_LIMIT_EXCEEDED"]
            ])
            var script = CallScript(start: 1_764_300_000)
            script.answeredIncoming(from: "89161234567", did: "74951234567", extension: "101", talk: 20)
            await rig.play(&script)
            await rig.waitFor("the call finished", timeout: .seconds(30)) {
                Rig.calls($0).first?["finish"].map { !$0.isNull } == true
            }
            let operations = try await rig.settled(timeout: .seconds(30))
            #expect(!operations.contains { $0.status == .failed })

            let response = try await CurlHTTPClient(threads: 1).send(
                WebRequest(method: "GET", url: rig.serverURL + "/metrics"))
            #expect(response.status == 200)
            #expect(response.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("text/plain") })
            let samples = Self.samples(String(decoding: response.body, as: UTF8.self))

            #expect(samples[#"callhook_ami_connected"#] == 1)
            #expect(samples[#"callhook_outbox_operations{status="pending"}"#] == 0)
            #expect(samples[#"callhook_outbox_operations{status="failed"}"#] == 0)
            #expect(samples[#"callhook_outbox_settled_total{kind="register",status="done"}"#] == 1)
            #expect(samples[#"callhook_outbox_settled_total{kind="finish",status="done"}"#] == 1)
            // The two refusals were counted as such, and each retried.
            let refused = samples.filter { $0.key.hasPrefix("callhook_crm_requests_total{") }
                .filter { $0.key.contains(#"result="QUERY_LIMIT_EXCEEDED""#) }
            #expect(refused.values.reduce(0, +) == 2, "\(refused)")
            #expect((samples.filter { $0.key.contains(#"status="retry""#) }.values.reduce(0, +)) >= 1)
            let answered = samples.filter {
                $0.key.hasPrefix("callhook_crm_requests_total{") && $0.key.contains(#"result="ok""#)
            }
            #expect(answered.values.reduce(0, +) >= 3, "search, register and finish at least: \(answered)")
            // The rig runs the built-in hooks: the hook engine's counters reach the same registry.
            #expect(samples[#"callhook_hook_runs_total{hook="process_phone_number",outcome="builtin"}"#] ?? 0 >= 1)
            // /health says the same, as JSON.
            let health = try await CurlHTTPClient(threads: 1).send(
                WebRequest(method: "GET", url: rig.serverURL + "/health"))
            let state = try JSONParser.parse(health.body)
            #expect(state["ami"] == "connected")
            #expect(state["outbox"]?["pending"] == 0)
            #expect(state["outbox"]?["failed"] == 0)
            #expect(
                state["outbox"]?["done"]?.integerValue
                    == samples[#"callhook_outbox_operations{status="done"}"#].map { Int64($0) })
            // The refused search made that call's registration a retry, not the ring's own: it is not timed.
            #expect(samples["callhook_ring_to_register_seconds_count"] ?? 0 == 0)
        }
    }

    /// The card's latency as an admin sees it: each call registered while its phone rings is timed from the ring
    /// to the portal's answer (the finish, the activity and the rest are not).
    @Test func ringToRegisterIsTimedForCallsRegisteredWhileRinging() async throws {
        try await withRig { rig in
            var script = CallScript(start: 1_764_300_100)
            for (index, (number, phone)) in [("89161234567", "101"), ("+79990003344", "777")].enumerated() {
                let trunk = script.incoming(from: number, did: "74951234567")
                let ringing = script.phone(phone, in: trunk)
                script.ring(trunk, ringing)
                await rig.play(&script)
                await rig.waitFor("call \(index + 1) registered") { Rig.calls($0).count == index + 1 }
                script.answer(trunk, ringing, bridge: "b\(index)", after: 3)
                script.hangup(trunk, after: 10)
                script.hangup(ringing, after: 0)
                await rig.play(&script)
            }
            await rig.waitFor("both calls finished") { state in
                Rig.calls(state).allSatisfy { $0["finish"].map { !$0.isNull } ?? false }
            }
            _ = try await rig.settled(timeout: .seconds(30))
            let samples = try await Self.scrape(rig)
            #expect(samples["callhook_ring_to_register_seconds_count"] == 2)
            let sum = try #require(samples["callhook_ring_to_register_seconds_sum"])
            #expect(sum > 0 && sum < 20, "\(sum) s for two registrations on loopback")
            #expect(samples[#"callhook_ring_to_register_seconds_bucket{le="+Inf"}"#] == 2)
        }
    }

    static func scrape(_ rig: Rig) async throws -> [String: Double] {
        let response = try await CurlHTTPClient(threads: 1).send(
            WebRequest(method: "GET", url: rig.serverURL + "/metrics"))
        return Self.samples(String(decoding: response.body, as: UTF8.self))
    }

    /// Sample name with its labels (as written) → value.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
