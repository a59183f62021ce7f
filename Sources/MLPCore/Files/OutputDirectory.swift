// The directories a run writes into, made, locked and written in one place. A directory is opened
// once and every file in it is made relative to that descriptor: a path swapped later, a symbolic
// link planted in it or a name that grew too long cannot send a write elsewhere. Files are
// replaced atomically (a temporary file of this program's own, fsync, rename, fsync of the
// directory), so a reader sees the old file or the new one, whole.
import Foundation

public final class OutputDirectory: @unchecked Sendable {
    public let path: String
    /// The option that named it, for messages ("--checkpoint-dir", "--out").
    public let flag: String
    let descriptor: Int32
    private var lockDescriptor: Int32 = -1

    /// This program's temporary files start so, and only such files are ever cleaned up.
    static let temporaryPrefix = ".mlp-tmp."
    public static let lockFile = ".mlp.lock"

    /// Makes `path` and its missing parents (as `mkdir -p`), opens it and checks that it takes new files.
    public init(_ path: String, flag: String) throws {
        guard !path.isEmpty else { throw FileError.cannotOpenDirectory("''", flag: flag, reason: "an empty path") }
        try Self.makeDirectories(path, flag: flag)
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw errno == ENOTDIR ? FileError.notADirectory(path, flag: flag)
                                   : FileError.cannotOpenDirectory(path, flag: flag, reason: String(cString: strerror(errno)))
        }
        self.path = path
        self.flag = flag
        descriptor = fd
        try probe()
    }

    private init(path: String, flag: String, descriptor: Int32) {
        (self.path, self.flag, self.descriptor) = (path, flag, descriptor)
    }

    deinit {
        if lockDescriptor >= 0 { close(lockDescriptor) }   // closing releases the lock
        close(descriptor)
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// The directory `name` inside this one, made when missing; a symbolic link there is refused.
    public func subdirectory(_ name: String) throws -> OutputDirectory {
        if mkdirat(descriptor, name, 0o755) != 0 && errno != EEXIST {
            throw FileError.cannotCreateDirectory(file(name), flag: flag, reason: String(cString: strerror(errno)))
        }
        let fd = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ELOOP: throw FileError.symbolicLink(file(name), flag: flag)
            case ENOTDIR: throw isSymbolicLink(name) ? FileError.symbolicLink(file(name), flag: flag) : FileError.notADirectory(file(name), flag: flag)
            default: throw FileError.cannotOpenDirectory(file(name), flag: flag, reason: String(cString: strerror(errno)))
            }
        }
        let directory = OutputDirectory(path: file(name), flag: flag, descriptor: fd)
        try directory.probe()
        return directory
    }

    /// Takes the directory's lock for as long as this object lives: one writer per directory. The
    /// lock file holds the holder's pid, for the refusal's message. `by` names the kind of holder.
    public func lock(by holder: String) throws {
        let fd = openat(descriptor, Self.lockFile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if errno == ELOOP { throw FileError.symbolicLink(file(Self.lockFile), flag: flag) }
            throw FileError.notWritable(path, flag: flag, reason: String(cString: strerror(errno)))
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw FileError.notWritable(path, flag: flag, reason: "\(Self.lockFile) is not a regular file")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let pid = String(decoding: read(Self.lockFile, limit: 32) ?? [], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw FileError.inUse(path, flag: flag, by: holder, holder: Int(pid).map { "process \($0)" } ?? "another process")
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        lockDescriptor = fd
        removeDeadWritersFiles()
    }

    /// Replaces `name` with `bytes`: a crash at any moment leaves either the old file or the new one
    /// whole. Returns the file's path. `what` names the file in messages ("the checkpoint").
    @discardableResult
    public func write(_ bytes: [UInt8], to name: String, what: String = "the file") throws -> String {
        let temporary = Self.temporaryPrefix + "\(getpid()).\(String(UInt64.random(in: .min ... .max), radix: 16)).\(name)"
        func fail(_ fd: Int32? = nil) -> FileError {
            let code = errno   // before close and unlink change it
            if let fd { close(fd) }
            unlinkat(descriptor, temporary, 0)
            return .writeFailed(file(name), flag: flag, errno: code, what: what)
        }
        let fd = openat(descriptor, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail() }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { if n == 0 { errno = ENOSPC }; throw fail(fd) }
            written += n
        }
        guard fsync(fd) == 0 else { throw fail(fd) }
        guard close(fd) == 0 else { throw fail() }
        guard renameat(descriptor, temporary, descriptor, name) == 0 else { throw fail() }
        fsync(descriptor)   // makes the rename itself durable
        return file(name)
    }

    /// The names of the entries here that start with `prefix`, sorted.
    public func names(startingWith prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Whether `name` is a regular file here (a link is not).
    public func holdsFile(_ name: String) -> Bool {
        var info = stat()
        return fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    func isSymbolicLink(_ name: String) -> Bool {
        var info = stat()
        return fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// The bytes of the regular file `name` (at most `limit`), or nil.
    public func read(_ name: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = openat(descriptor, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) <= limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return n == bytes.count ? bytes : nil
    }

    /// Removes `name` (a link itself, never what it points to).
    public func remove(_ name: String) { unlinkat(descriptor, name, 0) }

    /// Opens `name` here for appending, made when missing, a symbolic link refused.
    func openForAppending(_ name: String) throws -> Int32 {
        let fd = openat(descriptor, name, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if errno == ELOOP { throw FileError.symbolicLink(file(name), flag: flag) }
            throw FileError.notWritable(path, flag: flag, reason: String(cString: strerror(errno)))
        }
        return fd
    }

    /// Checks now, before any training, that the directory takes a new file.
    private func probe() throws {
        let name = Self.temporaryPrefix + "\(getpid()).probe"
        let fd = openat(descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError.notWritable(path, flag: flag, reason: String(cString: strerror(errno))) }
        close(fd)
        unlinkat(descriptor, name, 0)
    }

    /// This program's temporary files whose writer is gone (killed between open and rename).
    private func removeDeadWritersFiles() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where name.hasPrefix(Self.temporaryPrefix) {
            guard let pid = pid_t(name.dropFirst(Self.temporaryPrefix.count).prefix { $0 != "." }) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlinkat(descriptor, name, 0) }
        }
    }

    /// `mkdir -p`: each missing component is made in turn; a file in the way, or a place where
    /// nothing can be made, is an error naming the flag and the cause.
    public static func makeDirectories(_ directory: String, flag: String) throws {
        var path = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            path += (path.isEmpty || path.hasSuffix("/") ? "" : "/") + component
            var info = stat()
            if stat(path, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else { throw FileError.notADirectory(path, flag: flag) }
                continue
            }
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
                throw FileError.cannotCreateDirectory(directory, flag: flag, reason: "\(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}
