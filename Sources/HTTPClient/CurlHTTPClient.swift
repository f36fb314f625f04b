import CCurl
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP request. The URL may carry a secret (a Bitrix24 webhook code): it is never logged or put in errors.
public struct WebRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var timeout: Duration

    public init(
        method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Duration = .seconds(30)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

public struct WebResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return self.headers.first { $0.0.lowercased() == lower }?.1
    }
}

/// A transport failure: no HTTP answer was received.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case couldNotResolve = "could not resolve the host"
        case couldNotConnect = "could not connect"
        case timedOut = "timed out"
        case tls = "TLS error"
        case sendOrReceive = "connection broken"
        case other = "transfer failed"
    }

    public var kind: Kind
    /// libcurl's code, for the log.
    public var curlCode: Int
    /// The host the request went to (never the path or query, where secrets live).
    public var host: String

    public var description: String { "\(self.kind.rawValue) (\(self.host), curl \(self.curlCode))" }
}

/// HTTP through libcurl. libcurl's transfers block, so they run on a thread pool of this client's own, never
/// on Swift's cooperative threads; each thread keeps its easy handle, so connections are kept alive.
public final class CurlHTTPClient: Sendable {
    private let pool: NIOThreadPool
    /// Idle easy handles, as their addresses (a handle is used by one pool thread at a time).
    private let handles = Mutex<[UInt]>([])
    /// Whether each request carries the moment it left (`sentStampField`).
    private let stampsSending: Bool

    /// The header that carries, with `sentStampEnvironment` set, the moment libcurl sends the request on its
    /// connection: nanoseconds of the machine's monotonic clock (`CLOCK_MONOTONIC`), 20 digits. `callhook bench
    /// pipeline` times the ring → `register` path to it, as the request leaves Callhook.
    public static let sentStampField = "X-Callhook-Sent-Ns"
    /// The environment variable (`1`) that turns `sentStampField` on; off in service.
    public static let sentStampEnvironment = "CALLHOOK_STAMP_SENT"

    /// Whether `sentStampEnvironment` is set to `1`.
    public static var stampsSendingFromEnvironment: Bool {
        getenv(Self.sentStampEnvironment).map { String(cString: $0) == "1" } ?? false
    }

    /// - Parameters:
    ///   - threads: transfers that can run at once.
    ///   - stampsSending: whether each request carries the moment it left (`sentStampField`).
    public init(threads: Int = 4, stampsSending: Bool = CurlHTTPClient.stampsSendingFromEnvironment) {
        Self.initializeOnce
        self.pool = NIOThreadPool(numberOfThreads: threads)
        self.pool.start()
        self.stampsSending = stampsSending
    }

    deinit {
        try? self.pool.syncShutdownGracefully()
        for handle in self.handles.withLock({ $0 }) { curl_easy_cleanup(UnsafeMutableRawPointer(bitPattern: handle)) }
    }

    private static let initializeOnce: Void = {
        curl_global_init(3)  // CURL_GLOBAL_DEFAULT: SSL and Win32 sockets
    }()

    public func send(_ request: WebRequest) async throws -> WebResponse {
        // On a thread of its own (`TransferThread`), the transfer blocks that thread: no hand-over and back.
        if TransferThread.isCurrent { return try self.perform(request) }
        return try await self.pool.runIfActive { [self] in
            try self.perform(request)
        }
    }

    /// The transfer on the calling thread, which it blocks until the answer: for a program that has a thread to
    /// spare (the bench's floor client), never for a task on Swift's cooperative threads.
    public func sendBlocking(_ request: WebRequest) throws -> WebResponse {
        try self.perform(request)
    }

