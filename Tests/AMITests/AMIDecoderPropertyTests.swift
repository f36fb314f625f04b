import AMI
import NIOCore
import PropertyBased
import Testing

/// Arbitrary bytes never crash the decoder, and never cost the blocks that follow them.
@Suite struct AMIDecoderPropertyTests {
    static let valid: [UInt8] = Array(
        "Event: Newchannel\r\nChannel: PJSIP/101-00000001\r\nUniqueid: 1700000000.1\r\n\r\nEvent: Hangup\r\nUniqueid: 1700000000.1\r\nCause: 16\r\n\r\n"
            .utf8)

    @Test func arbitraryBytesNeverCrash() async {
        await propertyCheck(count: 300, input: Gen<UInt8>.uint8().array(of: 0...2000), Gen.int(in: 1...64)) {
            bytes, piece in
            _ = decodeInPieces(bytes, sizes: [piece])
            _ = decodeAll(bytes, maximumFrameSize: 256)
        }
    }

    @Test func garbageBeforeValidBlocksLosesNothingAfterIt() async {
        await propertyCheck(count: 300, input: Gen<UInt8>.uint8().array(of: 0...500), Gen.int(in: 1...97)) {
            garbage, piece in
            // A blank line ends whatever the garbage left open; what comes after must all be read.
            let stream = garbage + Array("\r\n\r\n".utf8) + Self.valid
            let events = messages(decodeInPieces(stream, sizes: [piece])).filter { $0["Uniqueid"] == "1700000000.1" }
            #expect(events.map { $0.eventName ?? "" }.suffix(2) == ["Newchannel", "Hangup"])
        }
    }

    @Test func piecesNeverChangeWhatIsDecoded() async {
        await propertyCheck(count: 200, input: Gen.int(in: 1...200).array(of: 1...8)) { sizes in
            #expect(
                summary(decodeInPieces(Self.valid + Self.valid, sizes: sizes))
                    == summary(decodeAll(Self.valid + Self.valid)))
        }
    }
}
