import AMI
import ArgumentParser
import Calls
import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// `callhook bench ami`: decode and track speed on a large capture, and the memory a call in progress costs.
struct AMIBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ami",
        abstract: "Events/s and MB/s of AMI decode and decode + track, and memory per call in progress.",
        discussion: """
            The capture is built from the real captures shipped in the tests (a FreePBX answered call, a missed
            call, an answered and an abandoned queue call, a chan_sip call through a provider), repeated with
            fresh Uniqueids so that every copy is a call of its own, to at least --megabytes MB. It is decoded
            on this thread (one core), then decoded and fed to the call tracker. The memory figure is the growth
            of the process's resident memory while --calls calls are in progress (their first events fed,
            no hangup), divided by the number of calls.
            """)

    @Option(name: .long, help: "Size of the capture to build, in MB.")
    var megabytes = 64

    @Option(name: .long, help: "Calls held in progress for the memory figure.")
    var calls = 10_000

    @Option(name: .long, help: "Directory with the fixture captures (default: Tests/Fixtures/ami).")
    var fixtures = "Tests/Fixtures/ami"

    @Option(name: .long, help: "Runs of each measurement; the best is printed.")
    var runs = 3

    static let templates = [
        "pyfreepbx_answered.ami", "pyfreepbx_missed.ami", "pyfreepbx_queue.ami", "pyfreepbx_abandoned.ami",
        "goami2_call_flow_sip_dial_bridge_hangup.ami",
    ]

    func run() throws {
        let templates = try Self.templates.map { name -> String in
            guard let data = FileManager.default.contents(atPath: self.fixtures + "/" + name) else {
                throw Failure(
                    message: "cannot read \(self.fixtures)/\(name) (run from the repository, or give --fixtures)")
            }
            return String(decoding: data, as: UTF8.self)
        }
        Output.out(
            "callhook bench ami: building a capture of \(self.megabytes) MB from \(templates.count) real captures...")
        let (capture, copies) = Self.build(templates, bytes: self.megabytes << 20)
        let megabytes = Double(capture.readableBytes) / 1_048_576
        Output.out(String(format: "capture: %.1f MB, %d calls", megabytes, copies))
        Output.out("")

        var best = (decode: Double.infinity, track: Double.infinity)
        var eventCount = 0
        var callCount = 0
        for _ in 0..<self.runs {
            var decoder = AMIFrameDecoder()
            var buffer = capture
            var events = 0
            let t0 = Self.now()
            while let frame = try? decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                if case .message(let message) = frame, message.kind == .event { events += 1 }
            }
            best.decode = min(best.decode, Self.now() - t0)
            eventCount = events

            var replay = CaptureReplay()
            var again = capture
            let t1 = Self.now()
            callCount = replay.feed(&again, atEOF: true).count
            best.track = min(best.track, Self.now() - t1)
        }
        Output.out("one core, best of \(self.runs):")
        Output.out(
            String(
                format: "  decode           %8.0f events/s  %7.1f MB/s   (target >= 300 MB/s)",
                Double(eventCount) / best.decode,
                megabytes / best.decode))
        Output.out(
            String(
                format: "  decode + track   %8.0f events/s  %7.1f MB/s   (target >= 150 MB/s), %d calls ended",
                Double(eventCount) / best.track, megabytes / best.track, callCount))

        let (perCall, peak) = try self.memoryPerCall(templates[0])
        Output.out("")
        Output.out(
            String(
                format: "memory: %d calls in progress, %.0f bytes per call (target < 4096), peak resident %.1f MB",
                self.calls, perCall, peak))
    }

    /// The capture: the templates in turn, each copy with its Uniqueids renumbered, until `bytes` is reached.
    static func build(_ templates: [String], bytes: Int) -> (ByteBuffer, Int) {
        let pattern = try! NSRegularExpression(pattern: #"\b1[0-9]{9}\.[0-9]+\b"#)
        let pieces: [[(text: String, id: String?)]] = templates.map { template in
            var parts: [(String, String?)] = []
            var last = template.startIndex
            for match in pattern.matches(in: template, range: NSRange(template.startIndex..., in: template)) {
                let range = Range(match.range, in: template)!
                parts.append((String(template[last..<range.lowerBound]), nil))
                parts.append(("", String(template[range])))
                last = range.upperBound
            }
            parts.append((String(template[last...]), nil))
            return parts
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(bytes + 200_000)
        var copy = 0
        while buffer.readableBytes < bytes {
            let parts = pieces[copy % pieces.count]
            for (text, id) in parts {
                if let id {
                    // Same second, a counter of its own: every copy is a different call.
                    buffer.writeString(id)
                    buffer.writeString("\(copy)")
                } else {
                    buffer.writeString(text)
                }
            }
            buffer.writeString("\r\n")
            copy += 1
        }
        return (buffer, copy)
    }

    /// Resident memory growth per call while `calls` calls are in progress.
    func memoryPerCall(_ template: String) throws -> (Double, Double) {
        // The first events of the answered call, up to (not including) its hangup: a call in progress.
        var decoder = AMIFrameDecoder()
        var source = ByteBuffer(string: template)
        var opening: [AMIMessage] = []
        while let frame = try? decoder.decodeLast(buffer: &source, seenEOF: true) {
            guard case .message(let message) = frame, message.kind == .event else { continue }
            if message.eventName == "HangupRequest" { break }
            opening.append(message)
        }
        // Each call's own messages are made first, so that only the tracker's state grows while it is fed.
        var messages: [AMIMessage] = []
        messages.reserveCapacity(opening.count * self.calls)
        for n in 0..<self.calls {
            for message in opening {
                let pairs = message.pairs.map { pair -> (String, String) in
                    let renamed = pair.key.hasSuffix("Uniqueid") || pair.key.hasSuffix("Linkedid")
                    return (pair.key, renamed ? pair.value + "\(n)" : pair.value)
                }
                messages.append(AMIMessage(pairs))
            }
        }
        var tracker = CallTracker()
        let before = Self.residentBytes()
        for (i, message) in messages.enumerated() {
            _ = tracker.receive(message, at: 1_781_704_172 + Double(i) / 1000)
        }
        let after = Self.residentBytes()
        guard tracker.callsInProgress == self.calls else {
            throw Failure(
                message: "expected \(self.calls) calls in progress, the tracker holds \(tracker.callsInProgress)")
        }
        withExtendedLifetime(tracker) {}
        withExtendedLifetime(messages) {}
        return (Double(after - before) / Double(self.calls), Double(Self.peakResidentBytes()) / 1_048_576)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// VmRSS from /proc/self/status, in bytes.
    static func residentBytes() -> Int { Self.status("VmRSS:") }

    /// VmHWM (the peak resident size), in bytes.
    static func peakResidentBytes() -> Int { Self.status("VmHWM:") }

    static func status(_ key: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let digits = line.dropFirst(key.count).filter(\.isNumber)
            return (Int(digits) ?? 0) * 1024
        }
        return 0
    }
}
