import CoreMetrics
import Metrics

/// The hook engine's metrics, created once with fixed dimensions.
///
/// - `callhook_hook_runs_total{hook, outcome}`: outcome `script` (the script's output used), `builtin` (no
///   script), `fallback` (the script failed, the default used)
/// - `callhook_hook_failures_total{hook, reason}`: why scripts failed
/// - `callhook_hook_duration_seconds{hook}`: time of a scripted hook, JSON in and out included
struct HookMetrics: Sendable {
    enum Outcome: String, CaseIterable { case script, builtin, fallback }

    private let runs: [Int: Counter]
    private let failures: [String: Counter]
    private let durations: [Timer]

    init(factory: any MetricsFactory) {
        var runs: [Int: Counter] = [:]
        var failures: [String: Counter] = [:]
        var durations: [Timer] = []
        for hook in HookPoint.allCases {
            for outcome in Outcome.allCases {
                runs[hook.index * 8 + outcome.index] = Counter(
                    label: "callhook_hook_runs_total",
                    dimensions: [("hook", hook.name), ("outcome", outcome.rawValue)],
                    factory: factory)
            }
            for reason in HookFailure.Reason.all {
                failures["\(hook.name)/\(reason.name)"] = Counter(
                    label: "callhook_hook_failures_total", dimensions: [("hook", hook.name), ("reason", reason.name)],
                    factory: factory)
            }
            durations.append(
                Timer(label: "callhook_hook_duration_seconds", dimensions: [("hook", hook.name)], factory: factory))
        }
        self.runs = runs
        self.failures = failures
        self.durations = durations
    }

    func ran(_ hook: HookPoint, _ outcome: Outcome) {
        self.runs[hook.index * 8 + outcome.index]?.increment()
    }

    func failed(_ failure: HookFailure) {
        self.failures["\(failure.hook.name)/\(failure.reason.name)"]?.increment()
    }

    func took(_ hook: HookPoint, nanoseconds: Int64) {
        self.durations[hook.index].recordNanoseconds(nanoseconds)
    }
}

extension HookMetrics.Outcome {
    var index: Int { Self.allCases.firstIndex(of: self)! }
}
