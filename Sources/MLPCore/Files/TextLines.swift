// Reading a text file (a log, a benchmark CSV) a line at a time, in bounded memory: a file of any
// size streams through a buffer of one megabyte, and a line longer than that is refused.
import Glibc

public enum TextLines {
    /// The longest line a log or CSV of this program may hold.
    public static let longestLine = 1 << 20

    /// Calls `body(index, line)` for every non-empty line of `path`, its bytes without the newline.
    /// `what` and `hint` word the errors ("the log file", "Pass a file written by ...").
    public static func read(_ path: String, what: String, hint: String, _ body: (Int, [UInt8]) throws -> Void) throws {
        let fd: Int32
        switch InputFile.open(path) {
        case .success(let opened): fd = opened.descriptor
        case .failure(.missing): throw ConfigurationError("\(path): no such file. \(hint)")
        case .failure(.notAFile(let kind)): throw ConfigurationError("\(path): is \(kind), not \(what). \(hint)")
        case .failure(.unreadable(let reason)): throw ConfigurationError("\(path): cannot read \(what) (\(reason)). \(hint)")
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: longestLine)
        var line: [UInt8] = []
        var index = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ConfigurationError("\(path): cannot read \(what) (\(String(cString: strerror(errno)))).") }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where buffer[i] == UInt8(ascii: "\n") {
                line += buffer[start..<i]
                if !line.isEmpty { try body(index, line) }
                index += 1
                line.removeAll(keepingCapacity: true)
                start = i + 1
            }
            line += buffer[start..<n]
            guard line.count <= longestLine else {
                throw ConfigurationError("\(path):\(index + 1): a line longer than \(longestLine) bytes; this is not \(what). \(hint)")
            }
        }
        if !line.isEmpty { try body(index, line) }
    }
}
