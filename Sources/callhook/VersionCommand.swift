import ArgumentParser
import CCurl
import LuaHost

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the versions of Callhook and of the Lua and libcurl it runs with.")

    func run() {
        Output.out("callhook \(Callhook.version)")
        Output.out(LuaVM.release)
        Output.out("libcurl \(String(cString: callhook_curl_version()))")
    }
}
