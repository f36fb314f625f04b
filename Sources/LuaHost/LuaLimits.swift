/// The limits every call into a Lua state runs under.
public struct LuaLimits: Sendable, Equatable {
    /// Wall-clock time one call (or one script load) may take.
    public var timeBudget: Duration
    /// Bytes one Lua state may hold, scripts and data together.
    public var memoryLimit: Int
    /// Instructions between two checks of the deadline. Smaller is more precise and slower.
    public var instructionStep: Int
    /// Largest JSON result a script may return, in bytes.
    public var maximumResultSize: Int

    public init(
        timeBudget: Duration = .milliseconds(50),
        memoryLimit: Int = 32 << 20,
        instructionStep: Int = 1000,
        maximumResultSize: Int = 8 << 20
    ) {
        self.timeBudget = timeBudget
        self.memoryLimit = memoryLimit
        self.instructionStep = instructionStep
        self.maximumResultSize = maximumResultSize
    }

    public static let `default` = LuaLimits()

    var timeBudgetSeconds: Double {
        let (seconds, attoseconds) = self.timeBudget.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