    /// The blocking transfer, on a pool thread.
    private func perform(_ request: WebRequest) throws -> WebResponse {
        let reused = self.handles.withLock { $0.popLast() }.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
        guard let curl = reused ?? curl_easy_init() else {
            throw HTTPClientError(kind: .other, curlCode: -1, host: Self.host(of: request.url))
        }
        defer {
            curl_easy_reset(curl)
            let address = UInt(bitPattern: curl)
            self.handles.withLock { $0.append(address) }
        }
        let sink = ResponseSink()
        let context = Unmanaged.passRetained(sink)
        defer { context.release() }

        var headerList: UnsafeMutablePointer<curl_slist>?
        if self.stampsSending {
            // The first line of the list: its digits are written in the list's own copy of it, once the
            // connection is ready and just before libcurl writes the request's head from the list
            // (CURLOPT_PREREQFUNCTION).
            let prefix = "\(Self.sentStampField): "
            headerList = curl_slist_append(nil, prefix + String(repeating: "0", count: 20))
            if let line = headerList?.pointee.data {
                _ = callhook_curl_setopt_pointer(
                    curl, CURLOPT_PREREQDATA, UnsafeMutableRawPointer(line + prefix.utf8.count))
                _ = callhook_curl_setopt_prereq_function(curl) { digits, _, _, _, _ in
                    guard let digits = digits?.assumingMemoryBound(to: UInt8.self) else { return 0 }
                    var ts = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &ts)
                    var value = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
                    for index in (0..<20).reversed() {
                        digits[index] = UInt8(ascii: "0") + UInt8(value % 10)
                        value /= 10
                    }
                    return 0  // CURL_PREREQFUNC_OK
                }
            }
        }
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        headerList = curl_slist_append(headerList, "Expect:")  // no 100-continue round trip
        defer { curl_slist_free_all(headerList) }

        _ = callhook_curl_setopt_string(curl, CURLOPT_URL, request.url)
        _ = callhook_curl_setopt_string(curl, CURLOPT_CUSTOMREQUEST, request.method)
        _ = callhook_curl_setopt_pointer(curl, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList))
        _ = callhook_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = callhook_curl_setopt_long(curl, CURLOPT_FOLLOWLOCATION, 0)
        let (seconds, attoseconds) = request.timeout.components
        let milliseconds = Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
        _ = callhook_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, milliseconds)
        _ = callhook_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, min(milliseconds, 10_000))
        _ = callhook_curl_setopt_write_function(curl) { data, size, count, context in
            guard let data, let context else { return 0 }
            let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
            sink.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        }
        _ = callhook_curl_setopt_pointer(curl, CURLOPT_WRITEDATA, context.toOpaque())
        _ = callhook_curl_setopt_header_function(curl) { data, size, count, context in
            guard let data, let context else { return 0 }
            let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
            if line.hasPrefix("HTTP/") {
                sink.headers.removeAll()  // a new response (after a 100 Continue, say)
            } else if let colon = line.firstIndex(of: ":") {
                let name = String(line[..<colon])
                let value = line[line.index(after: colon)...].trimmingWhitespace()
                sink.headers.append((name, value))
            }
            return size * count
        }
        _ = callhook_curl_setopt_pointer(curl, CURLOPT_HEADERDATA, context.toOpaque())

        let code: CURLcode = request.body.withUnsafeBufferPointer { body in
            if !request.body.isEmpty || request.method == "POST" || request.method == "PUT" {
                _ = callhook_curl_setopt_offset(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                _ = callhook_curl_setopt_pointer(
                    curl, CURLOPT_POSTFIELDS,
                    UnsafeMutableRawPointer(mutating: body.baseAddress ?? UnsafePointer(bitPattern: 1)))
            }
            return curl_easy_perform(curl)
        }
        guard code == CURLE_OK else {
            let kind: HTTPClientError.Kind
            switch code {
            case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .couldNotResolve
            case CURLE_COULDNT_CONNECT: kind = .couldNotConnect
            case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
            case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION: kind = .tls
            case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE: kind = .sendOrReceive
            default: kind = .other
            }
            throw HTTPClientError(kind: kind, curlCode: Int(code.rawValue), host: Self.host(of: request.url))
        }
        var status = 0
        _ = callhook_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
        return WebResponse(status: status, headers: sink.headers, body: sink.body)
    }

    /// The host part of a URL, for messages.
    public static func host(of url: String) -> String {
        var rest = Substring(url)
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            rest = rest[rest.index(colon, offsetBy: 3)...]
        }
        return String(rest.prefix { $0 != "/" && $0 != "?" })
    }
}

/// Collects one transfer's response; used by one pool thread at a time.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [(String, String)] = []
}

extension Substring {
    func trimmingWhitespace() -> String {
        // "\r\n" is one Character: isWhitespace covers it.
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
