import JSON
import Logging

/// Lets requests that wait for the limiter leave together. A request that finds the limiter free goes at once,
/// alone; while the limiter holds them back, requests gather, and each slot the limiter gives carries up to 50
/// of them as one `batch` (b24-docs: batch, ≤50 commands, per-command results and errors).
actor RequestCombiner {
    private struct Waiting {
        var method: String
        var params: JSONValue
        var continuation: CheckedContinuation<JSONValue, any Error>
    }

    static let maximumCommands = 50
    /// Batch commands travel as query strings inside the request: large parameters (a record's base64) go alone.
    static let maximumCommandLength = 8 * 1024

    private let limiter: LeakyBucket
    private let logger: Logger
    private var waiting: [Waiting] = []
    private var draining = false

    init(limiter: LeakyBucket, logger: Logger) {
        self.limiter = limiter
        self.logger = logger
    }

    static func combinable(_ method: String, _ params: JSONValue) -> Bool {
        method.lowercased() != "batch" && params["FILE_CONTENT"] == nil
    }

    /// Takes a slot from the limiter if one is free and nothing waits for one (the caller then sends at once).
    func takeIdleSlot() -> Bool {
        self.waiting.isEmpty && !self.draining && self.limiter.tryAcquire()
    }

    func submit(_ method: String, _ params: JSONValue, client: Bitrix24Client) async throws(Bitrix24Error) -> JSONValue
    {
        // Nothing waiting and room in the bucket: the request goes now, from here, without the queue's two hops.
        if self.takeIdleSlot() {
            return try await client.send(method, params)
        }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                self.waiting.append(Waiting(method: method, params: params, continuation: continuation))
                if !self.draining {
                    self.draining = true
                    Task { await self.drain(client) }
                }
            }
        } catch {
            throw (error as? Bitrix24Error) ?? Bitrix24Error(code: "network", message: "\(error)", status: 0)
        }
    }

    private func drain(_ client: Bitrix24Client) async {
        while !self.waiting.isEmpty {
            await self.limiter.acquire()
            var group: [Waiting] = []
            var encoded: [String] = []
            while let next = self.waiting.first, group.count < Self.maximumCommands {
                let query = PHPQuery.encode(next.params)
                if query.utf8.count > Self.maximumCommandLength && !group.isEmpty { break }
                group.append(self.waiting.removeFirst())
                encoded.append(query)
                if query.utf8.count > Self.maximumCommandLength { break }
            }
            let ready = group
            let queries = encoded
            Task { await Self.deliver(ready, queries, client: client, logger: self.logger) }
        }
        self.draining = false
    }

    private static func deliver(_ group: [Waiting], _ queries: [String], client: Bitrix24Client, logger: Logger) async {
        if group.count == 1 {
            do {
                group[0].continuation.resume(returning: try await client.send(group[0].method, group[0].params))
            } catch {
                group[0].continuation.resume(throwing: error)
            }
            return
        }
        var cmd = JSONObject()
        for (index, waiting) in group.enumerated() {
            cmd["c\(index)"] = .string(queries[index].isEmpty ? waiting.method : "\(waiting.method)?\(queries[index])")
        }
        let answer: JSONValue
        do {
            answer = try await client.send("batch", ["halt": 0, "cmd": .object(cmd)])
        } catch {
            for waiting in group { waiting.continuation.resume(throwing: error) }
            return
        }
        logger.debug("Bitrix24 requests combined", metadata: ["crm.commands": "\(group.count)"])
        let result = answer["result"] ?? .null
        for (index, waiting) in group.enumerated() {
            let key = "c\(index)"
            if let failure = result["result_error"]?[key] {
                waiting.continuation.resume(
                    throwing: Bitrix24Error.from(body: failure, status: 200)
                        ?? Bitrix24Error(code: "ERROR_CORE", message: "\(failure)", status: 200))
                continue
            }
            var single = JSONObject()
            single["result"] = result["result"]?[key] ?? .null
            if let total = result["result_total"]?[key] { single["total"] = total }
            if let next = result["result_next"]?[key] { single["next"] = next }
            waiting.continuation.resume(returning: .object(single))
        }
    }
}
