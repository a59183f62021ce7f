// A scratch directory for a test's files (checkpoints, logs, fixtures), removed when the value goes.
import Foundation

public final class Scratch {
    public let path: String

    public init() {
        path = NSTemporaryDirectory() + "mlp-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }

    /// `name` inside, made (with its parents) if missing.
    public func directory(_ name: String) -> String {
        try! FileManager.default.createDirectory(atPath: file(name), withIntermediateDirectories: true)
        return file(name)
    }
}
