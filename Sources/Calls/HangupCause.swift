/// The outcome of an unanswered call as a SIP status code, the way Bitrix24's `telephony.externalcall.finish`
/// reads it (`STATUS_CODE`): 304 missed, 603 declined, 486 busy, 404 wrong number, 484/503 direction unavailable,
/// 480 temporarily unavailable.
public enum HangupCause {
    /// What a destination leg said when it failed: a Q.850 cause from its Hangup, or a DialStatus from DialEnd.
    public enum Signal: Sendable, Equatable {
        case cause(Int)
        case dialStatus(String)
    }

    /// The most specific status the signals support, most decisive first; 304 (missed) when none says more.
    ///
    /// | signal | status |
    /// | --- | --- |
    /// | cause 21, `CALL_REJECTED` | 603 declined |
    /// | cause 17, `BUSY` | 486 busy |
    /// | cause 1, 3 (unallocated, no route) | 404 |
    /// | cause 28 (invalid number format) | 484 |
    /// | cause 34, 38, 41, 42, `CONGESTION` | 503 |
    /// | cause 18, 19, 20, `CHANUNAVAIL` | 480 |
    /// | anything else (16 normal clearing, `NOANSWER`, `CANCEL`) | 304 missed |
    public static func statusCode(unanswered signals: [Signal]) -> String {
        let ranked: [(String, (Signal) -> Bool)] = [
            ("603", { $0 == .cause(21) }),
            ("486", { $0 == .cause(17) || $0 == .dialStatus("BUSY") }),
            ("404", { $0 == .cause(1) || $0 == .cause(3) }),
            ("484", { $0 == .cause(28) }),
            ("503", { [.cause(34), .cause(38), .cause(41), .cause(42), .dialStatus("CONGESTION")].contains($0) }),
            ("480", { [.cause(18), .cause(19), .cause(20), .dialStatus("CHANUNAVAIL")].contains($0) }),
        ]
        for (status, matches) in ranked where signals.contains(where: matches) { return status }
        return "304"
    }
}
