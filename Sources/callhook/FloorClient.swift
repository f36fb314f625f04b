import AMI
import ArgumentParser
import Config
import Foundation
import HTTPClient
import JSON
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The least any connector can do between a ring and its registration, the floor `bench pipeline` prints: one
/// thread that reads the AMI socket with blocking reads (Callhook's own AMI decoder reads the frames), sends the
/// client search when a call's first channel appears (as Callhook searches when a call arrives) and, at the call's
/// first `DialBegin`, the registration, with blocking libcurl transfers (Callhook's own transfer code, run on this
/// thread). No call tracker, store, hooks, outbox or thread hand-over:
/// what it measures is what the machine, the loopback and the local portal cost, the floor under Callhook's
/// figure on the same bench.
struct FloorClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor-client",
        abstract: "A bare ring-to-register client: the floor `bench pipeline` runs in the daemon's place.",
        shouldDisplay: false)

    @Option(help: "The configuration whose ami and bitrix24.webhook to use.") var config: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func run() throws {
        let configuration = try CallhookConfiguration.load(path: self.config)
        guard case .webhook(let webhook)? = configuration.bitrix24.access else {
            throw Failure(description: "the floor client needs bitrix24.webhook")
        }
        let socket = try Self.connect(host: configuration.ami.host, port: configuration.ami.port)
        defer { close(socket) }
        var login = ByteBuffer()
        AMIMessage([
            ("Action", "Login"), ("ActionID", "1"), ("Username", configuration.ami.username),
            ("Secret", configuration.ami.secret), ("Events", "on"),
        ]).write(into: &login)
        guard login.withUnsafeReadableBytes({ write(socket, $0.baseAddress, $0.count) }) == login.readableBytes else {
            throw Failure(description: "cannot write to the AMI socket")
        }
        let http = CurlHTTPClient(threads: 1)
        var decoder = AMIFrameDecoder()
        var pending = ByteBuffer()
        var registered = Set<String>()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
            guard count > 0 else { return }  // the test PBX closed: the bench is over
            pending.writeBytes(chunk[0..<count])
            while let frame = try decoder.decode(buffer: &pending) {
                if case .message(let message) = frame, message.eventName == "Newchannel",
                    let call = message["Linkedid"], message["Uniqueid"] == call, let phone = message["CallerIDNum"]
                {
                    // The call arrived: its search goes now, while the PBX runs its dialplan.
                    _ = try? Self.call(
                        http, webhook, "telephony.externalcall.searchCrmEntities", ["PHONE_NUMBER": .string(phone)])
                    continue
                }
                guard case .message(let message) = frame, message.eventName == "DialBegin",
                    let call = message["Linkedid"], !registered.contains(call), let phone = message["CallerIDNum"]
                else { continue }
                registered.insert(call)
                _ = try? Self.call(
                    http, webhook, "telephony.externalcall.register",
                    [
                        "USER_ID": 1, "PHONE_NUMBER": .string(phone), "TYPE": 2, "SHOW": 1, "CRM_CREATE": 0,
                        "EXTERNAL_CALL_ID": .string(call),
                    ])
            }
            pending.discardReadBytes()
        }
    }

    static func call(_ http: CurlHTTPClient, _ webhook: String, _ method: String, _ params: JSONValue) throws
        -> WebResponse
    {
        try http.sendBlocking(
            WebRequest(
                method: "POST", url: webhook + method + ".json",
                headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                body: params.serialized(options: []), timeout: .seconds(10)))
    }

    static func connect(host: String, port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot open a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            throw Failure(description: "the floor client takes an IPv4 address for ami.host")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "cannot connect to the test PBX at \(host):\(port)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }
}
