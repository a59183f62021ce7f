// Problems with the files and directories a run writes: each names the path and the flag that named
// it, says what was found and what to do, with advice that fits the cause (a full disk is not a
// missing directory).
import Glibc

public enum FileError: UserFacingError, Equatable {
    case notADirectory(String, flag: String)
    case cannotCreateDirectory(String, flag: String, reason: String)
    case cannotOpenDirectory(String, flag: String, reason: String)
    case notWritable(String, flag: String, reason: String)
    case symbolicLink(String, flag: String)
    case inUse(String, flag: String, by: String, holder: String)
    case writeFailed(String, flag: String, errno: Int32, what: String)
    case holdsFinishedWork(String, names: [String], advice: String)

    public var description: String {
        switch self {
        case .notADirectory(let path, let flag):
            return "\(flag) \(path): exists and is not a directory. Remove it, or choose another path."
        case .cannotCreateDirectory(let path, let flag, let reason):
            return "\(flag) \(path): cannot create the directory (\(reason)). Choose a place you can write to."
        case .cannotOpenDirectory(let path, let flag, let reason):
            return "\(flag) \(path): cannot open the directory (\(reason)). Choose a directory you can write to."
        case .notWritable(let path, let flag, let reason):
            return "\(flag) \(path): not writable (\(reason)). Choose a directory you can write to."
        case .symbolicLink(let path, let flag):
            return "\(flag): \(path) is a symbolic link, and this program writes only files it made itself there. Remove the link, or choose another directory."
        case .inUse(let path, let flag, let by, let holder):
            return "\(flag) \(path): another \(by) (\(holder)) is using it. Wait for it to finish, or choose another directory."
        case .holdsFinishedWork(let path, let names, let advice):
            return "--checkpoint-dir \(path) holds \(names.joined(separator: " and ")) from an earlier run, which this run would write over. \(advice)."
        case .writeFailed(let path, let flag, let code, let what):
            return "\(path): writing \(what) failed (\(String(cString: strerror(code)))). \(Self.advice(code, flag: flag))"
        }
    }

    /// What to do about a failed write, by its cause.
    static func advice(_ code: Int32, flag: String) -> String {
        switch code {
        case ENOSPC, EDQUOT: return "Free some space or choose another \(flag); the previous file, if any, is intact."
        case EACCES, EPERM, EROFS: return "The directory stopped accepting files (permissions or a read-only file system); choose another \(flag)."
        case ENOENT, ESTALE: return "The directory was removed while the run went on; choose another \(flag) and resume from a copy of the last checkpoint."
        case ENAMETOOLONG: return "The path is too long for this file system; choose a shorter \(flag)."
        default: return "Check the directory and choose another \(flag) if it persists."
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .writeFailed: return 1
        default: return 2
        }
    }
}
