// Typed errors, one per area. Each describes itself in one line that names the thing, says what
// was expected and what was found, and what to do; the CLI prints it and exits with `exitCode`.
import Foundation

/// An error meant for the person running the program.
public protocol UserFacingError: Error, CustomStringConvertible {
    /// 2 for a usage error (bad flag, missing input named on the command line), otherwise 1.
    var exitCode: Int32 { get }
    /// True when every rank raises this error at the same point (then only rank 0 reports it).
    var raisedByEveryRank: Bool { get }
}

extension UserFacingError {
    public var exitCode: Int32 { 1 }
    public var raisedByEveryRank: Bool { false }
}

/// A flag or combination of flags that cannot work. Reported before any heavy work starts.
public struct ConfigurationError: UserFacingError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: Int32 { 2 }
}

/// A write to one of rank 0's outputs (a log, a CSV) that failed mid-run.
public struct OutputError: UserFacingError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: Int32 { 1 }
}

/// Problems with the MNIST / IDX files.
public enum DataError: UserFacingError, Equatable {
    case missingDirectory(String)
    case notADirectory(String)
    case missingFile(String)
    case unreadable(String, reason: String)
    case empty(String)
    case notGzip(String, firstBytes: String)
    case corruptGzip(String, reason: String)
    case badMagic(String, found: UInt32, expected: UInt32)
    case badDimensions(String, found: [Int], expected: String)
    case truncated(String, expectedBytes: Int, foundBytes: Int)
    case trailingBytes(String, expectedBytes: Int)
    case notAFile(String, what: String)
    case tooLarge(String, dimensions: [Int], memory: Int)
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    case badLabel(String, index: Int, value: UInt8)
    case tooFewImages(String, count: Int, needed: Int, reason: String)

    public var description: String {
        switch self {
        case .missingDirectory(let path):
            return "\(path): no such data directory. Pass --data DIR with the four MNIST IDX files (the repository ships them in data/mnist)."
        case .notADirectory(let path):
            return "\(path): is a file, not a data directory. Pass --data DIR, the directory that holds the four MNIST IDX files (the repository ships them in data/mnist)."
        case .missingFile(let path):
            return "\(path): file not found. The data directory needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz)."
        case .unreadable(let path, let reason):
            return "\(path): cannot read (\(reason)). Check the file's permissions."
        case .empty(let path):
            return "\(path): the file is empty. Copy the MNIST file again (data/mnist has SHA256SUMS to check it)."
        case .notGzip(let path, let bytes):
            return "\(path): not gzip data (starts with \(bytes)) although the name ends in .gz. Decompress it or rename it without .gz if it is a raw IDX file."
        case .corruptGzip(let path, let reason):
            return "\(path): corrupt gzip data (\(reason)). Copy the file again and check it against SHA256SUMS."
        case .badMagic(let path, let found, let expected):
            let hint: String
            switch (found, expected) {
            case (0x0801, 0x0803): hint = " Is this the labels file?"
            case (0x0803, 0x0801): hint = " Is this the images file?"
            default: hint = " Is this an IDX file?"
            }
            return "\(path): magic \(hex(found)), expected \(hex(expected)) (\(expected == 0x0803 ? "an image file" : "a label file")).\(hint)"
        case .badDimensions(let path, let found, let expected):
            return "\(path): dimensions \(found.map(String.init).joined(separator: "×")), expected \(expected)."
        case .truncated(let path, let expected, let found):
            return "\(path): truncated: the header promises \(expected) bytes, the file holds \(found). Copy the file again."
        case .trailingBytes(let path, let expected):
            return "\(path): longer than its header promises (\(expected) bytes). The file is damaged or not an IDX file."
        case .notAFile(let path, let what):
            return "\(path): is \(what), not a file. Pass the MNIST file itself (data/mnist has all four)."
        case .tooLarge(let path, let dimensions, let memory):
            let size = dimensions.map(String.init).joined(separator: "×")
            return "\(path): its header promises \(size) bytes, more than this machine's \(memory >> 30) GiB of memory can hold with their Float32 copy. The file is damaged or not MNIST."
        case .countMismatch(let images, let imageCount, let labels, let labelCount):
            return "\(images) holds \(imageCount) images but \(labels) holds \(labelCount) labels; they must agree. Are the files from the same set?"
        case .badLabel(let path, let index, let value):
            return "\(path): label \(value) at index \(index) is not a digit 0-9."
        case .tooFewImages(let path, let count, let needed, let reason):
            return "\(path): \(count) images, need at least \(needed) (\(reason))."
        }
    }

    /// A data directory or file that is not there is a usage error; a damaged file is not.
    public var exitCode: Int32 {
        switch self {
        case .missingDirectory, .notADirectory, .missingFile, .notAFile: return 2
        default: return 1
        }
    }
}

/// A failed MPI call, with the function name and MPI's own text for the error code.
public struct CommunicationError: UserFacingError, Equatable {
    public let function: String
    public let code: Int32
    public let text: String
    public var description: String { "\(function) failed with MPI error \(code): \(text)" }
}

/// Something went wrong while training that the user can fix by changing the run.
public enum TrainingError: UserFacingError, Equatable {
    case nonFinite(iteration: Int, what: String, learningRate: Double, scaled: Bool)
    case replicasDiverged(iteration: Int, ranks: [Int])
    case failedOnOtherRank(rank: Int, exitCode: Int32)
    case failedOnEveryRank(exitCode: Int32)

