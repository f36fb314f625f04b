import Bitrix24
import HTTPClient
import JSON
import Logging
import SandboxSupport
import Sandboxes
import Synchronization
import Testing

/// Credentials, limits, failures: what the client does when the portal says no.
@Suite struct AccessTests {
    func failure(_ body: () async throws -> Void) async -> Bitrix24Error? {
        do {
            try await body()
            return nil
        } catch {
            return error as? Bitrix24Error
        }
    }

    @Test func aWrongWebhookCodeIsPermanentAndNeverShown() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let url = portal.webhookURL.replacingOccurrences(
                of: portal.sandbox.configuration.webhookCode, with: "wrong-code")
            let client = Bitrix24Client(
                auth: .webhook(url), http: CurlHTTPClient(threads: 1), logger: Logger(label: "t"))
            let error = await self.failure { _ = try await client.call("user.get") }
            #expect(error?.code == "NO_AUTH_FOUND")
            #expect(error?.status == 401)
            #expect(error?.disposition == .permanent)
            #expect(Bitrix24Auth.webhook(url).displayAddress.contains("wrong-code") == false)
            let state = await portal.state().serializedString()
            #expect(!state.contains("wrong-code"))
            #expect(!state.contains(portal.sandbox.configuration.webhookCode))
        }
    }

    /// An expired access token is renewed once, by one request, however many calls find it expired at once; the
    /// new pair is saved in the token store.
    @Test func expiredTokensAreRenewedOnceForEveryoneWaiting() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let tokens = portal.sandbox.install(userID: 1)
            let store = InMemoryTokenStore(
                OAuthTokens(
                    accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: 4_000_000_000))
            let client = Bitrix24Client(
                auth: .oauth(portal.oauthApplication), http: CurlHTTPClient(threads: 4), tokenStore: store,
                logger: Logger(label: "t"))
            #expect(try await client.call("user.current")["ID"] == "1")
            portal.sandbox.setKnobs(["expire_tokens": true])
            try await withThrowingTaskGroup(of: JSONValue.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await client.call("user.get", ["FILTER": ["UF_PHONE_INNER": "101"]]) }
                }
                for try await users in group { #expect(users[0]?["ID"] == "1") }
            }
            #expect(await portal.requests("oauth/token").count == 1)
            let saved = try #require(await store.loadTokens())
            #expect(saved.accessToken != tokens.accessToken)
            #expect(saved.refreshToken != tokens.refreshToken)
            let expired = await portal.requests("user.get").filter { $0["error"] == "expired_token" }
            #expect(!expired.isEmpty, "the portal did say the token had expired")
            let secrets = await portal.state().serializedString()
            #expect(!secrets.contains(saved.accessToken) && !secrets.contains(saved.refreshToken))
            #expect(!secrets.contains(portal.sandbox.configuration.clientSecret))
        }
    }

    @Test func aRevokedRefreshTokenIsPermanent() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let store = InMemoryTokenStore(OAuthTokens(accessToken: "gone", refreshToken: "revoked", expiresAt: 0))
            let client = Bitrix24Client(
                auth: .oauth(portal.oauthApplication), http: CurlHTTPClient(threads: 1), tokenStore: store,
                logger: Logger(label: "t"))
            let error = await self.failure { _ = try await client.call("user.current") }
            #expect(error?.code == "invalid_grant")
            #expect(error?.disposition == .permanent)
        }
    }

    /// Without a limiter of its own, a client that sends faster than the portal drains gets QUERY_LIMIT_EXCEEDED;
    /// with the limiter modelled on the portal's bucket it never does, and still runs at the full rate.
    ///
    /// The headroom under the portal's burst absorbs the difference between when a request leaves and when it
    /// arrives (rate × jitter): 4 requests at 10/s is 0.4 s, enough on a loaded two-core test machine.
    @Test func theLimiterKeepsUnderThePortalsBucket() async throws {
        let configuration = Bitrix24SandboxConfiguration(burst: 14, rate: 10)
        try await withLocalBitrix24(configuration) { (portal: LocalBitrix24) async throws in
            let reckless = portal.webhookClient(limiter: LeakyBucket(burst: 1000, rate: 1000))
            // All at once, so that no slowness of a loaded test machine spreads them under the portal's rate.
            let errors = await withTaskGroup(of: Bitrix24Error?.self) { group in
                for _ in 0..<60 { group.addTask { await self.failure { _ = try await reckless.call("user.current") } } }
                var errors: [Bitrix24Error] = []
                for await error in group { if let error { errors.append(error) } }
                return errors
            }
            #expect(!errors.isEmpty)
            for error in errors {
                #expect(error.code == "QUERY_LIMIT_EXCEEDED")
                #expect(error.status == 503)
                #expect(error.isRetryable)
            }
        }
        try await withLocalBitrix24(configuration) { (portal: LocalBitrix24) async throws in
            let careful = portal.webhookClient(limiter: LeakyBucket(burst: 14, rate: 10, headroom: 4))
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<40 { group.addTask { _ = try await careful.call("user.current") } }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - started
            #expect(await portal.state()["limits"]?["query_limit_exceeded"] == 0)
            // 40 requests, 10 at once and then 10 a second: 3 s at the limit. Far slower would mean the
            // limiter wastes the portal's rate.
            #expect(elapsed > .milliseconds(2800))
            #expect(elapsed < .seconds(6))
        }
    }

    @Test func transientFailuresAreRetryableAndTheOperatingLimitSaysWhen() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            portal.sandbox.setKnobs(["fail_next": ["count": 2, "status": 500, "error": "INTERNAL_SERVER_ERROR"]])
            for _ in 0..<2 {
                let error = await self.failure { _ = try await client.call("user.current") }
                #expect(error?.code == "INTERNAL_SERVER_ERROR")
                #expect(error?.isRetryable == true)
                #expect(error?.isPortalWide == true, "the next answer means the portal is back")
            }
            #expect(try await client.call("user.current")["ID"] == "1")

            portal.sandbox.setKnobs(["operation_time_limit": ["method": "crm.lead.add", "seconds": 120]])
            let blocked = await self.failure { _ = try await client.call("crm.lead.add", ["fields": ["TITLE": "x"]]) }
            #expect(blocked?.code == "OPERATION_TIME_LIMIT")
            #expect(blocked?.status == 429)
            #expect(blocked?.isPortalWide == false, "one method is blocked, not the portal")
            guard case .retry(let after)? = blocked?.disposition else {
                Issue.record("OPERATION_TIME_LIMIT must be retried")
                return
            }
            #expect(after! > .seconds(100) && after! <= .seconds(121), "retry when the block lifts, not before")

            portal.sandbox.setKnobs(["telephony_requires_application": true])
            let wrongAuth = await self.failure {
                _ = try await client.call(
                    "telephony.externalcall.register", ["USER_ID": 1, "PHONE_NUMBER": "+79161234567", "TYPE": 2])
            }
            #expect(wrongAuth?.code == "WRONG_AUTH_TYPE")
            #expect(wrongAuth?.disposition == .permanent)
            #expect(wrongAuth?.isPortalWide == false)
        }
    }

    /// A lost answer (the portal did it, the proxy timed out): a retryable error, and the work is done.
    @Test func aLostAnswerIsRetryableButTheWorkWasDone() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            portal.sandbox.setKnobs(["lose_answers": 1])
            let error = await self.failure { _ = try await client.call("crm.lead.add", ["fields": ["TITLE": "lost"]]) }
            #expect(error?.code == "http_504")
            #expect(error?.isRetryable == true)
            #expect(await portal.state()["leads"]?.arrayValue?.count == 1)
        }
    }

    @Test func anUnreachablePortalIsANetworkErrorWithoutSecrets() async throws {
        let client = Bitrix24Client(
            auth: .webhook("http://127.0.0.1:9/rest/1/very-secret-code/"), http: CurlHTTPClient(threads: 1),
            timeout: .seconds(2), logger: Logger(label: "t"))
        let error = await self.failure { _ = try await client.call("user.current") }
        #expect(error?.code == "network")
        #expect(error?.isRetryable == true)
        #expect(!(error?.description.contains("very-secret-code") ?? true))
    }

    /// `batch`: up to 50 commands in one request, `$result[…]` references to earlier ones, errors per command.
    @Test func batchRunsCommandsWithReferencesAndPerCommandErrors() async throws {
        try await withLocalBitrix24 { (portal: LocalBitrix24) async throws in
            let client = portal.webhookClient()
            let outcome = try await client.batch([
                (
                    key: "lead", method: "crm.lead.add",
                    params: ["fields": ["TITLE": "Из батча", "PHONE": [["VALUE": "+79990002233"]]]]
                ),
                (key: "read", method: "crm.lead.get", params: ["id": "$result[lead]"]),
                (key: "broken", method: "tasks.task.add", params: ["fields": ["RESPONSIBLE_ID": 1]]),
            ])
            let id = try #require(outcome.results["lead"]?.integerValue)
            #expect(outcome.results["read"]?["ID"] == .string(String(id)))
            #expect(outcome.results["read"]?["TITLE"] == "Из батча")
            #expect(outcome.errors["broken"]?.code == "ERROR_CORE")
            #expect(outcome.errors["broken"]?.message == "Не указано название задачи<br>")
            let batches = await portal.requests("batch")
            #expect(batches.count == 1, "one request for three commands")
        }
    }

    /// Requests held back by the limiter leave together as batches: 60 operations with a budget of a handful of
    /// requests, each caller getting its own answer or its own error. (The portal's bucket is larger than the
    /// client's, 16 to 6: on a loaded test machine a request can reach the local portal a second after it left the
    /// limiter, which the production headroom is not sized for; the limiter's own accuracy is the test above.)
    @Test func waitingRequestsLeaveTogetherAsBatches() async throws {
        let configuration = Bitrix24SandboxConfiguration(burst: 16, rate: 5)
        try await withLocalBitrix24(configuration) { (portal: LocalBitrix24) async throws in
            let client = Bitrix24Client(
                auth: .webhook(portal.webhookURL), http: CurlHTTPClient(threads: 2),
                limiter: LeakyBucket(burst: 10, rate: 5, headroom: 4), combine: true, logger: Logger(label: "t"))
            let outcomes = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for i in 0..<60 {
                    group.addTask {
                        if i % 10 == 9 {
                            let error = await self.failure { _ = try await client.call("crm.lead.get", ["id": 1]) }
                            return (i, error?.message)
                        }
                        let id = try await client.call("crm.lead.add", ["fields": ["TITLE": .string("lead \(i)")]])
                        let lead = try await client.call("crm.lead.get", ["id": id])
                        return (i, lead["TITLE"]?.stringValue)
                    }
                }
                var all: [Int: String?] = [:]
                for try await (i, text) in group { all[i] = text }
                return all
            }
            for i in 0..<60 {
                #expect(outcomes[i] == (i % 10 == 9 ? "Not found" : "lead \(i)"))
            }
            let state = await portal.state()
            #expect(state["leads"]?.arrayValue?.count == 54)
            #expect(state["limits"]?["query_limit_exceeded"] == 0)
            let requests = state["limits"]?["requests"]?.integerValue ?? 0
            #expect(requests < 30, "114 operations in \(requests) requests")
        }
    }
}
