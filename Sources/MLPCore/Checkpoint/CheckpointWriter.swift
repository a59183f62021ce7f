// Rank 0's checkpoint files, written atomically: a temporary file in the same directory, fsync,
// rename over the old file, fsync of the directory. A reader never sees half a checkpoint.
import Foundation

/// Writes checkpoint files into one directory, each atomically.
public struct CheckpointWriter: Sendable {
    public let directory: String

    /// Makes `directory` (and its parents) when missing, as `mkdir -p` does, and checks now, before
    /// training, that it accepts new files.
    public init(directory: String) throws {
        try Self.makeDirectory(directory, flag: "--checkpoint-dir")
        self.directory = directory
        let probe = path(".write-test.\(getpid())")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CheckpointError.notWritable(directory, reason: String(cString: strerror(errno))) }
        close(fd)
        unlink(probe)
    }

    /// `mkdir -p`: each missing component is made in turn; a file in the way, or a place where
    /// nothing can be made, is an error naming the flag and the cause.
    public static func makeDirectory(_ directory: String, flag: String) throws {
        var path = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            path += (path.isEmpty || path.hasSuffix("/") ? "" : "/") + component
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw CheckpointError.notADirectory(path, flag: flag) }
                continue
            }
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
                throw CheckpointError.cannotCreateDirectory(directory, flag: flag, reason: "\(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    public func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Writes `bytes` to `name`: a crash at any moment leaves either the old file or the new one whole.
    @discardableResult
    public func write(_ bytes: [UInt8], to name: String) throws -> String {
        let final = path(name)
        let temporary = path(".\(name).tmp.\(getpid())")
        func fail(_ what: String) -> CheckpointError {
            let reason = "\(what): \(String(cString: strerror(errno)))"
            unlink(temporary)
            return .writeFailed(final, reason: reason)
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw fail("open") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { close(fd); throw fail("write") }
            written += n
        }
        guard fsync(fd) == 0 else { close(fd); throw fail("fsync") }
        guard close(fd) == 0 else { throw fail("close") }
        guard rename(temporary, final) == 0 else { throw fail("rename") }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY)
        if directoryFD >= 0 {
            fsync(directoryFD)  // makes the rename itself durable
            close(directoryFD)
        }
        return final
    }
}
