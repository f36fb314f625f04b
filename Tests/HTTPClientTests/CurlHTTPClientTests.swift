import CThreads
import Foundation
import HTTPClient
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A local HTTP server for the client to talk to, on a free port of 127.0.0.1.
func withServer(_ router: Router<BasicRequestContext>, _ body: @Sendable (Int) async throws -> Void) async throws {
    let port = Mutex<Int?>(nil)
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        try await body(port.withLock { $0! })
        group.cancelAll()
    }
}

@Suite struct CurlHTTPClientTests {
    static func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/echo") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers = HTTPFields()
            headers[.contentType] = request.headers[.contentType] ?? "none"
            headers[HTTPField.Name("X-Method")!] = request.method.rawValue
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
        router.get("/status/{code}") { _, context -> Response in
            let code = Int(context.parameters.get("code") ?? "") ?? 500
            return Response(
                status: .init(code: code), body: .init(byteBuffer: ByteBuffer(string: "{\"code\":\(code)}")))
        }
        router.post("/stamp") { request, _ -> Response in
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Handled-Ns")!] = String(monotonicNanoseconds())
            let sent = request.headers[HTTPField.Name(CurlHTTPClient.sentStampField)!] ?? "none"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: sent)))
        }
        router.get("/slow") { _, _ -> String in
            try await Task.sleep(for: .seconds(2))
            return "late"
        }
        return router
    }

    @Test func postsABodyAndReadsStatusHeadersAndBody() async throws {
        let client = CurlHTTPClient(threads: 2)
        try await withServer(Self.router()) { port in
            let body = Array(#"{"PHONE_NUMBER":"+79161234567","name":"Иван"}"#.utf8)
            let response = try await client.send(
                WebRequest(
                    method: "POST", url: "http://127.0.0.1:\(port)/echo",
                    headers: [("Content-Type", "application/json")], body: body))
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(response.header("content-type") == "application/json")
            #expect(response.header("X-Method") == "POST")
        }
    }

    /// The bench's stamp: the moment libcurl sends the request, after the call began and before the server
    /// handled it; not there unless asked for.
    @Test func aStampedRequestSaysWhenItLeft() async throws {
        let stamped = CurlHTTPClient(threads: 1, stampsSending: true)
        let plain = CurlHTTPClient(threads: 1, stampsSending: false)
        try await withServer(Self.router()) { port in
            let request = WebRequest(method: "POST", url: "http://127.0.0.1:\(port)/stamp", body: Array("x=1".utf8))
            for _ in 0..<3 {  // a new connection, then a reused one
                let before = monotonicNanoseconds()
                let response = try await stamped.send(request)
                let text = String(decoding: response.body, as: UTF8.self)
                let sent = try #require(UInt64(text), "a number of 20 digits: \(text)")
                #expect(text.count == 20)
                #expect(sent > before, "stamped as it left, not before the call")
                let handled = try #require(response.header("X-Handled-Ns").flatMap { UInt64($0) })
                #expect(sent <= handled, "stamped before the server handled it")
            }
            let response = try await plain.send(request)
            #expect(String(decoding: response.body, as: UTF8.self) == "none")
        }
    }

    @Test func errorStatusesAreResponsesNotErrors() async throws {
        let client = CurlHTTPClient()
        try await withServer(Self.router()) { port in
            for code in [401, 429, 503] {
                let response = try await client.send(WebRequest(url: "http://127.0.0.1:\(port)/status/\(code)"))
                #expect(response.status == code)
                #expect(String(decoding: response.body, as: UTF8.self) == "{\"code\":\(code)}")
            }
        }
    }

    @Test func manyConcurrentRequests() async throws {
        let client = CurlHTTPClient(threads: 4)
        try await withServer(Self.router()) { port in
            try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for i in 0..<100 {
                    group.addTask {
                        try await client.send(
                            WebRequest(method: "POST", url: "http://127.0.0.1:\(port)/echo", body: Array("\(i)".utf8))
                        ).body
                    }
                }
                var seen = Set<String>()
                for try await body in group { seen.insert(String(decoding: body, as: UTF8.self)) }
                #expect(seen == Set((0..<100).map(String.init)))
            }
        }
    }

    /// A transfer thread kept off the caller's CPU runs its work elsewhere, every time, until told again.
    @Test func aTransferThreadKeptOffACPURunsElsewhere() async throws {
        let thread = TransferThread()
        // The thread's first job tells it who it is.
        await Task(executorPreference: thread) {}.value
        guard let off = thread.keepOffCurrentCPU() else {
            // One CPU for this process: nothing to keep off.
            #expect(ProcessInfo.processInfo.activeProcessorCount == 1 || currentCPU() < 0)
            return
        }
        for _ in 0..<50 {
            let cpu = await Task(executorPreference: thread) { currentCPU() }.value
            #expect(cpu >= 0 && cpu != off, "ran on CPU \(cpu), kept off \(off)")
            await Task.yield()
        }
    }

    /// A chain of work on a thread of its own (`TransferThread`) makes its transfers there, in place: one does not
    /// wait for the client's pool, here a single thread held by a two-second request.
    @Test func aTransferOnItsOwnThreadDoesNotWaitForThePool() async throws {
        let client = CurlHTTPClient(threads: 1)
        try await withServer(Self.router()) { port in
            let slowAnswered = Mutex(false)
            let slow = Task {
                _ = try? await client.send(WebRequest(url: "http://127.0.0.1:\(port)/slow"))
                slowAnswered.withLock { $0 = true }
            }
            try await Task.sleep(for: .milliseconds(100))
            let thread = TransferThread()
            let (status, inPlace) = try await Task(executorPreference: thread) {
                (
                    try await client.send(WebRequest(url: "http://127.0.0.1:\(port)/status/204")).status,
                    TransferThread.isCurrent
                )
            }.value
            #expect(status == 204)
            #expect(inPlace, "the task ran on the transfer thread")
            #expect(!slowAnswered.withLock { $0 }, "answered while the pool's only thread was still busy")
            #expect(!TransferThread.isCurrent)
            await slow.value
            #expect(slowAnswered.withLock { $0 })
        }
    }

    @Test func aTimeoutIsATransportError() async throws {
        let client = CurlHTTPClient()
        try await withServer(Self.router()) { port in
            await #expect {
                try await client.send(WebRequest(url: "http://127.0.0.1:\(port)/slow", timeout: .milliseconds(300)))
            } throws: { ($0 as? HTTPClientError)?.kind == .timedOut }
        }
    }

    @Test func aRefusedConnectionNamesTheHostOnly() async throws {
        let client = CurlHTTPClient()
        do {
            _ = try await client.send(WebRequest(url: "http://127.0.0.1:1/rest/1/s3cretcode/user.get.json"))
            Issue.record("should fail")
        } catch let error as HTTPClientError {
            #expect(error.kind == .couldNotConnect)
            #expect(error.host == "127.0.0.1:1")
            #expect(!error.description.contains("s3cretcode"))
        }
    }
}

/// The machine's monotonic clock, as the client's stamp reads it.
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The CPU the calling thread runs on.
func currentCPU() -> Int32 { callhook_current_cpu() }
