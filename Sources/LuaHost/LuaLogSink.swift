import CLuaShim
import JSON
import Logging

/// Where `callhook.log.*`, `print` and Lua's own warnings go: swift-log, with the hook and call being run as
/// metadata. Owned by one `LuaVM`, used only while that VM runs.
public final class LuaLogSink {
    public var logger: Logger
    /// Metadata of the call being run (`hook.name`, `call.id`), set by the VM's owner before each call.
    public var metadata: Logger.Metadata = [:]

    public init(logger: Logger) {
        self.logger = logger
    }

    func log(level: Int32, message: String, fields: JSONValue?) {
        var metadata = self.metadata
        metadata["hook.source"] = "script"
        if case .object(let members)? = fields {
            for (key, value) in members {
                metadata[key] = .string(value.scalarText ?? value.serializedString())
            }
        }
        switch level {
        case Int32(CALLHOOK_LOG_DEBUG.rawValue):
            self.logger.debug("\(message)", metadata: metadata)
        case Int32(CALLHOOK_LOG_INFO.rawValue):
            self.logger.info("\(message)", metadata: metadata)
        case Int32(CALLHOOK_LOG_WARN.rawValue):
            self.logger.warning("\(message)", metadata: metadata)
        case Int32(CALLHOOK_LOG_ERROR.rawValue):
            self.logger.error("\(message)", metadata: metadata)
        default:
            metadata["lua.warning"] = .string(message)
            self.logger.warning("Lua warning", metadata: metadata)
        }
    }
}
