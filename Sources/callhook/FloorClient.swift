import ArgumentParser
import Config
import Foundation
import HTTPClient
import JSON

#if canImport(Glibc)
    import Glibc
#endif

/// The least any connector can do between a ring and its registration, for `bench pipeline --floor`: one thread
/// that reads the AMI socket with blocking reads and, at a call's first `DialBegin`, sends the client search and
/// then the registration with blocking libcurl transfers (Callhook's own transfer code, run on this thread). No
/// call tracker, store, hooks, outbox or thread hand-over: what it measures is what the machine, the loopback
/// and the local portal cost, the floor under Callhook's figure on the same bench.
struct FloorClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor-client",
        abstract: "A bare ring-to-register client, the floor under `bench pipeline` (run by `--floor`).",
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
        let login =
            "Action: Login\r\nActionID: 1\r\nUsername: \(configuration.ami.username)\r\n"
            + "Secret: \(configuration.ami.secret)\r\nEvents: on\r\n\r\n"
        guard Array(login.utf8).withUnsafeBytes({ write(socket, $0.baseAddress, $0.count) }) == login.utf8.count else {
            throw Failure(description: "cannot write to the AMI socket")
        }
        let http = CurlHTTPClient(threads: 1)
        var pending: [UInt8] = []
        var registered = Set<String>()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
            guard count > 0 else { return }  // the test PBX closed: the bench is over
            pending.append(contentsOf: chunk[0..<count])
            var start = 0
            while let end = Self.frameEnd(pending, from: start) {
                let frame = Self.fields(pending[start..<end])
                start = end + 4
                guard frame["Event"] == "DialBegin", let call = frame["Linkedid"], !registered.contains(call),
                    let phone = frame["CallerIDNum"]
                else { continue }
                registered.insert(call)
                _ = try? Self.call(
                    http, webhook, "telephony.externalcall.searchCrmEntities", ["PHONE_NUMBER": .string(phone)])
                _ = try? Self.call(
                    http, webhook, "telephony.externalcall.register",
                    [
                        "USER_ID": 1, "PHONE_NUMBER": .string(phone), "TYPE": 2, "SHOW": 1, "CRM_CREATE": 0,
                        "EXTERNAL_CALL_ID": .string(call),
                    ])
            }
            pending.removeFirst(start)
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

    /// Where the frame that starts at `from` ends (its blank line), if it is complete.
    static func frameEnd(_ bytes: [UInt8], from: Int) -> Int? {
        var index = from
        while index + 3 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                return index
            }
            index += 1
        }
        return nil
    }

    static func fields(_ frame: ArraySlice<UInt8>) -> [String: String] {
        var fields: [String: String] = [:]
        for line in String(decoding: frame, as: UTF8.self).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            if fields[key] == nil {
                fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return fields
    }
}
