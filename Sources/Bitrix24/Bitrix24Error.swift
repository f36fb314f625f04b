import JSON

/// Why a Bitrix24 request failed, and what to do about it. Descriptions never contain a webhook code or token.
public struct Bitrix24Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// What the caller should do.
    public enum Disposition: Sendable, Equatable {
        /// Try again after `after` (the limit, the portal or the network will recover).
        case retry(after: Duration?)
        /// Refresh the OAuth token, then try again at once.
        case refreshToken
        /// Trying again will not help: keep the operation for an admin.
        case permanent
    }

    /// The portal's error code (`QUERY_LIMIT_EXCEEDED`, `ERROR_CORE`, `expired_token`…), or a transport one
    /// (`network`, `http_<status>`). May be empty: some methods answer `{"error": "", "error_description": "Access denied."}`.
    public var code: String
    public var message: String
    /// The HTTP status, 0 when no answer came.
    public var status: Int
    /// `operating_reset_at` of an `OPERATION_TIME_LIMIT`, when the portal gave it.
    public var resetAt: Double?

    public init(code: String, message: String, status: Int, resetAt: Double? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.resetAt = resetAt
    }

    public var disposition: Disposition {
        switch self.code {
        case "QUERY_LIMIT_EXCEEDED": return .retry(after: .seconds(1))
        case "OPERATION_TIME_LIMIT":
            if let resetAt = self.resetAt {
                return .retry(after: .seconds(max(1, resetAt - Self.now())))
            }
            // A command of a batch says no time: the usual growing pause, each try a request of the limit's.
            return .retry(after: nil)
        case "expired_token": return .refreshToken
        case "network", "INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER", "OVERLOAD_LIMIT": return .retry(after: nil)
        case "insufficient_scope", "WRONG_AUTH_TYPE", "ERROR_CORE", "INVALID_ARGUMENT", "NO_AUTH_FOUND",
            "INVALID_CREDENTIALS", "ACCESS_DENIED", "invalid_grant", "invalid_client", "PAYMENT_REQUIRED",
            "ERROR_BATCH_LENGTH_EXCEEDED", "ERROR_BATCH_METHOD_NOT_ALLOWED", "ERROR_METHOD_NOT_FOUND", "":
            return .permanent
        default:
            return self.status >= 500 || self.status == 0 || self.status == 429 ? .retry(after: nil) : .permanent
        }
    }

    public var isRetryable: Bool {
        if case .permanent = self.disposition { return false }
        return true
    }

    /// Whether the whole portal failed (down, overloaded, over the request limit, the network), so that its first
    /// answer afterwards means it is back. `OPERATION_TIME_LIMIT` blocks one method only, until the time it gives.
    public var isPortalWide: Bool {
        guard case .retry = self.disposition else { return false }
        return self.code != "OPERATION_TIME_LIMIT"
    }

    public var description: String {
        let what = self.code.isEmpty ? "error" : self.code
        return self.status > 0 ? "\(what) (HTTP \(self.status)): \(self.message)" : "\(what): \(self.message)"
    }

    /// Reads an error body (`{"error": …, "error_description": …}`), if the body is one.
    public static func from(body: JSONValue, status: Int) -> Bitrix24Error? {
        guard let code = body["error"]?.scalarText ?? (body["error"]?.isNull == true ? "" : nil) else { return nil }
        let message = body["error_description"]?.scalarText ?? ""
        let resetAt = body["time"]?["operating_reset_at"]?.doubleValue
        return Bitrix24Error(code: code, message: message, status: status, resetAt: resetAt)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
