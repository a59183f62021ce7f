// The one way a test waits for something another process does: poll until it holds, with a bound.
// When the bound passes, the test fails with a line naming what it waited for; a fixed sleep is
// never synchronisation.
import Foundation
import Testing

/// Polls `condition` every `every` seconds until it holds (true) or `timeout` seconds pass (false,
/// and an issue recorded naming `what`).
@discardableResult
public func waitFor(_ what: String, timeout: Double, every: Double = 0.02,
                    sourceLocation: SourceLocation = #_sourceLocation, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline {
            Issue.record("waited \(timeout) s for \(what), in vain", sourceLocation: sourceLocation)
            return false
        }
        usleep(UInt32(every * 1e6))
    }
}
