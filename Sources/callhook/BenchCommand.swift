import ArgumentParser
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Callhook's hot paths and print the figures.",
        subcommands: [HooksBench.self, AMIBench.self, PipelineBench.self, FloorClient.self]
    )
}

/// Latency figures of a run: per-call nanoseconds, sorted.
struct LatencySample {
    var nanoseconds: [UInt64]
    var total: UInt64

    init(_ values: [UInt64], total: UInt64) {
        self.nanoseconds = values.sorted()
        self.total = total
    }

    func percentile(_ p: Double) -> Double {
        guard !self.nanoseconds.isEmpty else { return 0 }
        let index = min(self.nanoseconds.count - 1, Int((Double(self.nanoseconds.count) * p).rounded(.down)))
        return Double(self.nanoseconds[index])
    }

    var callsPerSecond: Double { Double(self.nanoseconds.count) / (Double(self.total) / 1e9) }
}

func microseconds(_ ns: Double) -> String {
    String(format: "%.2f µs", ns / 1000)
}
