// What every error meant for a person provides: one line that names the thing, says what was
// expected and what was found, and what to do; the CLI prints it and exits with `exitCode`. Each
// area's errors live with it (DataError, CheckpointError, FileError, TrainingError, SweepError, ...);
// here are the protocol and the errors of the command line's settings.
import Foundation

/// An error meant for the person running the program.
public protocol UserFacingError: Error, CustomStringConvertible {
    /// 2 for a usage error (bad flag, missing input named on the command line), otherwise 1.
    var exitCode: Int32 { get }
    /// True when every rank raises this error at the same point (then only rank 0 reports it).
    var raisedByEveryRank: Bool { get }
}

extension UserFacingError {
    public var exitCode: Int32 { 1 }
    public var raisedByEveryRank: Bool { false }
}

/// A flag or combination of flags that cannot work. Reported before any heavy work starts.
public struct ConfigurationError: UserFacingError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: Int32 { 2 }
}

/// A write to one of rank 0's outputs (a log, a CSV) that failed mid-run.
public struct OutputError: UserFacingError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: Int32 { 1 }
}

/// "0x00000803": how messages show magic numbers and checksums.
func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
