import JSON

/// How the built-in `process_phone_number` normalises numbers: the numbering plan of one country.
///
/// Defaults are Russia's: country code 7, trunk prefix 8, ten-digit national numbers, so `89161234567`,
/// `+7 (916) 123-45-67`, `9161234567` and `810 7 916 123 45 67` all become `+79161234567`. Numbers shorter than
/// `minimumLength` digits are internal extensions and are left as they are.
public struct PhoneNumberRules: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        /// `+79161234567`
        case e164
        /// `79161234567`
        case international
        /// `89161234567` (the trunk prefix and the national number)
        case national
        /// `9161234567`
        case nationalNumber = "national_number"
    }

    public var countryCode: String
    public var trunkPrefix: String
    public var nationalLength: Int
    public var internationalPrefixes: [String]
    public var format: Format
    public var minimumLength: Int

    public init(
        countryCode: String = "7", trunkPrefix: String = "8", nationalLength: Int = 10,
        internationalPrefixes: [String] = ["810", "00"], format: Format = .e164, minimumLength: Int = 7
    ) {
        self.countryCode = countryCode
        self.trunkPrefix = trunkPrefix
        self.nationalLength = nationalLength
        self.internationalPrefixes = internationalPrefixes
        self.format = format
        self.minimumLength = minimumLength
    }

    /// The number in the configured format; numbers it cannot place in the plan come back as digits only (with
    /// their `+` if they had one), extensions and empty text unchanged.
    public func normalise(_ raw: String) -> String {
        let hadPlus = raw.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("+")
        let digits = String(raw.filter { $0.isASCII && $0.isNumber })
        guard digits.count >= self.minimumLength else { return raw }
        guard let national = self.nationalNumber(digits: digits, hadPlus: hadPlus) else {
            if hadPlus { return "+" + digits }
            if let international = self.stripInternationalPrefix(digits) { return "+" + international }
            return digits
        }
        switch self.format {
        case .e164: return "+" + self.countryCode + national
        case .international: return self.countryCode + national
        case .national: return self.trunkPrefix + national
        case .nationalNumber: return national
        }
    }

    private func stripInternationalPrefix(_ digits: String) -> String? {
        for prefix in self.internationalPrefixes where !prefix.isEmpty && digits.hasPrefix(prefix) {
            return String(digits.dropFirst(prefix.count))
        }
        return nil
    }

    /// The national significant number when `digits` is a number of this country.
    private func nationalNumber(digits: String, hadPlus: Bool) -> String? {
        let cc = self.countryCode
        if hadPlus {
            return digits.hasPrefix(cc) && digits.count == cc.count + self.nationalLength
                ? String(digits.dropFirst(cc.count)) : nil
        }
        if let international = self.stripInternationalPrefix(digits) {
            return international.hasPrefix(cc) && international.count == cc.count + self.nationalLength
                ? String(international.dropFirst(cc.count)) : nil
        }
        if !self.trunkPrefix.isEmpty, digits.hasPrefix(self.trunkPrefix),
            digits.count == self.trunkPrefix.count + self.nationalLength
        {
            return String(digits.dropFirst(self.trunkPrefix.count))
        }
        if digits.hasPrefix(cc), digits.count == cc.count + self.nationalLength {
            return String(digits.dropFirst(cc.count))
        }
        if digits.count == self.nationalLength { return digits }
        return nil
    }
}
