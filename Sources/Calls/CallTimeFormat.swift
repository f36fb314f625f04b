import Foundation

/// Writes call times as ISO 8601 with the PBX's UTC offset (`2026-11-24T10:15:02+03:00`), the form Bitrix24's
/// `CALL_START_DATE` and the hook inputs use.
public struct CallTimeFormat: Sendable {
    public let timeZone: TimeZone

    /// - Parameter identifier: an IANA zone (`Europe/Moscow`); `nil` for the system's.
    public init(timeZone identifier: String?) {
        self.timeZone = identifier.flatMap(TimeZone.init(identifier:)) ?? TimeZone.current
    }

    public static let utc = CallTimeFormat(timeZone: "UTC")

    public func string(_ time: Double) -> String {
        let offset = self.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: time))
        let local = Int64(time.rounded(.down)) + Int64(offset)
        var days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondsOfDay = local - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let sign = offset < 0 ? "-" : "+"
        let absOffset = abs(offset)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(secondsOfDay / 3600)):\(two(secondsOfDay / 60 % 60)):"
            + "\(two(secondsOfDay % 60))\(sign)\(two(Int64(absOffset / 3600))):\(two(Int64(absOffset / 60 % 60)))"
    }
}
