// Rank 0's checkpoint files, written atomically: a temporary file in the same directory, fsync,
// rename over the old file, fsync of the directory. A reader never sees half a checkpoint. One
// trainer at a time owns a directory (an advisory lock, held until the process ends).
import Foundation

/// Writes checkpoint files into one directory, each atomically.
public struct CheckpointWriter: Sendable {
    public let directory: String
    private let lock: DirectoryLock

    public static let lockFile = ".mlp.lock"

    /// Makes `directory` (and its parents) when missing, as `mkdir -p` does, checks now, before
    /// training, that it accepts new files, takes the directory's lock (a second trainer is refused,
    /// naming the first), and removes the temporary files of writers that died mid-write.
    /// `flag`: the option that named the directory, for messages.
    public init(directory: String, flag: String = "--checkpoint-dir") throws {
        try Self.makeDirectory(directory, flag: flag)
        self.directory = directory
        let probe = (directory as NSString).appendingPathComponent(".write-test.\(getpid())")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CheckpointError.notWritable(directory, reason: String(cString: strerror(errno)), flag: flag) }
        close(fd)
        unlink(probe)
        lock = try DirectoryLock(directory, file: Self.lockFile, flag: flag)
        removeDeadWritersFiles()
    }

    /// `.NAME.tmp.PID` files whose process is gone: a writer killed between open and rename.
    private func removeDeadWritersFiles() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let parts = name.split(separator: ".")
            guard name.hasPrefix("."), parts.count >= 3, parts[parts.count - 2] == "tmp",
                  let pid = pid_t(parts[parts.count - 1]) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(path(name)) }
        }
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
        func fail(_ what: String, closing fd: Int32? = nil) -> CheckpointError {
            let reason = "\(what): \(String(cString: strerror(errno)))"   // before close and unlink change errno
            if let fd { close(fd) }
            unlink(temporary)
            return .writeFailed(final, reason: reason)
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw fail("open") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw fail("write", closing: fd) }
            written += n
        }
        guard fsync(fd) == 0 else { throw fail("fsync", closing: fd) }
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

/// An advisory lock (flock) on a file in a directory, held as long as this object lives: the one
/// trainer per checkpoint directory. The file holds the holder's pid, for the refusal message.
final class DirectoryLock: Sendable {
    private let descriptor: Int32

    init(_ directory: String, file: String, flag: String) throws {
        let path = (directory as NSString).appendingPathComponent(file)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError.notWritable(directory, reason: String(cString: strerror(errno)), flag: flag) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw CheckpointError.inUse(directory, holder: holder.isEmpty ? "another process" : "process \(holder)", flag: flag)
        }
        ftruncate(descriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { Glibc.write(descriptor, $0, strlen($0)) }
    }

    deinit { close(descriptor) }   // closing releases the lock
}
