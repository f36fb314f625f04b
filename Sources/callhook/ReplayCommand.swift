import ArgumentParser
import Calls
import Foundation
import JSON
import NIOCore

/// `callhook replay`: what Callhook understood of a capture of AMI traffic.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Read a raw AMI capture and print every call that ended, as Callhook understood it.",
        discussion: """
            The capture is what Asterisk sent on the manager socket (banner optional; CRLF or LF; noise between
            blocks is skipped), from a file or from stdin (-). With --format jsonl (the default) stdout carries
            one JSON object per call, in the order the calls ended, and nothing else; warnings and a summary go to
            stderr. --format table is the same for people.

            Times come from the events' Timestamp: lines (timestampevents=yes in manager.conf) or, without them,
            from the seconds in the channels' Uniqueids.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The capture file, or - for stdin.")
    var capture: String

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case jsonl
        case table
    }

    @Option(name: .long, help: "jsonl or table.")
    var format: Format = .jsonl

    @Option(
        name: .long, help: "The PBX's time zone for the times printed (default: calls.timezone, else the system's).")
    var timezone: String?

    func run() throws {
        self.global.bootstrapLogging()
        let configuration = try self.global.loadConfiguration()
        var calls = configuration.calls
        if let timezone {
            guard TimeZone(identifier: timezone) != nil else { throw ValidationError("unknown time zone \(timezone)") }
            calls.timeZone = timezone
        }
        let timeFormat = CallTimeFormat(timeZone: calls.timeZone)
        let handle: FileHandle
        if self.capture == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let file = FileHandle(forReadingAtPath: self.capture) else {
                throw Failure(message: "cannot read \(self.capture)")
            }
            handle = file
        }
        var replay = CaptureReplay(configuration: calls, encoding: configuration.ami.encoding)
        var buffer = ByteBuffer()
        var count = 0
        if self.format == .table { Output.out(TableRow.header) }
        func emit(_ ended: [Call]) {
            for call in ended {
                count += 1
                switch self.format {
                case .jsonl: Output.out(call.json(timeFormat).serializedString(options: []))
                case .table: Output.out(TableRow(call, timeFormat).line)
                }
            }
        }
        while true {
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { break }
            buffer.writeBytes(chunk)
            emit(replay.feed(&buffer))
            buffer.discardReadBytes()
        }
        emit(replay.feed(&buffer, atEOF: true))
        for block in replay.malformed {
            Output.err("callhook replay: skipped a malformed block: \(block)")
        }
        let open = replay.tracker.callsInProgress
        Output.err(
            "callhook replay: \(replay.eventCount) events, \(count) calls ended"
                + (open > 0 ? ", \(open) still in progress at the end of the capture (not printed)" : ""))
    }
}

/// One line of `--format table`.
struct TableRow {
    static let header =
        "ENDED                      CALL ID               TYPE      FROM -> TO                     ANSWERED  STATUS  DURATION  BILLSEC  RANG / TALKED"

    let line: String

    init(_ call: Call, _ format: CallTimeFormat) {
        func pad(_ s: String, _ n: Int) -> String {
            s.count >= n ? s + " " : s.padding(toLength: n, withPad: " ", startingAt: 0)
        }
        let parties =
            "\(call.rang.map(\.number).joined(separator: ",")) / \(call.talked.map(\.number).joined(separator: ","))"
        self.line =
            pad(call.endedAt.map(format.string) ?? "", 27) + pad(call.id, 22) + pad(call.type.code, 10)
            + pad("\(call.from) -> \(call.to)", 31) + pad(call.wasAnswered ? "yes" : "no", 10) + pad(call.statusCode, 8)
            + pad("\(call.duration)s", 10) + pad("\(call.billsec)s", 9) + parties
            + (call.trunk.isEmpty ? "" : "  trunk \(call.trunk)")
            + (call.records.isEmpty ? "" : "  rec \(call.records.count)")
    }
}
