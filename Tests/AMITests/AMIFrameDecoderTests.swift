import AMI
import Foundation
import NIOCore
import TestSupport
import Testing

/// Decodes everything in `bytes` at once.
func decodeAll(_ bytes: [UInt8], encoding: AMITextEncoding = .cp1251, maximumFrameSize: Int = 1 << 20) -> [AMIFrame] {
    var decoder = AMIFrameDecoder(encoding: encoding, maximumFrameSize: maximumFrameSize)
    var buffer = ByteBuffer(bytes: bytes)
    var frames: [AMIFrame] = []
    while let frame = try? decoder.decode(buffer: &buffer) { frames.append(frame) }
    while let frame = try? decoder.decodeLast(buffer: &buffer, seenEOF: true) { frames.append(frame) }
    return frames
}

/// Decodes `bytes` fed in pieces of the given sizes, as TCP delivers them.
func decodeInPieces(_ bytes: [UInt8], sizes: [Int]) -> [AMIFrame] {
    var decoder = AMIFrameDecoder()
    var buffer = ByteBuffer()
    var frames: [AMIFrame] = []
    var offset = 0
    var i = 0
    while offset < bytes.count {
        let size = max(1, sizes.isEmpty ? 1 : sizes[i % sizes.count])
        i += 1
        let end = min(bytes.count, offset + size)
        buffer.writeBytes(bytes[offset..<end])
        offset = end
        while let frame = try? decoder.decode(buffer: &buffer) { frames.append(frame) }
        buffer.discardReadBytes()
    }
    while let frame = try? decoder.decodeLast(buffer: &buffer, seenEOF: true) { frames.append(frame) }
    return frames
}

/// A comparable picture of frames: what a reader of the stream would note down.
func summary(_ frames: [AMIFrame]) -> [String] {
    frames.map { frame in
        switch frame {
        case .banner(let version): return "banner \(version)"
        case .malformed(let block): return "malformed \(block.reason.rawValue)"
        case .message(let message):
            let output = message.commandOutput.map { " output=\($0)" } ?? ""
            return "\(message.kind) " + message.pairs.map { "\($0.key)=\($0.value)" }.joined(separator: "|") + output
        }
    }
}

func messages(_ frames: [AMIFrame]) -> [AMIMessage] {
    frames.compactMap { if case .message(let m) = $0 { return m } else { return nil } }
}

func fixture(_ name: String) throws -> [UInt8] {
    Array(try Fixtures.data("ami/\(name)"))
}

@Suite struct AMIFrameDecoderTests {
    @Test func realFreePBXCaptureDecodesEveryEvent() throws {
        let frames = decodeAll(try fixture("pyfreepbx_answered.ami"))
        let events = messages(frames)
        #expect(events.count == 20)
        #expect(events.allSatisfy { $0.kind == .event })
        #expect(events.first?.eventName == "Newchannel")
        #expect(events.first?["Channel"] == "PJSIP/7001-001600e9")
        #expect(events.first?["AccountCode"] == "", "an empty value is a value")
        #expect(events.last?["Cause-txt"] == "Normal Clearing")
    }

    @Test func bannerIsReadAndOptional() {
        let withBanner = decodeAll(
            Array("Asterisk Call Manager/5.0.5\r\nResponse: Success\r\nActionID: 1\r\n\r\n".utf8))
        #expect(summary(withBanner) == ["banner 5.0.5", "response Response=Success|ActionID=1"])
        let without = decodeAll(Array("Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n".utf8))
        #expect(summary(without) == ["event Event=FullyBooted|Status=Fully Booted"])
    }

    @Test func crlfAndBareLFGiveTheSameMessages() throws {
        let crlf = try fixture("pyfreepbx_queue.ami")
        let lf = Array(String(decoding: crlf, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n").utf8)
        #expect(summary(decodeAll(crlf)) == summary(decodeAll(lf)))
        #expect(messages(decodeAll(lf)).count == 113)
    }

    @Test(arguments: [[1], [7], [64], [1, 3, 1000], [4096]])
    func splitAnywhereGivesTheSameFrames(sizes: [Int]) throws {
        let bytes = try fixture("goami2_call_flow_sip_dial_bridge_hangup.ami")
        #expect(summary(decodeInPieces(bytes, sizes: sizes)) == summary(decodeAll(bytes)))
    }

    @Test func repeatedKeysAndKeyCase() throws {
        let call = messages(decodeAll(try fixture("goami2_call_flow_sip_dial_bridge_hangup.ami")))
        let withVariables = try #require(call.first { $0.values("ChanVariable").count > 1 })
        #expect(withVariables.values("chanvariable") == withVariables.values("ChanVariable"))
        let queues = messages(decodeAll(try fixture("goami2_queue_show_and_queuestatus.ami")))
        let action = try #require(queues.first { $0.kind == .action })
        #expect(action["ActionID"] != nil, "Actionid: is found as ActionID")
        #expect(action["actionid"] == action["ActionID"])
    }

    @Test func followsResponsesKeepTheirRawOutput() throws {
        let frames = messages(decodeAll(try fixture("panoramisk_command_core_show_version.ami")))
        let response = try #require(frames.first { $0.kind == .response })
        #expect(response["Response"] == "Follows")
        #expect(response["ActionID"] == "action/transaction_uid/1/1")
        #expect(response.commandOutput?.count == 1)
        #expect(response.commandOutput?.first?.hasPrefix("Asterisk 11.11.0") == true)
        let table = messages(decodeAll(try fixture("panoramisk_rasterisk_command.ami")))
        let output = try #require(table.first { $0.kind == .response }?.commandOutput)
        #expect(output.contains("0 active channels"))
        #expect(output.count == 4)
    }

    @Test func aFollowsBlockWithoutMarkerEndsWhereTheNextBlockStarts() throws {
        // goami2's capture: `Response: Follows` with no body and no --END COMMAND--, then actions.
        let frames = messages(decodeAll(try fixture("goami2_queue_show_and_queuestatus.ami")))
        let follows = try #require(frames.first { $0["Response"] == "Follows" })
        #expect(follows.commandOutput == [])
        #expect(
            frames.filter { $0.kind == .action }.count == 12, "every Action block of the capture, Action first or not")
    }

    @Test func aFollowsBlockWithEmptyLinesEndsAtTheMarker() {
        let text =
            "Response: Follows\r\nPrivilege: Command\r\nline 1\r\n\r\nline 3: with a colon\r\n--END COMMAND--\r\n\r\nEvent: Next\r\n\r\n"
        #expect(
            summary(decodeAll(Array(text.utf8))) == [
                "response Response=Follows|Privilege=Command output=[\"line 1\", \"\", \"line 3: with a colon\"]",
                "event Event=Next",
            ])
    }

