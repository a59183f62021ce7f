// Opening a file that the user named as input (data, a checkpoint): regular files only. The file is
// opened without blocking and checked with fstat, so a FIFO, a device or a directory is refused at
// once with what it is, instead of hanging in open() or read().
import Glibc

public enum InputFile {
    /// Why a path cannot be read as a file.
    public enum Problem: Error, Equatable {
        case missing
        case notAFile(String)           // "a directory", "a named pipe (FIFO)", ...
        case unreadable(String)         // strerror's words
    }

    /// An open descriptor on a regular file, and its size in bytes.
    public static func open(_ path: String) -> Result<(descriptor: Int32, size: Int), Problem> {
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return .failure(.missing)
            case ELOOP: return .failure(.notAFile("a loop of symbolic links"))
            default: return .failure(.unreadable(String(cString: strerror(errno))))
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            return .failure(.unreadable(reason))
        }
        let kind: String? = switch info.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFIFO: "a named pipe (FIFO)"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "not a regular file"
        }
        if let kind {
            close(fd)
            return .failure(.notAFile(kind))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return .success((fd, Int(info.st_size)))
    }

    /// Reads from `descriptor` onto the end of `bytes` until it holds `end` bytes. Returns why it
    /// could not (the file shrank, or strerror's words), or nil.
    public static func read(_ descriptor: Int32, into bytes: inout [UInt8], upTo end: Int) -> String? {
        var filled = bytes.count
        bytes += [UInt8](repeating: 0, count: max(0, end - filled))
        while filled < end {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, end - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? "it shrank while being read" : String(cString: strerror(errno)) }
            filled += n
        }
        return nil
    }

    /// Bytes of physical memory on this machine (0 if unknown).
    public static var physicalMemory: Int {
        max(0, sysconf(Int32(_SC_PHYS_PAGES))) * max(0, sysconf(Int32(_SC_PAGESIZE)))
    }
}
