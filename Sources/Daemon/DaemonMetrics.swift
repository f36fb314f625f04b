import Pipeline
import Prometheus
import Store

/// The daemon's metrics, served by `GET /metrics` in Prometheus's text format.
///
/// Each daemon has a registry of its own, handed to what records metrics (the hook engine through swift-metrics'
/// factory): nothing is bootstrapped for the whole process, so a test can run several daemons side by side.
///
/// - `callhook_hook_runs_total{hook, outcome}`, `callhook_hook_failures_total{hook, reason}`,
///   `callhook_hook_duration_seconds{hook}`: from the hook engine
/// - `callhook_crm_requests_total{method, result}`: requests to the portal by method and result (`ok`, or the
///   portal's error code such as `QUERY_LIMIT_EXCEEDED`, or the network failure)
/// - `callhook_outbox_settled_total{kind, status}`: outbox operations settled by kind and status (`done`, `retry`,
///   `failed`, `cancelled`, `skipped`)
/// - `callhook_ring_to_register_seconds`: from a ring's arrival to the portal's answer to its `register`
///   (histogram), for the calls registered while their first phone rings
/// - `callhook_outbox_operations{status}`, `callhook_calls_in_progress`, `callhook_ami_connected`: the state at
///   the scrape
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    /// For swift-metrics users (the hook engine).
    var factory: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: self.registry) }

    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "callhook", subsystem: "crm", metricName: "requests", unitName: "total",
            helpText: "Requests to the portal by method and result (ok, or the error code)")
    }
    private static var settled: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "callhook", subsystem: "outbox", metricName: "settled", unitName: "total",
            helpText: "Outbox operations settled by kind and status")
    }
    private static var amiConnected: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "callhook", metricName: "ami_connected", unitName: "", helpText: "1 while logged in to the AMI")
    }
    private static var callsInProgress: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "callhook", metricName: "calls_in_progress", unitName: "",
            helpText: "Calls the tracker follows now")
    }
    private static var outbox: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "callhook", metricName: "outbox_operations", unitName: "",
            helpText: "Outbox operations by status now")
    }

    private static var ringToRegister: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "callhook", metricName: "ring_to_register", unitName: "seconds",
            helpText: "From a ring's arrival to the portal's answer to register, for calls registered while ringing")
    }
    private static let ringBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// Counts what the deliverer reports.
    func record(_ event: DeliveryEvent) {
        switch event {
        case .request(_, let method, _, let outcome):
            let result: String
            switch outcome {
            case .success: result = "ok"
            case .failure(let error): result = error.code
            }
            self.registry.makeCounter(descriptor: Self.requests, labels: [("method", method), ("result", result)])
                .increment()
        case .operation(_, let kind, let status, _):
            self.registry.makeCounter(descriptor: Self.settled, labels: [("kind", kind), ("status", status)])
                .increment()
        case .registeredAfterRing(_, let seconds):
            self.registry.makeDurationHistogram(descriptor: Self.ringToRegister, buckets: Self.ringBuckets)
                .recordNanoseconds(Int64(seconds * 1e9))
        case .hook:
            break
        }
    }

    /// The text of a scrape, with the state gauges set to what they are now.
    func scrape(amiConnected: Bool, callsInProgress: Int, outbox: [OutboxOperation.Status: Int]) -> [UInt8] {
        self.registry.makeGauge(descriptor: Self.amiConnected).set(to: amiConnected ? 1 : 0)
        self.registry.makeGauge(descriptor: Self.callsInProgress).set(to: Double(callsInProgress))
        for status in [OutboxOperation.Status.pending, .failed, .done] {
            self.registry.makeGauge(descriptor: Self.outbox, labels: [("status", status.rawValue)])
                .set(to: Double(outbox[status] ?? 0))
        }
        var text: [UInt8] = []
        self.registry.emit(into: &text)
        return text
    }
}