    @Test func cp1251CallerNamesAreDecodedNotDropped() throws {
        let name = try fixture("calleridname_cp1251.bin")
        let block = Array("Event: Newchannel\r\nCallerIDName: ".utf8) + name + Array("\r\nUniqueid: 1.1\r\n\r\n".utf8)
        let event = try #require(messages(decodeAll(block)).first)
        #expect(event["CallerIDName"] == "Виталий Калинин")
        #expect(event["Uniqueid"] == "1.1")
        let latin = try #require(messages(decodeAll(block, encoding: .latin1)).first)
        #expect(latin["CallerIDName"] == "Âèòàëèé Êàëèíèí")
        // Valid UTF-8 is taken as it is, even when it is the double-encoded form.
        let mojibake = try fixture("calleridname_cp1251_mojibake_utf8.bin")
        let twice = Array("Event: X\r\nCallerIDName: ".utf8) + mojibake + Array("\r\n\r\n".utf8)
        #expect(messages(decodeAll(twice)).first?["CallerIDName"] == "Âèòàëèé Êàëèíèí")
    }

    @Test func noiseLinesAreSkippedAndCountedAndTheStreamGoesOn() throws {
        let frames = decodeAll(try fixture("vistep_queue_call_debug.log"))
        let events = messages(frames).filter { $0.kind == .event }
        // 221: one event follows a CLI channel dump without an empty line between; it is recovered, and the
        // dump's lines before its Event: line are dropped as noise.
        #expect(events.count == 221)
        #expect(events.allSatisfy { $0.pairs.first?.key == "Event" })
        #expect(events.contains { $0.skippedLines > 0 }, "'<-- Examining AMI event: -->' lines are skipped")
        // The CLI's channel dumps have Key: Value lines too; they are kept, but never taken for events.
        #expect(messages(frames).filter { $0.kind != .event }.allSatisfy { $0.kind == .other })
        let malformed = frames.compactMap { if case .malformed(let b) = $0 { return b } else { return nil } }
        #expect(malformed.count == 1)
        #expect(malformed.first?.excerpt.contains("Disconnected from Asterisk server") == true)
    }

    @Test func aMalformedBlockIsReportedAndTheNextOneKept() {
        let text = "Event: A\r\n\r\n%%% not a header %%%\r\nmore garbage\r\n\r\nEvent: B\r\nKey: v\r\n\r\n"
        #expect(
            summary(decodeAll(Array(text.utf8))) == [
                "event Event=A", "malformed no Key: Value line", "event Event=B|Key=v",
            ])
    }

    @Test func anOversizedBlockIsDroppedAndTheStreamRecovers() {
        let huge = "Event: Huge\r\n" + String(repeating: "Padding: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", count: 200)
        let text = huge + "\r\nEvent: After\r\n\r\n"
        let frames = decodeInPieces(Array(text.utf8), sizes: [512])
        let picture = summary(frames)
        #expect(
            picture.first == "malformed block larger than the maximum frame size"
                || picture.contains("event Event=After"))
        var decoder = AMIFrameDecoder(maximumFrameSize: 1024)
        var buffer = ByteBuffer(string: String(text.prefix(4000)))
        let first = try? decoder.decode(buffer: &buffer)
        guard case .malformed(let block)? = first else {
            Issue.record("expected the oversized block to be reported, got \(String(describing: first))")
            return
        }
        #expect(block.reason == .tooLarge)
        buffer.writeString(String(text.dropFirst(4000)))
        var rest: [AMIFrame] = []
        while let frame = try? decoder.decode(buffer: &buffer) { rest.append(frame) }
        #expect(summary(rest).last == "event Event=After")
    }

    @Test func everyFixtureDecodesWithoutLosingBlocks() throws {
        for file in try Fixtures.files(in: "ami", withExtension: "ami") {
            let bytes = Array(try Data(contentsOf: file))
            let frames = decodeAll(bytes)
            let blocks = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
                .components(separatedBy: "\n\n").filter { $0.contains(": ") }.count
            #expect(messages(frames).count >= blocks - 1, "\(file.lastPathComponent)")
            #expect(summary(decodeInPieces(bytes, sizes: [13])) == summary(frames), "\(file.lastPathComponent)")
        }
    }

    @Test func messagesWriteBackAsTheirFieldsByteForByte() throws {
        let name = try fixture("calleridname_cp1251.bin")
        let block = Array("Event: Newchannel\nCallerIDName: ".utf8) + name + Array("\nNoise line\n\n".utf8)
        let event = try #require(messages(decodeAll(block)).first)
        var out = ByteBuffer()
        event.write(into: &out)
        #expect(
            Array(out.readableBytesView) == Array("Event: Newchannel\r\nCallerIDName: ".utf8) + name
                + Array("\r\n\r\n".utf8))
    }
}
