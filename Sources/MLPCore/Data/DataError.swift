// What can be wrong with the MNIST files a run reads: each case names the file and what to do.

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
