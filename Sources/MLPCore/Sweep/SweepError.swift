// A sweep that cannot go on: its --out folder holds another sweep, or a group cannot see it.

public struct SweepError: UserFacingError, Equatable {
    public let message: String
    public let exitCode: Int32
    public init(_ message: String, exitCode: Int32 = 1) { (self.message, self.exitCode) = (message, exitCode) }
    public var description: String { message }
}
