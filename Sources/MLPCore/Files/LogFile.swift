// A log or CSV file that rank 0 appends lines to. Every write is checked like a checkpoint write:
// a failed or short write (a full disk, /dev/full) is an error naming the file, never a crash and
// never silence.
import Foundation

/// An append-only text file; problems are errors naming the flag and the file.
public final class LogFile {
    private let descriptor: Int32
    public let path: String
    private let flag: String
    /// Whether the file held nothing when it was opened (a CSV then needs its header).
    public let wasEmpty: Bool

    /// What to do with a file that already holds lines.
    public enum Existing {
        case append            // add to it (a resumed run's log, a benchmark's CSV)
        case refuse            // a fresh run must not bury an earlier run's log
    }

    /// Opens the file the user named for appending, creating it and its directory (`mkdir -p`)
    /// when missing.
    public convenience init(path: String, flag: String, existing: Existing = .refuse) throws {
        guard !path.isEmpty else { throw ConfigurationError("\(flag) '': an empty path. Name the file to write.") }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try OutputDirectory.makeDirectories(directory, flag: flag) }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ConfigurationError("\(flag) \(path): cannot open the file (\(String(cString: strerror(errno)))). Choose a file you can write to.")
        }
        try self.init(descriptor: fd, path: path, flag: flag, existing: existing)
    }

    /// Opens `name` in a directory this program writes (a sweep's configuration folder): made there
    /// when missing, never through a symbolic link.
    public convenience init(in directory: OutputDirectory, name: String, existing: Existing = .refuse) throws {
        try self.init(descriptor: try directory.openForAppending(name), path: directory.file(name), flag: directory.flag, existing: existing)
    }

    private init(descriptor fd: Int32, path: String, flag: String, existing: Existing) throws {
        var info = stat()
        fstat(fd, &info)
        if info.st_mode & S_IFMT == S_IFREG && info.st_size > 0 && existing == .refuse {
            close(fd)
            throw ConfigurationError("\(flag) \(path): holds an earlier run's log. Continue that run with --resume auto or --resume FILE (the log goes on), write to another file, or remove this one.")
        }
        descriptor = fd
        wasEmpty = info.st_size == 0
        self.path = path
        self.flag = flag
    }

    /// Appends `text`; throws if the file did not take all of it.
    public func write(_ text: String) throws { try write(bytes: Array(text.utf8)) }

    /// Appends `bytes` (a binary log: TensorBoard's records); throws if the file did not take all of them.
    public func write(bytes: [UInt8]) throws {
        var bytes = bytes
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = n == 0 ? "no bytes written" : String(cString: strerror(errno))
                throw OutputError("\(flag) \(path): writing the log failed (\(reason)). Free some space or choose another file; the checkpoints are intact.")
            }
            written += n
        }
    }

    public func writeLine(_ value: JSONValue) throws { try write(value.encoded + "\n") }

    deinit { close(descriptor) }
}
