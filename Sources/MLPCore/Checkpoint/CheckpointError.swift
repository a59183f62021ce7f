// What can be wrong with a checkpoint file: each case names the file and what to do.

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
