import AMI
import AMIClient
import Calls
import Foundation
import Logging
import NIOCore
import Sandboxes
import TestSupport
import Testing

/// The live path over real TCP: a local AMI peer plays real captures, the client and the tracker follow them.
@Suite(.timeLimit(.minutes(1))) struct AMICallFeedTests {
    func withFeed(_ body: @Sendable (AMIPeer, Recorder<CallEvent>, Recorder<AMIClientEvent>) async throws -> Void)
        async throws
    {
        let logger = Logger(label: "test")
        let peer = try await AMIPeer.bind(logger: logger)
        let client = AMIClient(
            configuration: AMIClientConfiguration(
                host: "127.0.0.1", port: peer.port,
                login: .init(username: "callhook", secret: "callhook", backoff: AMIBackoff(initial: .milliseconds(50))),
                actionTimeout: .seconds(5)),
            logger: logger)
        let feed = AMICallFeed(client: client, configuration: CallTrackerConfiguration(timeZone: "UTC"), logger: logger)
        let calls = Recorder<CallEvent>()
        let links = Recorder<AMIClientEvent>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await peer.run() }
            group.addTask { await feed.run() }
            group.addTask { for await event in feed.events { calls.append(event) } }
            defer {
                group.cancelAll()
                peer.stop()
            }
            // Wait for the first login before playing anything.
            while peer.loggedInConnections == 0 { try await Task.sleep(for: .milliseconds(10)) }
            try await body(peer, calls, links)
        }
    }

    static func capture(_ name: String) throws -> ByteBuffer { ByteBuffer(bytes: try Fixtures.data("ami/\(name)")) }

    @Test func capturesPlayedOverTCPGiveTheSameCallsAsReplay() async throws {
        let names = [
            "pyfreepbx_answered.ami", "pyfreepbx_missed.ami", "pyfreepbx_queue.ami", "pyfreepbx_abandoned.ami",
        ]
        let expected = try names.flatMap {
            CaptureReplay.calls(in: try Self.capture($0), configuration: CallTrackerConfiguration(timeZone: "UTC"))
        }
        try await withFeed { peer, calls, _ in
            for name in names { await peer.play(capture: try Self.capture(name)) }
            let events = await calls.wait { $0.ended.count == expected.count }
            let live = events.ended
            #expect(live.map(\.id) == expected.map(\.id))
            #expect(live.map(\.statusCode) == expected.map(\.statusCode))
            #expect(live.map { numbers($0.rang) } == expected.map { numbers($0.rang) })
            #expect(live.map { numbers($0.talked) } == expected.map { numbers($0.talked) })
            #expect(live.map(\.wasAnswered) == expected.map(\.wasAnswered))
        }
    }

    /// The link breaks in the middle of a call and comes back while the call goes on: the call ends once.
    @Test func aCallGoingOnAcrossAReconnectIsNeitherLostNorDuplicated() async throws {
        let events = AMIPeer.events(in: try Self.capture("pyfreepbx_answered.ami"))
        let split = events.firstIndex { $0.eventName == "HangupRequest" }!
        try await withFeed { peer, calls, _ in
            await peer.send(Array(events[..<split]))
            await calls.wait { $0.contains { if case .answered = $0 { return true } else { return false } } }
            peer.dropConnections()
            // The client logs in again and reads the channels in progress.
            while peer.receivedActions.filter({ $0["Action"] == "CoreShowChannels" }).count < 2 {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(100))
            await peer.send(Array(events[split...]))
            let recorded = await calls.wait { $0.ended.count == 1 }
            try await Task.sleep(for: .milliseconds(200))
            #expect(calls.all.ended.count == 1)
            #expect(recorded.filter { if case .started = $0 { return true } else { return false } }.count == 1)
            #expect(recorded.ended.first?.endInferred == false)
            #expect(numbers(recorded.ended.first?.talked ?? []) == ["7001", "7002"])
        }
    }

    /// The call ends while the link is down: after the reconnect the channel list shows it gone, and it ends
    /// then, once.
    @Test func aCallThatEndedDuringAnOutageEndsOnceAfterTheReconnect() async throws {
        let events = AMIPeer.events(in: try Self.capture("pyfreepbx_answered.ami"))
        let split = events.firstIndex { $0.eventName == "HangupRequest" }!
        try await withFeed { peer, calls, _ in
            await peer.send(Array(events[..<split]))
            await calls.wait { $0.contains { if case .answered = $0 { return true } else { return false } } }
            peer.holdGreetings(true)
            peer.dropConnections()
            try await Task.sleep(for: .milliseconds(100))
            // The PBX goes on without us: the hangups happen while the client cannot log in.
            await peer.send(Array(events[split...]))
            peer.holdGreetings(false)
            let recorded = await calls.wait { $0.ended.count == 1 }
            try await Task.sleep(for: .milliseconds(200))
            #expect(calls.all.ended.count == 1)
            #expect(recorded.ended.first?.endInferred == true)
            #expect(recorded.ended.first?.wasAnswered == true)
        }
    }
}

extension Array where Element == CallEvent {
    var ended: [Call] { self.compactMap { if case .ended(let c) = $0 { return c } else { return nil } } }
}

func numbers(_ parties: [Party]) -> [String] { parties.map(\.number) }
