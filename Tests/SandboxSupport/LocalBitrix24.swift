import Bitrix24
import HTTPClient
import JSON
import Logging
import Sandboxes

/// A local Bitrix24 on a free loopback port for the length of `body`.
public func withLocalBitrix24<T: Sendable>(
    _ configuration: Bitrix24SandboxConfiguration = Bitrix24SandboxConfiguration(),
    _ body: @Sendable (LocalBitrix24) async throws -> T
) async throws -> T {
    var logger = Logger(label: "test.bitrix24-sandbox")
    logger.logLevel = .critical  // the server's shutdown chatter when a test ends
    let sandbox = Bitrix24Sandbox(configuration: configuration, logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await sandbox.run()
            return nil
        }
        while sandbox.port == nil { try await Task.sleep(for: .milliseconds(5)) }
        let result = try await body(LocalBitrix24(sandbox: sandbox, port: sandbox.port!))
        group.cancelAll()
        return result
    }
}

public struct LocalBitrix24: Sendable {
    public let sandbox: Bitrix24Sandbox
    public let port: Int

    public var origin: String { "http://127.0.0.1:\(self.port)" }

    /// The inbound webhook address, `http://127.0.0.1:<port>/rest/<user>/<code>/`.
    public var webhookURL: String {
        "\(self.origin)/rest/\(self.sandbox.configuration.webhookUserID)/\(self.sandbox.configuration.webhookCode)/"
    }

    public var oauthApplication: OAuthApplication {
        OAuthApplication(
            restEndpoint: "\(self.origin)/rest/", clientID: self.sandbox.configuration.clientID,
            clientSecret: self.sandbox.configuration.clientSecret, tokenEndpoint: "\(self.origin)/oauth/token/")
    }

    /// A webhook client whose limiter matches the portal's.
    public func webhookClient(limiter: LeakyBucket? = nil, timeout: Duration = .seconds(10)) -> Bitrix24Client {
        Bitrix24Client(
            auth: .webhook(self.webhookURL), http: CurlHTTPClient(threads: 2),
            limiter: limiter
                ?? LeakyBucket(burst: self.sandbox.configuration.burst, rate: self.sandbox.configuration.rate),
            timeout: timeout, logger: Logger(label: "test.bitrix24"))
    }

    public func state() async -> JSONValue { await self.sandbox.state() }

    /// The requests the portal received for `method` (lower-case), in order.
    public func requests(_ method: String) async -> [JSONValue] {
        (await self.state()["requests"]?.arrayValue ?? []).filter { $0["method"]?.stringValue == method }
    }
}
