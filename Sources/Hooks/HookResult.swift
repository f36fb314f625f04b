import JSON
import LuaHost

/// The outcome of running one hook point: the output the pipeline uses and where it came from.
public struct HookResult: Sendable {
    public enum Source: Sendable, Equatable {
        /// The script at this path produced the output.
        case script(path: String)
        /// No script: Callhook's built-in default produced it.
        case builtin
        /// The script failed; the built-in default produced the output.
        case builtinAfterFailure(HookFailure)
    }

    public var hook: HookPoint
    public var output: HookOutput
    public var source: Source

    public init(hook: HookPoint, output: HookOutput, source: Source) {
        self.hook = hook
        self.output = output
        self.source = source
    }

    public var failure: HookFailure? {
        if case .builtinAfterFailure(let failure) = self.source { return failure }
        return nil
    }

    /// What the pipeline should do, as a typed value.
    public var decision: HookDecision { HookDecision(self.output, for: self.hook) }
}
