import AMI
import Calls
import Foundation
import Logging

/// What the PBX's calls are, live: the AMI client's events fed to the call tracker, reconciled after every
/// reconnect. The pipeline reads `events`.
public final class AMICallFeed: Sendable {
    public let client: AMIClient
    public let configuration: CallTrackerConfiguration
    /// What happened to calls, in order. Unbounded: nothing is dropped for a slow reader.
    public let events: AsyncStream<CallEvent>
    private let sink: AsyncStream<CallEvent>.Continuation
    private let logger: Logger

    public init(client: AMIClient, configuration: CallTrackerConfiguration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        (self.events, self.sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Runs the client and the tracker until cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            var tracker = CallTracker(configuration: self.configuration)
            for await event in self.client.events {
                let now = Date().timeIntervalSince1970
                switch event {
                case .message(let message):
                    let time = message["Timestamp"].flatMap(Double.init) ?? now
                    for callEvent in tracker.receive(message, at: time) { self.sink.yield(callEvent) }
                case .reconciled(let channels):
                    let events = tracker.reconcile(channels: channels, at: now)
                    let ended = events.filter { if case .ended = $0 { return true } else { return false } }.count
                    if ended > 0 {
                        self.logger.info(
                            "calls ended while the AMI link was down", metadata: ["call.count": "\(ended)"])
                    }
                    for callEvent in events { self.sink.yield(callEvent) }
                case .connected:
                    if self.client.configuration.reconcileOnConnect { tracker.linkUp() }
                case .disconnected, .malformed:
                    break
                }
            }
            group.cancelAll()
        }
        self.sink.finish()
    }
}