    public var description: String {
        switch self {
        case .nonFinite(let iteration, let what, let lr, let scaled):
            return "the \(what) became NaN or infinite at iteration \(iteration); training diverged. "
                + (scaled ? "The scaled learning rate was \(lr) then: try a smaller --lr, a smaller --batch-size or a longer --warmup-epochs."
                          : "Try a smaller learning rate than --lr \(lr).")
        case .replicasDiverged(let iteration, let ranks):
            return "replicas diverged at iteration \(iteration): the parameters of rank(s) \(ranks.map(String.init).joined(separator: ", ")) differ from rank 0's. This is a bug; please report it with the command line."
        case .failedOnOtherRank(let rank, _):
            return "stopping: rank \(rank) failed (see its message)."
        case .failedOnEveryRank:
            return "every rank failed (see rank 0's message)."
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .failedOnOtherRank(_, let code), .failedOnEveryRank(let code): return code
        default: return 1
        }
    }

    public var raisedByEveryRank: Bool {
        switch self {
        case .nonFinite, .replicasDiverged, .failedOnEveryRank: return true
        case .failedOnOtherRank: return false
        }
    }
}

func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

/// Problems with a checkpoint file or directory. Each names the file and what is wrong with it.
public enum CheckpointError: UserFacingError, Equatable {
    case missingFile(String)
    case unreadable(String, reason: String)
    case truncated(String, size: Int)
    case badHeaderLength(String, length: UInt64, fileSize: Int)
    case headerNotJSON(String, reason: String)
    case badTensor(String, name: String, reason: String)
    case wrongDType(String, name: String, dtype: String)
    case offsetsOutOfBounds(String, name: String, begin: Int, end: Int, dataSize: Int)
    case overlappingTensors(String, first: String, second: String)
    case dataSizeMismatch(String, tensorsEnd: Int, dataSize: Int)
    case missingTensor(String, name: String)
    case unexpectedTensor(String, name: String)
    case shapeMismatch(String, name: String, found: [Int], expected: [Int])
    case missingMetadata(String, key: String)
    case badMetadata(String, key: String, value: String)
    case newerVersion(String, found: Int, supported: Int)
    case checksumMismatch(String, stored: String, computed: String)
    case metadataChecksumMismatch(String, stored: String, computed: String)
    case outOfRange(String, key: String, value: String, rule: String)
    case nonFinite(String)
    case conflict(flag: String, given: String, stored: String, path: String)
    case doesNotFitData(String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): checkpoint not found. Pass the path of a .safetensors file written by --checkpoint-dir."
        case .unreadable(let path, let reason):
            return "\(path): cannot read the checkpoint (\(reason))."
        case .truncated(let path, let size):
            return "\(path): truncated checkpoint (\(size) bytes; a safetensors file starts with an 8-byte header length). Use an intact copy such as best.safetensors."
        case .badHeaderLength(let path, let length, let size):
            return "\(path): header length \(length) does not fit a file of \(size) bytes. The file is truncated or not safetensors."
        case .headerNotJSON(let path, let reason):
            return "\(path): the safetensors header is not valid JSON (\(reason)). The file is damaged or not safetensors."
        case .badTensor(let path, let name, let reason):
            return "\(path): tensor \(name): \(reason)."
        case .wrongDType(let path, let name, let dtype):
            return "\(path): tensor \(name) has dtype \(dtype); this program reads F32 only."
        case .offsetsOutOfBounds(let path, let name, let begin, let end, let size):
            return "\(path): tensor \(name) claims data bytes \(begin)..<\(end), outside the \(size)-byte data section. The file is truncated or damaged."
        case .overlappingTensors(let path, let first, let second):
            return "\(path): tensors \(first) and \(second) overlap in the data section. The file is damaged."
        case .dataSizeMismatch(let path, let end, let size):
            return "\(path): the tensors end at data byte \(end) but the data section holds \(size) bytes. The file is truncated or damaged."
        case .missingTensor(let path, let name):
            return "\(path): no tensor \(name), which the checkpoint's architecture needs."
        case .unexpectedTensor(let path, let name):
            return "\(path): unexpected tensor \(name) for the checkpoint's architecture."
        case .shapeMismatch(let path, let name, let found, let expected):
            return "\(path): tensor \(name) has shape \(found), the architecture needs \(expected)."
        case .missingMetadata(let path, let key):
            return "\(path): metadata key \(key) is missing. Was this file written by `mlp train --checkpoint-dir`?"
        case .badMetadata(let path, let key, let value):
            return "\(path): metadata \(key) = \"\(value)\" is not valid."
        case .newerVersion(let path, let found, let supported):
            return "\(path): checkpoint format version \(found) is newer than this program's \(supported). Use a newer mlp."
        case .checksumMismatch(let path, let stored, let computed):
            return "\(path): data checksum \(computed) does not match the stored \(stored). The file is damaged; use best.safetensors or an earlier copy."
        case .nonFinite(let path):
            return "\(path): the checkpoint holds NaN or infinite parameters."
        case .metadataChecksumMismatch(let path, let stored, let computed):
            return "\(path): metadata checksum \(computed) does not match the stored \(stored): the header was changed or damaged. Use best.safetensors or an earlier copy."
        case .outOfRange(let path, let key, let value, let rule):
            return "\(path): metadata \(key) = \"\(value)\" must be \(rule). The file is damaged or was edited; use an intact copy."
        case .conflict(let flag, let given, let stored, let path):
            return "\(flag) \(given) conflicts with the checkpoint's \(stored) (\(path)). Drop the flag or pass the checkpoint's value."
        case .doesNotFitData(let path, let reason):
            return "\(path): the checkpoint's model does not fit the data: \(reason). Use the data it was trained on, or another checkpoint."
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .missingFile, .conflict, .doesNotFitData: return 2
        default: return 1
        }
    }
}
