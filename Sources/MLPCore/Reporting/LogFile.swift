// A log or CSV file that rank 0 appends lines to.
import Foundation

/// An append-only text file that reports problems as configuration errors naming the flag.
public final class LogFile {
    private let handle: FileHandle
    public let path: String

    /// Creates (or with `append`, opens or creates) the file.
    public init(path: String, flag: String, append: Bool = false) throws {
        let exists = append && FileManager.default.fileExists(atPath: path)
        guard exists || FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw ConfigurationError("\(flag) \(path): cannot create the file (missing directory or no permission).")
        }
        if exists { handle.seekToEndOfFile() }
        self.handle = handle
        self.path = path
    }

    public func write(_ text: String) {
        handle.write(Data(text.utf8))
    }

    public func writeLine(_ value: JSONValue) { write(value.encoded + "\n") }

    deinit { try? handle.close() }
}
