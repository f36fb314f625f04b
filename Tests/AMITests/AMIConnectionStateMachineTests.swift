import AMI
import Testing

@Suite struct AMIConnectionStateMachineTests {
    func machine(_ auth: AMIConnectionStateMachine.Authentication = .md5) -> AMIConnectionStateMachine {
        AMIConnectionStateMachine(
            configuration: .init(username: "callhook", secret: "s3cret", authentication: auth, events: "call,agent"))
    }

    func response(_ id: String, _ status: String = "Success", _ extra: [(String, String)] = []) -> AMIMessage {
        AMIMessage([("Response", status), ("ActionID", id)] + extra)
    }

    @Test func md5LoginSendsChallengeThenTheKey() throws {
        var sm = self.machine()
        #expect(sm.start() == .connect)
        #expect(sm.connected() == .none)
        #expect(
            sm.bannerReceived("5.0.5")
                == .send(try AMIAction("Challenge", actionID: "callhook-1", [("AuthType", "MD5")])))
        let login = sm.messageReceived(self.response("callhook-1", "Success", [("Challenge", "840415273")]))
        // md5("840415273" + "s3cret"): the secret never goes over the wire.
        let key = AMIConnectionStateMachine.md5Hex("840415273s3cret")
        #expect(key.count == 32)
        #expect(
            login
                == .send(
                    try AMIAction(
                        "Login", actionID: "callhook-2",
                        [
                            ("Username", "callhook"), ("AuthType", "MD5"), ("Key", key), ("Events", "call,agent"),
                        ])))
        #expect(sm.messageReceived(self.response("callhook-2")) == .loggedIn(version: "5.0.5"))
        #expect(sm.isReady)
    }

    @Test func md5OfAKnownValue() {
        #expect(AMIConnectionStateMachine.md5Hex("abc") == "900150983cd24fb0d6963f7d28e17f72")
    }

    @Test func plainLoginSendsTheSecret() throws {
        var sm = self.machine(.plain)
        _ = sm.start()
        _ = sm.connected()
        #expect(
            sm.bannerReceived("2.10.4")
                == .send(
                    try AMIAction(
                        "Login", actionID: "callhook-1",
                        [
                            ("Username", "callhook"), ("Secret", "s3cret"), ("Events", "call,agent"),
                        ])))
    }

    @Test func rejectedLoginClosesAndRetriesAtTheLongDelay() {
        var sm = self.machine(.plain)
        _ = sm.start()
        _ = sm.connected()
        _ = sm.bannerReceived("5.0.5")
        let close = sm.messageReceived(self.response("callhook-1", "Error", [("Message", "Authentication failed")]))
        #expect(close == .close(AMIError(.loginRejected, "Authentication failed")))
        guard
            case .scheduleReconnect(let delay, let attempt, let error) = sm.connectionClosed(
                AMIError(.loginRejected, "Authentication failed"))
        else {
            Issue.record("expected a reconnect")
            return
        }
        #expect(attempt >= 7, "a wrong secret is not retried in a tight loop")
        #expect(delay >= .seconds(24))
        #expect(error.code == .loginRejected)
    }

    @Test func eventsAreDeliveredOnceReady() {
        var sm = self.machine(.plain)
        _ = sm.start()
        _ = sm.connected()
        _ = sm.bannerReceived("5.0.5")
        _ = sm.messageReceived(self.response("callhook-1"))
        let event = AMIMessage([("Event", "Newchannel"), ("Uniqueid", "1.1")])
        #expect(sm.messageReceived(event) == .deliver(event))
    }

    @Test func keepaliveDetectsADeadLink() throws {
        var sm = self.machine(.plain)
        _ = sm.start()
        _ = sm.connected()
        _ = sm.bannerReceived("5.0.5")
        _ = sm.messageReceived(self.response("callhook-1"))
        #expect(sm.pingTimerFired() == .send(try AMIAction("Ping", actionID: "callhook-2")))
        #expect(sm.messageReceived(self.response("callhook-2", "Success", [("Ping", "Pong")])) == .none)
        #expect(sm.pingTimerFired() == .send(try AMIAction("Ping", actionID: "callhook-3")))
        // No Pong before the next tick: the link is dead.
        #expect(sm.pingTimerFired() == .close(AMIError(.keepaliveTimeout, "no answer to Ping")))
        guard case .scheduleReconnect(_, let attempt, _) = sm.connectionClosed(AMIError(.keepaliveTimeout)) else {
            Issue.record("expected a reconnect")
            return
        }
        #expect(attempt == 1, "a session that was up starts the backoff over")
    }

    @Test func backoffGrowsAndIsCapped() {
        var sm = self.machine(.plain)
        _ = sm.start()
        var delays: [Duration] = []
        for _ in 0..<9 {
            guard case .scheduleReconnect(let delay, _, _) = sm.connectionClosed(AMIError(.connectionClosed)) else {
                Issue.record("expected a reconnect")
                return
            }
            delays.append(delay)
            #expect(sm.reconnectTimerFired() == .connect)
        }
        #expect(delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30].map { Duration.milliseconds(Int64($0 * 1000)) })
    }

    @Test func jitterSpreadsTheDelay() {
        let backoff = AMIBackoff()
        #expect(backoff.delay(attempt: 3, jitter: 0) == .milliseconds(1600))
        #expect(backoff.delay(attempt: 3, jitter: 1) == .milliseconds(2400))
        #expect(backoff.delay(attempt: 100, jitter: 0.5) == .seconds(30))
    }

    @Test func stopEndsReconnecting() {
        var sm = self.machine(.plain)
        _ = sm.start()
        _ = sm.connected()
        #expect(sm.stop() == .close(AMIError(.connectionClosed, "stopped")))
        #expect(sm.connectionClosed(AMIError(.connectionClosed)) == .none)
        #expect(sm.reconnectTimerFired() == .none)
    }

    @Test func actionValuesCannotForgeLines() {
        #expect(throws: AMIError.self) {
            try AMIAction("Originate", actionID: "1", [("Exten", "100\r\nAction: Logoff")])
        }
        #expect(throws: AMIError.self) { try AMIAction("Originate", actionID: "1", [("Bad: Key", "v")]) }
        let action = try? AMIAction("Login", actionID: "1", [("Username", "u"), ("Secret", "hunter2")])
        #expect(action?.redacted.contains("hunter2") == false)
    }
}
